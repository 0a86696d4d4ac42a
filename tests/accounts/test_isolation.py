"""Another user's devices are invisible: their ids answer exactly like ids that do not
exist."""

import uuid

import pytest

from accounts.models import Device

pytestmark = pytest.mark.django_db


def test_other_users_device_is_404_like_a_missing_one(user, other_user, make_device, client_for):
    _, alice_token = make_device(user)
    bob_device, bob_token = make_device(other_user, name="Bob's phone")
    alice = client_for(alice_token)

    missing = uuid.uuid4()
    for method, body in (("get", None), ("patch", {"name": "mine now"}), ("delete", None)):
        theirs = getattr(alice, method)(f"/api/v1/devices/{bob_device.id}/", body, format="json")
        nothing = getattr(alice, method)(f"/api/v1/devices/{missing}/", body, format="json")
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.json() == nothing.json()

    bob_device.refresh_from_db()
    assert bob_device.name == "Bob's phone"
    assert bob_device.revoked_at is None
    assert client_for(bob_token).get("/api/v1/devices/").status_code == 200


def test_device_list_shows_only_own_devices(user, other_user, make_device, client_for):
    mine = [make_device(user, name=f"Mine {i}")[0] for i in range(3)]
    make_device(other_user, name="Theirs")
    token = make_device(user, name="Caller")[1]
    listed = client_for(token).get("/api/v1/devices/").json()["results"]
    assert {d["name"] for d in listed} == {d.name for d in mine} | {"Caller"}
    assert Device.objects.count() == 5


@pytest.mark.parametrize(
    "origin,scheme,headers,allowed",
    [
        ("http://127.0.0.1:8000", "ws", {}, True),
        ("http://127.0.0.1:8001", "ws", {}, False),
        ("https://127.0.0.1:8000", "ws", {}, False),
        ("https://127.0.0.1:8000", "wss", {}, True),
        ("http://127.0.0.1:8000", "wss", {}, False),
        ("https://127.0.0.1:8000", "ws", {b"x-forwarded-proto": b"https"}, True),
        ("http://evil.example:8000", "ws", {}, False),
        ("null", "ws", {}, False),
    ],
)
def test_socket_origin_must_be_this_site(settings, origin, scheme, headers, allowed):
    from accounts.channels_auth import origin_allowed

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    scope = {"scheme": scheme, "headers": [(b"host", b"127.0.0.1:8000"), *headers.items()]}
    assert origin_allowed(origin, scope) is allowed


def test_a_trusted_origin_may_open_sockets(settings):
    from accounts.channels_auth import origin_allowed

    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    scope = {"scheme": "ws", "headers": [(b"host", b"127.0.0.1:8000")]}
    assert origin_allowed("https://app.example.com", scope)
    assert not origin_allowed("http://app.example.com", scope)
