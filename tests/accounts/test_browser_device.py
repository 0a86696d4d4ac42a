"""A signed-in browser is a device: registered once, remembered across sign-ins, and its
session writes need CSRF."""

import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import Device
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, user):
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content


def test_browser_session_registers_one_device(client, user):
    login(client, user)
    first = client.get("/api/v1/devices/").json()["results"]
    second = client.get("/api/v1/devices/").json()["results"]
    assert len(first) == len(second) == 1
    assert first[0]["kind"] == "browser"
    assert first[0]["current"] is True
    assert first == second
    assert Device.objects.filter(user=user).count() == 1


def test_same_browser_keeps_its_device_across_sign_ins(client, user):
    login(client, user)
    device_id = client.get("/api/v1/devices/").json()["results"][0]["id"]
    client.post("/accounts/logout/")
    assert client.get("/api/v1/devices/").status_code == 401
    login(client, user)
    assert client.get("/api/v1/devices/").json()["results"][0]["id"] == device_id
    assert Device.objects.filter(user=user).count() == 1


def test_another_browser_is_another_device(client, user):
    login(client, user)
    client.get("/api/v1/devices/")
    other = APIClient()
    login(other, user)
    assert len(other.get("/api/v1/devices/").json()["results"]) == 2


def test_session_writes_need_csrf(user):
    browser = APIClient(enforce_csrf_checks=True)
    login_page = browser.get("/accounts/login/")
    token = login_page.cookies["csrftoken"].value
    response = browser.post(
        "/accounts/login/",
        {"login": user.email, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    device_id = browser.get("/api/v1/devices/").json()["results"][0]["id"]
    refused = browser.patch(f"/api/v1/devices/{device_id}/", {"name": "x"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    allowed = browser.patch(
        f"/api/v1/devices/{device_id}/",
        {"name": "My laptop"},
        format="json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert allowed.status_code == 200
    assert allowed.json()["name"] == "My laptop"


def test_revoking_the_browser_device_ends_its_session(client, user, make_device, client_for):
    login(client, user)
    browser_id = client.get("/api/v1/devices/").json()["results"][0]["id"]
    _, token = make_device(user)
    assert client_for(token).delete(f"/api/v1/devices/{browser_id}/").status_code == 204
    assert client.get("/api/v1/devices/").status_code == 401
    assert client.get("/").status_code == 200


def test_signed_in_home_opens_the_app_and_app_pages_register_the_browser(client, user):
    login(client, user)
    assert client.get("/").url == "/items/"
    for url in ("/items/", "/devices/", "/conflicts/", f"/items/{uuid.uuid4()}/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert b'type="module"' in page.content
        assert "csrftoken" in page.cookies
    assert len(client.get("/api/v1/devices/").json()["results"]) == 1


def test_app_pages_send_a_signed_out_browser_to_sign_in(client):
    page = client.get("/items/")
    assert page.status_code == 302
    assert page.url.startswith("/accounts/login/?next=/items/")


def test_signing_out_clears_this_browsers_copy_and_a_revoked_browser_keeps_it(
    client, user, make_device, client_for
):
    login(client, user)
    client.get("/items/")
    page = client.get("/accounts/logout/")
    assert b"data-signout-pending" in page.content  # the warning for unsent changes
    signed_out = client.post("/accounts/logout/")
    assert signed_out.status_code == 302
    assert signed_out["Clear-Site-Data"] == '"cache", "storage"'
    # Revoked elsewhere: signed out, but its unsent changes stay for when it signs in again.
    login(client, user)
    browser_id = client.get("/api/v1/devices/").json()["results"][0]["id"]
    _, token = make_device(user)
    client_for(token).delete(f"/api/v1/devices/{browser_id}/")
    response = client.get("/items/")
    assert response.status_code == 302
    assert "Clear-Site-Data" not in response
