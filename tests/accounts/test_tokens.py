import hashlib
import uuid

import pytest

from accounts.models import Device
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token"


def sign_in(api, email, password=PASSWORD, **device):
    body = {
        "email": email,
        "password": password,
        "device": {"name": "Pixel", "kind": "phone", "platform": "Android 15", **device},
    }
    return api.post(TOKEN_URL, body, format="json")


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def test_token_issue_returns_device_and_token_stored_hashed(api, user):
    response = sign_in(api, "Alice@Example.com")
    assert response.status_code == 201, response.content
    body = response.json()
    token = body["token"]
    device = body["device"]
    assert device["name"] == "Pixel"
    assert device["kind"] == "phone"
    assert device["platform"] == "Android 15"
    assert device["current"] is True
    assert device["online"] is False
    assert device["activity"] is None
    row = Device.objects.get(id=device["id"])
    assert row.user == user
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(v) for v in Device.objects.values_list("token_hash", flat=True)}


def test_bearer_token_authenticates(api, user, client_for):
    token = sign_in(api, user.email).json()["token"]
    response = client_for(token).get("/api/v1/devices/")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [d["current"] for d in results] == [True]
    assert response.json()["next"] is None


def test_last_seen_is_recorded(api, user, client_for):
    token = sign_in(api, user.email).json()["token"]
    Device.objects.update(last_seen_at=None)
    client_for(token).get("/api/v1/devices/")
    assert Device.objects.get().last_seen_at is not None


@pytest.mark.parametrize("password", ["wrong password", ""])
def test_wrong_password_is_invalid_credentials(api, user, password):
    response = sign_in(api, user.email, password=password)
    if password == "":
        assert_error(response, 400, "invalid")
    else:
        assert_error(response, 401, "invalid_credentials")


def test_unknown_email_answers_exactly_like_wrong_password(api, user):
    unknown = sign_in(api, "nobody@example.com", password="whatever123")
    wrong = sign_in(api, user.email, password="whatever123")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_inactive_user_cannot_sign_in(api, user):
    user.is_active = False
    user.save()
    assert_error(sign_in(api, user.email), 401, "invalid_credentials")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "alice@example.com", "password": PASSWORD}, "device"),
        (
            {
                "email": "alice@example.com",
                "password": PASSWORD,
                "device": {"name": "x", "kind": "toaster"},
            },
            "device",
        ),
        ({"email": "not-an-email", "password": PASSWORD, "device": {}}, "email"),
        ([1, 2, 3], "email"),
    ],
)
def test_bad_token_requests_are_400_with_details(api, user, body, field):
    error = assert_error(api.post(TOKEN_URL, body, format="json"), 400, "invalid")
    assert field in error["details"]["fields"]


def test_malformed_json_is_400(api):
    response = api.post(TOKEN_URL, "{not json", content_type="application/json")
    assert_error(response, 400, "malformed_request")


def test_no_credentials_is_401(api):
    response = api.get("/api/v1/devices/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer nope", "Bearer", "Bearer a b", "Bearer \u00e9t\u00e9", "Token abc"]
)
def test_bad_tokens_are_401(api, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    assert_error(api.get("/api/v1/devices/"), 401, "not_authenticated")


def test_revoked_token_stops_working_at_once(api, user, client_for):
    phone = sign_in(api, user.email).json()
    laptop = sign_in(api, user.email, name="Laptop", kind="desktop").json()
    phone_api = client_for(phone["token"])
    laptop_api = client_for(laptop["token"])
    assert phone_api.get("/api/v1/devices/").status_code == 200

    response = laptop_api.delete(f"/api/v1/devices/{phone['device']['id']}/")
    assert response.status_code == 204
    assert_error(phone_api.get("/api/v1/devices/"), 401, "not_authenticated")
    remaining = laptop_api.get("/api/v1/devices/").json()["results"]
    assert [d["id"] for d in remaining] == [laptop["device"]["id"]]
    # Revoking again: the device is gone as far as the API is concerned.
    assert_error(laptop_api.delete(f"/api/v1/devices/{phone['device']['id']}/"), 404, "not_found")


def test_a_device_can_revoke_itself(api, user, client_for):
    phone = sign_in(api, user.email).json()
    client = client_for(phone["token"])
    assert client.delete(f"/api/v1/devices/{phone['device']['id']}/").status_code == 204
    assert client.get("/api/v1/devices/").status_code == 401


def test_rename_device(auth_api, device_and_token):
    device, _ = device_and_token
    response = auth_api.patch(
        f"/api/v1/devices/{device.id}/", {"name": "Work phone"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Work phone"
    assert auth_api.get(f"/api/v1/devices/{device.id}/").json()["name"] == "Work phone"
    assert_error(
        auth_api.patch(f"/api/v1/devices/{device.id}/", {"name": ""}, format="json"), 400, "invalid"
    )


def test_ws_ticket(auth_api):
    response = auth_api.post("/api/v1/auth/ws-ticket")
    assert response.status_code == 201
    assert response.json()["expires_in"] == 30
    assert len(response.json()["ticket"]) >= 32


def test_unknown_device_id_is_404(auth_api):
    assert_error(auth_api.get(f"/api/v1/devices/{uuid.uuid4()}/"), 404, "not_found")
    assert_error(auth_api.get("/api/v1/devices/not-a-uuid/"), 404, "not_found")
