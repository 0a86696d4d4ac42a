"""Content at rest: sealed under per-user data keys wrapped by the server's keys."""

import base64
import os

import pytest
from django.core.management import call_command
from django.db import connection

from sync import crypto
from sync.models import DataKey, Version

from .conftest import new_id, put

pytestmark = pytest.mark.django_db

CANARY = "canary-7f3a9c-plaintext-must-never-reach-the-disk"


def new_kek() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def raw_database_text() -> bytes:
    """Every column of every synced row, as the database stores it."""
    dump = b""
    with connection.cursor() as cursor:
        for table in (
            "sync_version",
            "sync_item",
            "sync_conflict",
            "sync_pushrecord",
            "sync_datakey",
        ):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            for row in cursor.fetchall():
                for value in row:
                    dump += (
                        bytes(value)
                        if isinstance(value, bytes | memoryview)
                        else str(value).encode()
                    )
    return dump


def test_no_plaintext_in_the_database(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, f"start {CANARY} end"))
    laptop.push_one(put(item_id, f"start {CANARY} laptop end", base=1))
    phone.push_one(put(item_id, f"phone start {CANARY} end", base=1))  # a merge: kept sides too
    phone.push_one(put(new_id(), CANARY.encode(), kind="binary"))
    dump = raw_database_text()
    assert len(dump) > 1000
    assert CANARY.encode() not in dump
    assert CANARY.encode("utf-16-le") not in dump
    merged = phone.pull()["changes"][0]["content"]
    assert merged == f"phone start {CANARY} laptop end"


def test_swapped_ciphertext_fails_with_a_clear_error(phone):
    a, b = new_id(), new_id()
    phone.push(put(a, "content of a"), put(b, "content of b"))
    va, vb = Version.objects.get(item__item_id=a), Version.objects.get(item__item_id=b)
    Version.objects.filter(pk=va.pk).update(sealed=vb.sealed)
    response = phone.client.get(f"/api/v1/items/{a}/")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "content_unreadable"
    assert "moved from another row" in error["message"]
    assert phone.client.get(f"/api/v1/items/{b}/").json()["content"] == "content of b"


def test_data_keys_are_bound_to_their_user(phone, stranger, user, other_user):
    phone.push_one(put(new_id(), "mine"))
    stranger.push_one(put(new_id(), "theirs"))
    mine = DataKey.objects.get(user=user)
    DataKey.objects.filter(user=other_user).update(wrapped=mine.wrapped)
    response = stranger.client.get("/api/v1/sync/changes")
    assert response.status_code == 500
    assert "does not belong" in response.json()["error"]["message"]


def test_rotate_keys_rewraps_so_the_old_key_can_go(phone, settings):
    old = settings.CLOUDSAVES_ENCRYPTION_KEYS[0]
    item_id = new_id()
    phone.push_one(put(item_id, "written under the old key"))
    new = new_kek()
    settings.CLOUDSAVES_ENCRYPTION_KEYS = [new, old]
    phone.push_one(put(item_id, "written after the new key was added", base=1))
    call_command("rotate_keys")
    settings.CLOUDSAVES_ENCRYPTION_KEYS = [new]
    versions = phone.client.get(f"/api/v1/items/{item_id}/versions/1/").json()
    assert versions["content"] == "written under the old key"
    assert phone.pull()["changes"][0]["content"] == "written after the new key was added"
    # Without the rotation the old wraps would not open:
    settings.CLOUDSAVES_ENCRYPTION_KEYS = [new_kek()]
    response = phone.client.get("/api/v1/sync/changes")
    assert response.status_code == 500
    assert "no longer configured" in response.json()["error"]["message"]


def test_crypto_module_round_trip_and_tamper():
    key = crypto.new_data_key()
    aad = crypto.content_aad(user="1", item="i", version="v")
    sealed = crypto.seal(key, b"hello", aad)
    assert crypto.open_sealed(key, sealed, aad) == b"hello"
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(key, sealed, crypto.content_aad(user="2", item="i", version="v"))
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(key, tampered, aad)
    with pytest.raises(crypto.KeyConfigError):
        crypto.KeyRing.from_encoded(["too-short"])
    with pytest.raises(crypto.KeyConfigError):
        crypto.KeyRing([])
