"""A browser whose device was revoked elsewhere is signed out and told why: the next
page shows a message, and an API request answers 401 `device_revoked`."""

import pytest

from accounts.middleware import REVOKED_MESSAGE
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def revoked_browser(client, user, make_device, client_for):
    """A signed-in browser whose device another device has just revoked."""
    signed_in = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    browser_id = client.get("/api/v1/devices/").json()["results"][0]["id"]
    _, token = make_device(user)
    assert client_for(token).delete(f"/api/v1/devices/{browser_id}/").status_code == 204
    return client


def test_the_next_page_says_why_the_browser_was_signed_out(revoked_browser):
    page = revoked_browser.get("/", follow=True)
    assert page.status_code == 200
    assert REVOKED_MESSAGE in page.content.decode()
    assert not page.wsgi_request.user.is_authenticated
    # Said once: the message is not repeated on the page after.
    assert REVOKED_MESSAGE not in revoked_browser.get("/", follow=True).content.decode()


def test_an_api_request_hears_device_revoked_and_the_next_page_says_why(revoked_browser):
    response = revoked_browser.get("/api/v1/devices/")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "device_revoked"
    assert "removed from your account" in error["message"]
    # The session ended with it; the sign-in page the app sends the browser to says why.
    login_page = revoked_browser.get("/accounts/login/")
    assert REVOKED_MESSAGE in login_page.content.decode()
    # Later requests are simply signed out.
    again = revoked_browser.get("/api/v1/devices/")
    assert (again.status_code, again.json()["error"]["code"]) == (401, "not_authenticated")


def test_signing_out_normally_shows_no_such_message(client, user):
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    client.get("/api/v1/devices/")
    client.post("/accounts/logout/")
    assert REVOKED_MESSAGE not in client.get("/", follow=True).content.decode()
