"""History and conflicts in Chromium: overlapping edits from two app devices wait in the
conflicts list (and the navigation's count) and are resolved on the review page, by a
merged text and by keeping both, with two browsers converging on the result; edits to
different parts merge on their own and the merge is undone from the list of automatic
decisions; the history page compares versions and restores an older one. Screenshots at
two sizes in both colour schemes, and axe-core on each page."""

from __future__ import annotations

import base64
import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from .helpers import open_app, push, put_text, wait_for_app
from .helpers import png as encode_png

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db(transaction=True)]

BASE = (
    "Weekend plans\n\nBuy milk, bread and eggs.\nWater the plants.\n\nCall the plumber on Monday.\n"
)
LINES = "Monday: gym\nTuesday: piano\nWednesday: swim\nThursday: chess\nFriday: films\n"


def server_text(device, item_id: str) -> str:
    response = device.get(f"/api/v1/items/{item_id}/")
    assert response.status_code == 200, response.text
    return response.json()["content"]


def wait_for_server_text(device, item_id: str, expected: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (text := server_text(device, item_id)) != expected:
        assert time.monotonic() < deadline, f"the server has {text!r}, not {expected!r}"
        time.sleep(0.1)


def wait_for_local_text(page: Page, item_id: str, expected: str) -> None:
    """The browser's own copy (IndexedDB, through its sync client) has this content."""
    page.wait_for_function(
        """async ([id, expected]) => {
            if (!window.cloudsaves) return false;  // the page is still starting
            const item = await window.cloudsaves.client.item(id);
            return !!item && !item.local && item.content === expected;
        }""",
        arg=[item_id, expected],
    )


def conflict_pair(phone, laptop, name: str, base: str, mine: str, theirs: str) -> tuple[str, str]:
    """An item edited from the same version on two devices: the phone's edit lands first,
    the laptop's is stale. Returns (item id, the laptop's result status)."""
    item_id = str(uuid.uuid4())
    push(phone, put_text(item_id, name, base))
    push(phone, put_text(item_id, name, mine, base=1))
    (result,) = push(laptop, put_text(item_id, name, theirs, base=1))
    return item_id, result["status"]


def test_overlapping_edits_resolved_on_the_review_page(
    user, signed_in_context, api_device, shoot_all, check_a11y, browser_log
):
    phone = api_device(user, name="Pixel 9")
    laptop = api_device(user, name="Work laptop", kind="desktop")
    page = open_app(signed_in_context(user, name="browser-a"), "/conflicts/")
    other = open_app(signed_in_context(user, name="browser-b"), "/conflicts/")
    expect(page.locator("[data-empty]")).to_contain_text("No conflicts.")

    mine = BASE.replace("milk, bread", "oat milk, sourdough bread")
    theirs = BASE.replace("milk, bread", "milk, rye bread")
    item_id, status = conflict_pair(phone, laptop, "Weekend plans", BASE, mine, theirs)
    assert status == "conflict"
    violin, drums = LINES.replace("piano", "violin"), LINES.replace("piano", "drums")
    copy_id, status = conflict_pair(phone, laptop, "Reading list", LINES, violin, drums)
    assert status == "conflict"

    # Both conflicts appear live, with the devices, and in the navigation's count.
    open_list = page.locator("[data-open-conflicts] > li")
    expect(open_list).to_have_count(2)
    row = open_list.filter(has_text="Weekend plans")
    expect(row).to_contain_text("Both devices changed the same part")
    expect(row).to_contain_text("Pixel 9 and Work laptop")
    expect(page.locator("[data-conflict-count]")).to_be_visible()
    expect(page.locator("[data-conflict-count-value]")).to_have_text("2")
    expect(other.locator("[data-open-conflicts] > li")).to_have_count(2)
    check_a11y(page, "conflicts-open")
    shoot_all(page, "conflicts-open")

    # The review page: both sides against the original, then a merged text.
    row.get_by_role("link", name=re.compile("^Review")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("“Weekend plans”")
    server_side = page.locator(".side-server")
    incoming_side = page.locator(".side-incoming")
    expect(server_side.get_by_role("heading")).to_have_text("From Pixel 9")
    expect(incoming_side.get_by_role("heading")).to_have_text("From Work laptop")
    expect(server_side.locator("ins")).to_contain_text(["sourdough"])
    expect(incoming_side.locator("ins").first).to_contain_text("rye")
    page.get_by_text("Original (before both edits)").click()
    expect(page.locator(".base-text .diff-body")).to_contain_text("Buy milk, bread and eggs.")
    check_a11y(page, "review")
    shoot_all(page, "review")

    page.get_by_role("button", name="Edit a merged text").click()
    merged_box = page.get_by_label("Merged text")
    combined = merged_box.input_value()
    assert "oat milk, sourdough bread" in combined and "milk, rye bread" in combined
    shoot_all(page, "review-merge-editor")
    merged = BASE.replace("milk, bread", "oat milk, sourdough and rye bread")
    merged_box.fill(merged)
    page.get_by_role("button", name="Save merged text").click()
    expect(page.get_by_role("status").filter(has_text="Saved the merged text")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/items/{item_id}/$"))
    wait_for_server_text(phone, item_id, merged)
    wait_for_local_text(page, item_id, merged)
    wait_for_local_text(other, item_id, merged)
    expect(other.locator("[data-open-conflicts] > li")).to_have_count(1)

    # The second one: a stale decision is refused, then "keep both" makes a copy.
    page.goto("/conflicts/")
    wait_for_app(page)
    page.locator("[data-open-conflicts] > li").filter(has_text="Reading list").get_by_role(
        "link", name=re.compile("^Review")
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("“Reading list”")
    head = phone.get(f"/api/v1/items/{copy_id}/").json()
    later = head["content"] + "Saturday: market\n"
    (result,) = push(phone, put_text(copy_id, "Reading list", later, base=head["version"]))
    assert result["status"] == "applied"
    page.get_by_role("button", name="Keep both").click()
    expect(page.get_by_role("alert")).to_contain_text("This note changed again since; reload")
    page.get_by_role("button", name="Reload").click()
    expect(page.locator(".side-server .side-meta")).to_contain_text("version 2")
    page.get_by_role("button", name="Keep both").click()
    expect(page).to_have_url(re.compile(rf"/items/{copy_id}/$"))

    copies = [
        i for i in phone.get("/api/v1/items/").json()["results"] if "conflicted copy" in i["name"]
    ]
    # The laptop's later edit is the head; the phone's becomes the copy.
    assert [c["name"].split(",")[:2] for c in copies] == [
        ["Reading list (conflicted copy", " Pixel 9"]
    ]
    copy_text = server_text(phone, copies[0]["id"])
    assert copy_text == violin
    for browser_page in (page, other):
        wait_for_local_text(browser_page, copies[0]["id"], copy_text)
        wait_for_local_text(browser_page, copy_id, later)
    expect(other.locator("[data-empty]")).to_contain_text("No conflicts.")
    expect(other.locator("[data-conflict-count]")).to_be_hidden()
    # The stale decision's 409, which Chromium logs as a failed resource.
    browser_log.assert_no_errors(allow=[r"status of 409 \(Conflict\)"])


def test_merge_undone_and_history_restored(
    user, signed_in_context, api_device, shoot_all, check_a11y, browser_log
):
    phone = api_device(user, name="Pixel 9")
    laptop = api_device(user, name="Work laptop", kind="desktop")
    context = signed_in_context(user)
    page = open_app(context, "/conflicts/")
    expect(page.locator("[data-empty]")).to_contain_text(
        "No conflicts. When two devices change the same part of a note, "
        "both versions wait here for you."
    )
    expect(page.get_by_text("Nothing decided automatically lately.")).to_be_visible()
    check_a11y(page, "conflicts-empty")
    shoot_all(page, "conflicts-empty")

    phone_edit = LINES.replace("gym", "yoga")
    item_id, status = conflict_pair(
        phone, laptop, "Week", LINES, phone_edit, LINES.replace("films", "board games")
    )
    assert status == "merged"
    both = LINES.replace("gym", "yoga").replace("films", "board games")
    wait_for_server_text(phone, item_id, both)

    # The merge is listed live among the automatic decisions, and undone from there.
    auto = page.locator("[data-auto-conflicts] > li")
    expect(auto).to_have_count(1)
    expect(auto.first).to_contain_text("Edits from two devices were merged")
    expect(auto.first).to_contain_text("Pixel 9 and Work laptop")
    expect(page.locator("[data-empty]")).to_be_visible()
    check_a11y(page, "conflicts-auto")
    shoot_all(page, "conflicts-auto")
    auto.first.get_by_role("button", name=re.compile("^Undo")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Undo the merge of “Week”?")
    shoot_all(page, "conflicts-undo-dialog")
    dialog.get_by_role("button", name="Keep Pixel 9's version (before the merge)").click()
    expect(page.get_by_role("status").filter(has_text="Undone")).to_be_visible()
    wait_for_server_text(phone, item_id, phone_edit)
    wait_for_local_text(page, item_id, phone_edit)
    expect(page.get_by_text("Nothing decided automatically lately.")).to_be_visible()

    # History: create, edit, merge, resolve; version 1 against the current one, restored.
    page.goto(f"/items/{item_id}/history/")
    wait_for_app(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("History of “Week”")
    versions = page.locator(".version-list .version")
    expect(versions).to_have_count(4)
    expect(versions.nth(0)).to_contain_text("Conflict resolved with version 2")
    expect(versions.nth(1)).to_contain_text("Merged automatically")
    expect(versions.nth(0)).to_contain_text("(this browser)")
    expect(versions.nth(1)).to_contain_text("Work laptop")
    versions.nth(3).click()
    detail = page.locator(".version-detail")
    expect(detail.get_by_role("heading", level=2)).to_have_text("Version 1")
    expect(detail.locator("ins")).to_contain_text(["yoga"])
    expect(detail.locator("del")).to_contain_text(["gym"])
    check_a11y(page, "history")
    shoot_all(page, "history")

    detail.get_by_role("button", name="Restore version 1").click()
    page.get_by_role("dialog").get_by_role("button", name="Restore version 1").click()
    expect(page.get_by_role("status").filter(has_text="Restored version 1")).to_be_visible()
    wait_for_server_text(phone, item_id, LINES)
    wait_for_local_text(page, item_id, LINES)
    expect(versions).to_have_count(5)
    expect(versions.nth(0)).to_contain_text("Restored version 1")
    browser_log.assert_no_errors()


def png(red: int, green: int, blue: int, size: int = 8) -> bytes:
    """A small one-colour PNG."""
    return encode_png(size, size, bytes((red, green, blue)) * size * size)


def put_file(item_id: str, content: bytes, base: int | None = None, **extra) -> dict:
    return {
        "change_id": str(uuid.uuid4()),
        "item_id": item_id,
        "op": "put",
        "kind": "binary",
        "name": "cover.png",
        "content_type": "image/png",
        "content_b64": base64.b64encode(content).decode(),
        "base_version": base,
        **extra,
    }


def test_file_conflict_review_and_history_offline(
    user, signed_in_context, api_device, shoot_all, check_a11y, browser_log
):
    phone = api_device(user, name="Pixel 9")
    laptop = api_device(user, name="Work laptop", kind="desktop")
    item_id = str(uuid.uuid4())
    push(phone, put_file(item_id, png(200, 40, 40)))
    push(phone, put_file(item_id, png(40, 160, 60), base=1))
    # The laptop's copy is older than the phone's: the phone's stays, the laptop's is kept
    # aside (no version number) on the record.
    (result,) = push(
        laptop, put_file(item_id, png(40, 60, 200), base=1, modified_at="2020-01-01T00:00:00Z")
    )
    assert result["status"] == "conflict"
    page = open_app(signed_in_context(user), f"/conflicts/{result['conflict_id']}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("“cover.png”")
    expect(page.locator(".side-card img")).to_have_count(2)
    expect(page.locator(".side-incoming")).to_contain_text("Kept aside")
    expect(page.get_by_role("button", name="Edit a merged text")).to_have_count(0)
    check_a11y(page, "review-file")
    shoot_all(page, "review-file")

    # The history page without the server: it says so, and loads once synced again.
    page.route("**/api/v1/items/*/versions/**", lambda route: route.abort())
    page.goto(f"/items/{item_id}/history/")
    wait_for_app(page)
    expect(page.get_by_role("heading", level=2)).to_have_text(
        "History needs a connection — you are offline"
    )
    check_a11y(page, "history-offline")
    shoot_all(page, "history-offline")
    page.unroute("**/api/v1/items/*/versions/**")
    page.evaluate("window.cloudsaves.client.syncNow()")
    versions = page.locator(".version-list .version")
    expect(versions).to_have_count(2)
    expect(page.locator(".version-detail img")).to_have_count(2)
    shoot_all(page, "history-file")
    browser_log.assert_no_errors(allow=[r"ERR_FAILED"])
