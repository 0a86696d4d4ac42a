"""The devices page in Chromium: two browsers of one user and an app. The list is live
(presence, renames, revocations), revoking a browser signs it out at once, "Send to this
device" offers what this browser has open, the handoff mode is saved, and the last known
list stays readable offline."""

import re
import uuid

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .helpers import MOBILE, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def open_devices(context: BrowserContext) -> Page:
    page = context.new_page()
    page.goto("/devices/")
    wait_for_app(page)
    expect(page.locator("[data-devices-root]")).to_have_attribute("aria-busy", "false")
    return page


def this_device_id(page: Page) -> str:
    """The id of the browser's own device, as its session reads it from the API."""
    response = page.request.get("/api/v1/devices/")
    assert response.ok, response.text()
    (device,) = [d for d in response.json()["results"] if d["current"]]
    return device["id"]


def row(page: Page, device_id: str):
    return page.locator(f"li.device[data-device-id='{device_id}']")


def csrf_headers(context: BrowserContext) -> dict:
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    return {"X-CSRFToken": token, "Referer": context.pages[0].url if context.pages else ""}


def test_two_browsers_and_an_app_live_rename_and_revoke(
    user, signed_in_context, api_device, shot, shoot_all, check_a11y, browser_log
):
    phone = api_device(user, name="Pixel 9", kind="phone", platform="Android 15")
    context_b = signed_in_context(user, name="B")
    page_b = open_devices(context_b)
    b_id = this_device_id(page_b)
    context_a = signed_in_context(user, name="A")
    page_a = open_devices(context_a)
    a_id = this_device_id(page_a)

    # A sees itself first, marked, with no "send" to itself.
    mine = row(page_a, a_id)
    expect(page_a.locator("li.device").first).to_have_attribute("data-device-id", a_id)
    expect(mine.locator(".badge")).to_have_text("This browser")
    expect(mine.get_by_role("button", name="Send to this device")).to_have_count(0)
    expect(mine.get_by_role("button", name="Revoke and sign out")).to_be_visible()

    # B is online (the web app holds a socket), with the platform parsed from its
    # User-Agent by the server: headless Chromium's "HeadlessChrome/... (X11; Linux ...)"
    # reads "HeadlessChrome on Linux", a desktop one "Chrome on Linux".
    other = row(page_a, b_id)
    expect(other.locator("[data-device-state]")).to_have_attribute("data-device-state", "online")
    expect(other.locator("[data-device-platform]")).to_have_text(
        re.compile(r"^(Headless)?Chrome on Linux$")
    )
    expect(other.locator(".badge")).to_have_count(0)
    expect(other.get_by_role("button", name="Send to this device")).to_be_enabled()

    # The app: offline (no socket), its own platform, a phone.
    app_row = row(page_a, phone.id)
    expect(app_row.locator("[data-device-name]")).to_have_text("Pixel 9")
    expect(app_row.locator("[data-device-platform]")).to_have_text("Android 15")
    expect(app_row.locator("[data-device-state]")).to_have_attribute("data-device-state", "offline")
    expect(app_row).to_contain_text("Phone")

    check_a11y(page_a, "devices")
    shoot_all(page_a, "devices")

    # A device that appears, and one whose name changes, show up live.
    tablet = api_device(user, name="iPad", kind="tablet", platform="iPadOS 18")
    expect(row(page_a, tablet.id).locator("[data-device-name]")).to_have_text("iPad")
    assert phone.patch(f"/api/v1/devices/{phone.id}/", json={"name": "Pixel 9 Pro"}).is_success
    expect(app_row.locator("[data-device-name]")).to_have_text("Pixel 9 Pro")

    # Renaming B on A: inline, and B's own page follows without a reload.
    other.get_by_role("button", name="Rename").click()
    field = other.get_by_label("Device name")
    expect(field).to_be_focused()
    expect(field).to_have_value(re.compile("Chrome"))
    field.fill("")
    other.get_by_role("button", name="Save").click()
    expect(other.locator(".rename-error")).to_have_text("Give the device a name.")
    field.fill("Work laptop")
    shot(page_a, "rename-form")
    field.press("Enter")
    expect(other.locator("[data-device-name]")).to_have_text("Work laptop")
    expect(other.get_by_role("button", name="Rename")).to_be_focused()
    expect(row(page_b, b_id).locator("[data-device-name]")).to_have_text("Work laptop")
    expect(row(page_b, b_id).locator(".badge")).to_have_text("This browser")

    # Escape leaves the rename form without saving.
    other.get_by_role("button", name="Rename").click()
    other.get_by_label("Device name").fill("Not this")
    other.get_by_label("Device name").press("Escape")
    expect(other.locator("[data-device-name]")).to_have_text("Work laptop")

    # Revoking B from A goes through a real confirmation; cancelling keeps it.
    dialog = page_a.locator("[data-revoke-dialog]")
    other.get_by_role("button", name="Revoke").click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Revoke “Work laptop”?")
    expect(dialog).to_contain_text("stops syncing at once")
    expect(dialog).to_contain_text("sign in on it again")
    check_a11y(page_a, "revoke-dialog", color_schemes=["light"])
    shot(page_a, "revoke-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(other).to_have_count(1)
    expect(other.get_by_role("button", name="Revoke")).to_be_focused()

    other.get_by_role("button", name="Revoke").click()
    dialog.get_by_role("button", name="Revoke device").click()
    expect(other).to_have_count(0)
    expect(row(page_a, a_id)).to_have_count(1)

    # B is told at once: its socket closed with 4403, its sync stopped.
    expect(page_b.locator("[data-revoked-dialog]")).to_be_visible()
    expect(page_b.locator("[data-sync-status]")).to_have_attribute("data-state", "revoked")
    expect(page_b.locator("[data-revoked-dialog]")).to_contain_text("removed from your account")
    shot(page_b, "revoked")
    assert page_b.request.get("/api/v1/devices/").status in (401, 403)
    # The app saw it too.
    ids = [d["id"] for d in phone.get("/api/v1/devices/").json()["results"]]
    assert b_id not in ids and a_id in ids
    browser_log.assert_no_errors(allow=[r"status of 40[13]"])


def test_send_to_a_device_offers_what_this_browser_has_open(
    user, signed_in_context, api_device, shot, browser_log
):
    phone = api_device(user, name="Pixel 9", kind="phone")
    context = signed_in_context(user)
    page = open_devices(context)
    send = row(page, phone.id).get_by_role("button", name="Send to this device")
    toasts = page.locator("[data-toasts]")

    send.click()
    expect(toasts).to_contain_text("Open a note first, then send it")

    # Something open on this browser: an item the app pushed, published as this
    # browser's activity.
    item_id = str(uuid.uuid4())
    pushed = phone.post(
        "/api/v1/sync/push",
        json={
            "changes": [
                {
                    "change_id": str(uuid.uuid4()),
                    "item_id": item_id,
                    "op": "put",
                    "kind": "text",
                    "name": "Shopping list",
                    "content": "eggs",
                    "base_version": None,
                }
            ]
        },
    )
    assert pushed.is_success, pushed.text
    published = page.request.put(
        "/api/v1/handoff/activity",
        data={"item_id": item_id, "item_version": 1, "state": {}},
        headers=csrf_headers(context),
    )
    assert published.ok, published.text()
    page.reload()
    wait_for_app(page)
    activity = row(page, this_device_id(page)).locator("[data-device-activity]")
    expect(activity.get_by_role("link", name="Shopping list")).to_have_attribute(
        "href", f"/items/{item_id}/"
    )

    send.click()
    expect(toasts).to_contain_text("Sent “Shopping list” to Pixel 9")
    shot(page, "sent")
    offers = phone.get("/api/v1/handoff/offers/").json()["results"]
    assert [o["item"]["id"] for o in offers] == [item_id]

    # With handoff off, the page explains instead.
    page.get_by_role("radio", name=re.compile("^Off")).check()
    expect(page.locator("[data-handoff-saved]")).to_have_text("Saved")
    send.click()
    expect(toasts).to_contain_text("Handoff is turned off")
    browser_log.assert_no_errors(allow=[r"status of 409"])


def test_handoff_mode_is_saved(user, signed_in_context, browser_log):
    context = signed_in_context(user)
    page = open_devices(context)
    panel = page.get_by_role("region", name="Handoff")
    expect(panel.get_by_role("radio", name=re.compile("^Ask first"))).to_be_checked()

    panel.get_by_role("radio", name=re.compile("^Open at once")).check()
    expect(panel.locator("[data-handoff-saved]")).to_have_text("Saved")
    assert page.request.get("/api/v1/settings").json() == {"handoff_mode": "auto"}

    page.reload()
    wait_for_app(page)
    panel = page.get_by_role("region", name="Handoff")
    expect(panel.get_by_role("radio", name=re.compile("^Open at once"))).to_be_checked()
    expect(panel.get_by_role("radio", name=re.compile("^Ask first"))).not_to_be_checked()

    # Keyboard: arrows move through the group and each choice is saved.
    panel.get_by_role("radio", name=re.compile("^Open at once")).focus()
    page.keyboard.press("ArrowDown")
    expect(panel.get_by_role("radio", name=re.compile("^Off"))).to_be_checked()
    expect(panel.locator("[data-handoff-saved]")).to_have_text("Saved")
    assert page.request.get("/api/v1/settings").json() == {"handoff_mode": "off"}
    browser_log.assert_no_errors()


def test_offline_shows_the_last_known_list(user, signed_in_context, api_device, shot):
    phone = api_device(user, name="Pixel 9", kind="phone")
    context = signed_in_context(user)
    page = open_devices(context)
    expect(row(page, phone.id)).to_have_count(1)

    context.set_offline(True)
    note = page.locator("[data-devices-offline]")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Offline — showing the list from")
    expect(row(page, phone.id).locator("[data-device-name]")).to_have_text("Pixel 9")
    for button in row(page, phone.id).get_by_role("button").all():
        expect(button).to_be_disabled()
    expect(page.get_by_role("radio", name=re.compile("^Ask first"))).to_be_disabled()
    shot(page, "offline")

    context.set_offline(False)
    expect(note).to_be_hidden()
    expect(row(page, phone.id).get_by_role("button", name="Rename")).to_be_enabled()
    expect(page.get_by_role("radio", name=re.compile("^Ask first"))).to_be_enabled()


def test_revoking_this_browser_signs_it_out(user, signed_in_context, shot, check_a11y):
    context = signed_in_context(user, viewport=MOBILE, color_scheme="dark")
    page = open_devices(context)
    me = row(page, this_device_id(page))
    me.get_by_role("button", name="Revoke and sign out").click()
    dialog = page.locator("[data-revoke-dialog]")
    expect(dialog.get_by_role("heading")).to_have_text("Revoke this browser and sign out?")
    expect(dialog).to_contain_text("signs you out here at once")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    check_a11y(page, "revoke-self-dialog", color_schemes=["dark"])
    shot(page, "revoke-self-dialog-mobile-dark")
    dialog.get_by_role("button", name="Revoke and sign out").click()

    signed_out = page.locator("[data-revoked-dialog]")
    expect(signed_out).to_be_visible()
    expect(signed_out).to_contain_text("You revoked this browser")
    expect(page.locator("[data-sync-status]")).to_have_attribute("data-state", "revoked")
    shot(page, "revoked-self-mobile-dark")
    assert page.request.get("/api/v1/devices/").status in (401, 403)
