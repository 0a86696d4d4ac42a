"""Pages that are not the browser client work under the Content-Security-Policy too: the
admin, the API docs and the error pages. (The client's pages are covered by every other
browser test: a violation anywhere fails the test at teardown, see conftest.)"""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_pages_send_a_strict_policy(new_context):
    page = new_context().new_page()
    response = page.goto("/accounts/login/")
    policy = response.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'"):
        assert directive in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_admin_docs_and_error_pages_work_under_the_policy(make_user, new_context, shot):
    staff = make_user("staff@example.com")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    page = new_context(name="staff").new_page()
    page.goto("/admin/login/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    shot(page, "admin-index")
    for path in (
        "/admin/accounts/device/",
        "/admin/sync/item/",
        f"/admin/accounts/user/{staff.pk}/change/",
    ):
        page.goto(path)
        expect(page.locator("#content")).to_be_visible()
    shot(page, "admin-user-change")

    page.goto("/api/docs/")
    # Swagger UI is built by its script from the schema: this needs script-src 'self'.
    expect(page.get_by_role("heading", name=re.compile("Cloud-Saves API"))).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    shot(page, "api-docs")

    response = page.goto("/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    shot(page, "not-found")
