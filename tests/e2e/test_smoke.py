"""The harness on today's pages, in Chromium: the signed-out pages, signing up and in, and
the devices page of a signed-in browser; screenshots at two sizes in both colour schemes,
and axe-core on each page."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.live import start_live_server

from .helpers import wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def devices_seen_by(page: Page) -> list[dict]:
    """The device list as this browser's session reads it from the API."""
    response = page.request.get("/api/v1/devices/")
    assert response.ok, response.text()
    return response.json()["results"]


def test_signed_out_pages(new_context, shoot_all, check_a11y, browser_log):
    page = new_context().new_page()
    page.goto("/")
    expect(heading(page)).to_have_text(re.compile("in step on every device"))
    check_a11y(page, "landing")
    shoot_all(page, "landing")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(heading(page)).to_have_text("Sign in to Cloud-Saves")
    check_a11y(page, "login")
    shoot_all(page, "login")

    page.get_by_role("link", name="Create one").click()
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    expect(heading(page)).to_have_text("Create your account")
    check_a11y(page, "signup")
    shoot_all(page, "signup")
    browser_log.assert_no_errors()


def test_signing_up_registers_this_browser(new_context, shot, browser_log):
    page = new_context().new_page()
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("new-user@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("link", name="Sign out")).to_be_visible()
    shot(page, "after-signup")
    (device,) = devices_seen_by(page)
    assert (device["kind"], device["current"]) == ("browser", True)
    browser_log.assert_no_errors()


def test_wrong_password_is_refused_on_the_login_page(user, new_context, shot, check_a11y):
    page = new_context().new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not correct")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    check_a11y(page, "login-error")
    shot(page, "login-error")


@pytest.fixture
def own_server():
    """A live server of its own: the sign-in limits a test fills there (per address, and
    allauth's 30 sign-in attempts a minute from one address) never reach the session's
    server that the other browser tests sign in through."""
    server = start_live_server()
    yield server
    server.stop()


def test_too_many_failures_answer_429_on_the_login_page(
    user, own_server, new_context, shot, browser_log
):
    page = new_context(base_url=own_server.url).new_page()
    page.goto("/accounts/login/")
    for _ in range(10):
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password", exact=True).fill("not the password")
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password", exact=True).fill("not the password")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Sign in").click()
    response = navigation.value
    assert response.status == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    expect(page.get_by_role("alert")).to_contain_text("Too many failed login attempts")
    shot(page, "login-429")
    browser_log.assert_no_errors(allow=["429"])


def test_devices_page_of_a_signed_in_browser(
    user, signed_in_context, api_device, shoot_all, check_a11y, browser_log
):
    phone = api_device(user, name="Pixel 9", kind="phone")
    assert phone.get("/api/v1/devices/").status_code == 200

    page = signed_in_context(user).new_page()
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Devices").click()
    expect(heading(page)).to_have_text("Your devices")
    wait_for_app(page)

    devices = devices_seen_by(page)
    (this_browser,) = [d for d in devices if d["current"]]
    assert this_browser["kind"] == "browser"
    assert "Chrome" in this_browser["name"]
    assert [d["name"] for d in devices if not d["current"]] == ["Pixel 9"]

    expect(page.locator("[data-devices-root]")).to_have_attribute("aria-busy", "false")
    rows = page.locator("li.device")
    expect(rows).to_have_count(2)
    mine = page.locator("li.device.is-current")
    expect(mine).to_have_attribute("data-device-id", this_browser["id"])
    expect(mine.locator(".badge")).to_have_text("This browser")
    expect(mine).to_contain_text(this_browser["name"])
    expect(rows.filter(has_text="Pixel 9")).to_have_count(1)

    check_a11y(page, "devices")
    shoot_all(page, "devices")
    browser_log.assert_no_errors()


def test_check_a11y_fails_on_serious_violations(new_context, check_a11y, artifacts):
    page = new_context().new_page()
    page.set_content(
        '<html lang="en"><title>t</title><main><h1>Bad page</h1>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        '<p style="color:#777;background:#888">faint text</p>'
        "<button></button></main></html>"
    )
    with pytest.raises(AssertionError) as failed:
        check_a11y(page, "bad", color_schemes=["light"])
    message = str(failed.value)
    for rule in ("image-alt (critical", "color-contrast (serious", "button-name (critical"):
        assert rule in message
    assert (artifacts.dir / "bad-light.axe.json").exists()
    found = check_a11y(
        page, "bad", color_schemes=["light"], ignore=["image-alt", "color-contrast", "button-name"]
    )
    assert {v["id"] for v in found} >= {"image-alt", "color-contrast", "button-name"}


def test_account_pages_pass_axe_at_both_sizes(
    user, signed_in_context, new_context, shoot_all, check_a11y, browser_log
):
    """The account pages around the app: password reset (signed out), email addresses,
    password change, security activity and sign-out (signed in)."""
    page = new_context().new_page()
    # A failed attempt first, so the security activity page has one to show.
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.goto("/accounts/password/reset/")
    check_a11y(page, "password-reset")
    shoot_all(page, "password-reset")
    page = signed_in_context(user).new_page()
    for path, name in (
        ("/accounts/email/", "email"),
        ("/accounts/password/change/", "password-change"),
        ("/accounts/security/", "security-activity"),
        ("/accounts/logout/", "sign-out"),
    ):
        page.goto(path)
        assert page.url.endswith(path), page.url
        check_a11y(page, name)
        shoot_all(page, name)
    browser_log.assert_no_errors()
