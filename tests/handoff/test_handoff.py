"""Handoff over REST: activities, device switches, offers, never-stale accepts, settings."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from handoff.models import Activity, Offer

from .conftest import put

pytestmark = pytest.mark.django_db

CANARY = "caret-canary-51c2"


def note(device, text="hello", name="Draft"):
    item_id = str(uuid.uuid4())
    assert device.push_one(put(item_id, text, name=name))["status"] == "applied"
    return item_id


def test_publish_activity_and_see_it_on_the_device(tablet):
    item_id = note(tablet)
    activity = tablet.publish(item_id, 1, {"caret": 3, "scroll": 120})
    assert activity["item_id"] == item_id
    assert activity["state"] == {"caret": 3, "scroll": 120}
    listed = tablet.client.get("/api/v1/devices/").json()["results"][0]
    assert listed["activity"]["item_id"] == item_id
    assert listed["activity"]["item_name"] == "Draft"
    tablet.client.delete("/api/v1/handoff/activity")
    assert tablet.client.get("/api/v1/devices/").json()["results"][0]["activity"] is None


def test_activity_validation(tablet, make_handoff_device, other_user):
    item_id = note(tablet)
    pending = tablet.publish(item_id, 2, expect=409)
    assert pending["error"]["code"] == "push_pending_first"
    big = tablet.publish(item_id, 1, {"blob": "x" * 5000}, expect=413)
    assert big["error"]["code"] == "too_large"
    assert tablet.publish(str(uuid.uuid4()), 1, expect=404)["error"]["code"] == "not_found"
    stranger = make_handoff_device(other_user, "Stranger")
    assert stranger.publish(item_id, 1, expect=404)["error"]["code"] == "not_found"
    bad = tablet.client.put(
        "/api/v1/handoff/activity",
        {"item_id": item_id, "item_version": 1, "state": [1]},
        format="json",
    )
    assert bad.status_code == 400


def test_state_is_encrypted_at_rest_and_hidden_from_admin(tablet, phone, client, django_user_model):
    item_id = note(tablet)
    tablet.publish(item_id, 1, {"selection": CANARY})
    assert phone.active().status_code == 200
    with connection.cursor() as cursor:
        for table in ("handoff_activity", "handoff_offer"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            rows = cursor.fetchall()
            assert rows
            dump = b"".join(
                bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                for row in rows
                for v in row
            )
            assert CANARY.encode() not in dump
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="pw")
    client.force_login(admin)
    offer = Offer.objects.get()
    for url in (
        "/admin/handoff/activity/",
        f"/admin/handoff/activity/{tablet.device.id}/change/",
        "/admin/handoff/offer/",
        f"/admin/handoff/offer/{offer.id}/change/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert CANARY.encode() not in page.content


def test_device_switch_offers_the_freshest_other_activity(tablet, phone, laptop):
    older, newer = note(tablet, name="Older"), note(laptop, name="Newer")
    tablet.publish(older, 1, {"caret": 1})
    laptop.publish(newer, 1, {"caret": 2})
    response = phone.active()
    assert response.status_code == 200
    offer = response.json()
    assert offer["source_device"]["id"] == laptop.id
    assert offer["target_device"]["id"] == phone.id
    assert offer["target_device"]["current"] is True
    assert offer["item"]["id"] == newer
    assert offer["state"] == {"caret": 2}
    assert offer["status"] == "pending"
    assert offer["handoff_mode"] == "prompt"
    assert offer["cursor"]
    # Coming to the foreground again does not make a second offer.
    assert phone.active().json()["id"] == offer["id"]
    assert [o["id"] for o in phone.offers()] == [offer["id"]]


def test_nothing_to_offer_is_204(tablet, phone):
    assert phone.active().status_code == 204
    item_id = note(tablet)
    tablet.publish(item_id, 1)
    phone.publish(item_id, 1)  # this device's own activity is newer
    assert phone.active().status_code == 204


def test_activities_older_than_the_ttl_are_not_offered(tablet, phone, settings):
    item_id = note(tablet)
    tablet.publish(item_id, 1)
    Activity.objects.update(updated_at=timezone.now() - timedelta(seconds=601))
    assert phone.active().status_code == 204
    settings.CLOUDSAVES_HANDOFF_TTL_S = 900
    assert phone.active().status_code == 200


def test_one_pending_offer_per_target_and_newer_activity_supersedes(tablet, phone, laptop):
    item_id = note(tablet)
    tablet.publish(item_id, 1, {"caret": 1})
    first = phone.active().json()
    laptop_item = note(laptop)
    laptop.publish(laptop_item, 1)
    second = phone.active().json()
    assert second["id"] != first["id"]
    assert Offer.objects.get(id=first["id"]).status == "superseded"
    assert [o["id"] for o in phone.offers()] == [second["id"]]
    # The source publishing again supersedes its pending offers.
    laptop.publish(laptop_item, 1, {"caret": 9})
    assert Offer.objects.get(id=second["id"]).status == "superseded"
    assert phone.accept(second["id"]).status_code == 409
    third = phone.active().json()
    assert third["state"] == {"caret": 9}


def test_never_stale_accept_opens_the_latest_content_and_state(tablet, phone):
    """The phone was offline while the tablet kept editing: what it opens is exactly the
    tablet's last pushed content and state."""
    item_id = note(tablet, "draft one")
    phone_cursor = phone.pull()["cursor"]
    for version, text in enumerate(("draft two", "draft three", "final words"), start=1):
        tablet.push_one(put(item_id, text, base=version, name="Draft"))
    tablet.publish(item_id, 4, {"caret": 11, "scroll": 340})

    offer = phone.active().json()
    assert offer["item_version"] == 4
    accepted = phone.accept(offer["id"])
    assert accepted.status_code == 200, accepted.content
    body = accepted.json()
    assert body["item"]["content"] == "final words"
    assert body["item"]["version"] == 4
    assert body["state"] == {"caret": 11, "scroll": 340}
    assert body["offer"]["status"] == "accepted"
    from accounts.models import AuditEvent

    event = AuditEvent.objects.get(kind=AuditEvent.Kind.HANDOFF_ACCEPTED)
    assert (event.device_id, event.target_device_id) == (phone.device.id, tablet.device.id)
    assert event.details == {"offer_id": offer["id"]}
    # Pulling to the offer's cursor brings the phone's local copy to the same head.
    pulled = phone.pull(phone_cursor)
    assert [(c["id"], c["content"]) for c in pulled["changes"]] == [(item_id, "final words")]


