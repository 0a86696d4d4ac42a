"""Upgrading a database whose names, content types, hashes, push results and device names
were stored in the clear seals them all, and everything reads as before."""

import hashlib
import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("accounts", "0002_auditevent"), ("sync", "0001_initial")]
AFTER = [("accounts", "0003_sealed_device_names"), ("sync", "0003_sealed_push_results")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_upgrading_seals_plaintext_metadata_and_push_results(user):
    from sync import crypto, keys

    old = _migrate(BEFORE)
    try:
        device = old.get_model("accounts", "Device").objects.create(
            user_id=user.id, name="Anna's phone", kind="phone"
        )
        key = crypto.new_data_key()
        old.get_model("sync", "DataKey").objects.create(
            user_id=user.id, wrapped=keys.keyring().wrap(key, owner=f"user:{user.id}")
        )
        item_id, version_id = uuid.uuid4(), uuid.uuid4()
        sha = hashlib.sha256(b"hello").hexdigest()
        Item = old.get_model("sync", "Item")
        Version = old.get_model("sync", "Version")
        item = Item.objects.create(
            user_id=user.id,
            item_id=item_id,
            kind="text",
            name="Plans.txt",
            content_type="text/plain",
            version=1,
            size=5,
            sha256=sha,
            seq=1,
        )
        aad = keys.content_aad(user_id=user.id, item_id=item_id, version_id=version_id)
        Version.objects.create(
            id=version_id,
            item=item,
            number=1,
            origin="create",
            name="Plans.txt",
            content_type="text/plain",
            size=5,
            sha256=sha,
            sealed=crypto.seal(key, b"hello", aad),
            modified_at=item.modified_at,
        )
        change_id = uuid.uuid4()
        old.get_model("sync", "PushRecord").objects.create(
            device_id=device.id,
            change_id=change_id,
            request_hash="ab" * 32,
            result={"status": "applied", "item": {"name": "Plans.txt"}},
        )
    finally:
        _migrate(AFTER)

    from sync.models import Item as NewItem
    from sync.models import PushRecord
    from sync.models import Version as NewVersion

    item = NewItem.objects.get(item_id=item_id)
    assert (item.name, item.content_type, item.sha256) == ("Plans.txt", "text/plain", sha)
    version = NewVersion.objects.select_related("item").get(id=version_id)
    assert (version.name, version.sha256) == ("Plans.txt", sha)
    record = PushRecord.objects.get(change_id=change_id)
    stored_key = keys.data_key(user.id)
    assert keys.open_push_result(stored_key, user.id, record)["item"]["name"] == "Plans.txt"
    assert record.request_hash == keys.keyed_hash(stored_key, "ab" * 32)
    assert b"Plans.txt" not in bytes(item.meta) and b"Plans.txt" not in bytes(record.sealed_result)
    from accounts.models import Device

    phone = Device.objects.get(id=device.id)
    assert phone.name == "Anna's phone"
    assert b"Anna" not in bytes(phone.sealed_name)