def test_accept_returns_the_head_even_if_it_moved_after_the_offer(tablet, phone):
    item_id = note(tablet, "v1")
    tablet.publish(item_id, 1)
    offer = phone.active().json()
    tablet.push_one(put(item_id, "v2 after the offer", base=1, name="Draft"))
    assert phone.accept(offer["id"]).json()["item"]["content"] == "v2 after the offer"


def test_decline_and_expiry(tablet, phone):
    item_id = note(tablet)
    tablet.publish(item_id, 1)
    offer = phone.active().json()
    declined = phone.decline(offer["id"])
    assert declined.json()["status"] == "declined"
    assert phone.accept(offer["id"]).json()["error"]["code"] == "not_pending"
    assert phone.offers() == []

    tablet.publish(item_id, 1, {"again": True})
    offer = phone.active().json()
    Offer.objects.filter(id=offer["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert phone.offers() == []
    expired = phone.accept(offer["id"])
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "expired"
    assert Offer.objects.get(id=offer["id"]).status == "expired"


def test_send_to_a_chosen_device(tablet, phone, laptop, make_handoff_device, other_user):
    item_id = note(tablet)
    send = tablet.client.post("/api/v1/handoff/send", {"device_id": laptop.id}, format="json")
    assert send.status_code == 409
    assert send.json()["error"]["code"] == "no_activity"
    tablet.publish(item_id, 1, {"caret": 5})
    send = tablet.client.post("/api/v1/handoff/send", {"device_id": laptop.id}, format="json")
    assert send.status_code == 201
    assert send.json()["origin"] == "send"
    assert [o["id"] for o in laptop.offers()] == [send.json()["id"]]
    assert phone.offers() == []
    own = tablet.client.post("/api/v1/handoff/send", {"device_id": tablet.id}, format="json")
    assert own.status_code == 400
    stranger = make_handoff_device(other_user, "Stranger")
    theirs = tablet.client.post("/api/v1/handoff/send", {"device_id": stranger.id}, format="json")
    assert theirs.status_code == 404


def test_other_users_offers_are_invisible(tablet, phone, make_handoff_device, other_user):
    item_id = note(tablet)
    tablet.publish(item_id, 1)
    offer = phone.active().json()
    stranger = make_handoff_device(other_user, "Stranger")
    assert stranger.offers() == []
    assert stranger.accept(offer["id"]).status_code == 404
    assert stranger.active().status_code == 204
    # And the source device cannot accept an offer made to another device.
    assert tablet.accept(offer["id"]).status_code == 404


def test_revoked_devices_neither_send_nor_receive(tablet, phone, laptop):
    item_id = note(tablet)
    tablet.publish(item_id, 1)
    assert phone.client.delete(f"/api/v1/devices/{tablet.id}/").status_code == 204
    assert phone.active().status_code == 204  # the revoked tablet's activity is not offered
    assert tablet.active().status_code == 401
    send = phone.client.post("/api/v1/handoff/send", {"device_id": tablet.id}, format="json")
    assert send.status_code == 404


def test_handoff_mode_setting(tablet, phone):
    assert phone.client.get("/api/v1/settings").json() == {"handoff_mode": "prompt"}
    bad = phone.client.patch("/api/v1/settings", {"handoff_mode": "sometimes"}, format="json")
    assert bad.status_code == 400
    item_id = note(tablet)
    tablet.publish(item_id, 1)

    auto = phone.client.patch("/api/v1/settings", {"handoff_mode": "auto"}, format="json")
    assert auto.json() == {"handoff_mode": "auto"}
    assert phone.active().json()["handoff_mode"] == "auto"

    phone.client.patch("/api/v1/settings", {"handoff_mode": "off"}, format="json")
    Offer.objects.all().delete()
    assert phone.active().status_code == 204
    send = tablet.client.post("/api/v1/handoff/send", {"device_id": phone.id}, format="json")
    assert send.json()["error"]["code"] == "handoff_off"
