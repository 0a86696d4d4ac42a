"""Pull: compacted, ordered, gap-free paging; tombstones; bad and unservable cursors."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from sync.changes import encode_cursor
from sync.models import SyncState
from sync.services import tombstones_purge

from .conftest import delete, new_id, put

pytestmark = pytest.mark.django_db


def test_first_pull_of_nothing(phone):
    page = phone.pull()
    assert page["changes"] == []
    assert page["has_more"] is False
    assert page["cursor"]
    assert phone.pull(page["cursor"])["changes"] == []


def test_paging_sees_every_item_once_in_order(phone):
    ids = [new_id() for _ in range(23)]
    for chunk in range(0, 23, 5):
        phone.push(*[put(i, f"content {i}") for i in ids[chunk : chunk + 5]])
    seen, cursor, pages = [], "", 0
    while True:
        page = phone.pull(cursor, limit=4)
        pages += 1
        seen.extend(c["id"] for c in page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert seen == ids
    assert pages == 6
    assert phone.pull(cursor)["changes"] == []


def test_pull_is_compacted_to_the_latest_state(phone, laptop):
    a, b = new_id(), new_id()
    phone.push(put(a, "a1"), put(b, "b1"))
    cursor = laptop.pull()["cursor"]
    phone.push(put(a, "a2", base=1))
    phone.push(put(a, "a3", base=2))
    changes = laptop.pull(cursor)["changes"]
    assert [(c["id"], c["version"], c["content"]) for c in changes] == [(a, 3, "a3")]
    assert changes[0]["device_id"] is not None


def test_tombstones_are_pulled(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, "soon gone"))
    cursor = laptop.pull()["cursor"]
    phone.push_one(delete(item_id, base=1))
    (tombstone,) = laptop.pull(cursor)["changes"]
    assert tombstone["deleted"] is True
    assert "content" not in tombstone


def test_binary_inline_and_by_url(phone, settings):
    settings.CLOUDSAVES_INLINE_BINARY_MAX = 8
    small, big = new_id(), new_id()
    phone.push(put(small, b"12345678", kind="binary"), put(big, b"123456789", kind="binary"))
    by_id = {c["id"]: c for c in phone.pull()["changes"]}
    assert base64.b64decode(by_id[small]["content_b64"]) == b"12345678"
    assert "content_b64" not in by_id[big]
    url = by_id[big]["content_url"]
    assert url == f"/api/v1/items/{big}/versions/1/content"
    assert phone.client.get(url).content == b"123456789"


@pytest.mark.parametrize("cursor", ["garbage", "12", "12:forged", "-1:x"])
def test_malformed_cursor_is_400(phone, cursor):
    body = phone.pull(cursor, expect=400)
    assert body["error"]["code"] == "bad_cursor"


def test_other_users_cursor_is_400(phone, stranger):
    stranger.push_one(put(new_id(), "x"))
    theirs = stranger.pull()["cursor"]
    assert phone.pull(theirs, expect=400)["error"]["code"] == "bad_cursor"


def test_cursor_ahead_of_the_server_is_409(phone, user):
    phone.push_one(put(new_id(), "x"))
    ahead = encode_cursor(user.id, 999)
    assert phone.pull(ahead, expect=409)["error"]["code"] == "resync_required"


def test_cursor_older_than_a_purge_is_409(phone, user):
    keep, gone = new_id(), new_id()
    phone.push(put(gone, "x"), put(keep, "y"))
    old_cursor = encode_cursor(user.id, 1)
    phone.push_one(delete(gone, base=1))
    purged = tombstones_purge(user=user, before=timezone.now() + timedelta(seconds=1))
    assert purged == 1
    assert SyncState.objects.get(user=user).purged_seq == 3
    assert phone.pull(old_cursor, expect=409)["error"]["code"] == "resync_required"
    # From scratch works and no longer mentions the purged item.
    assert [c["id"] for c in phone.pull()["changes"]] == [keep]


def test_limit_validation(phone):
    for limit in (0, 1001, "x"):
        assert phone.pull(limit=limit, expect=400)["error"]["code"] == "invalid"


def test_status_counts_items_behind(phone, laptop):
    cursor = laptop.pull()["cursor"]
    phone.push(put(new_id(), "1"), put(new_id(), "2"))
    status = laptop.client.get("/api/v1/sync/status", {"since": cursor}).json()
    assert status["behind"] == 2
    assert laptop.client.get("/api/v1/sync/status", {"since": status["cursor"]}).json() == {
        "cursor": status["cursor"],
        "behind": 0,
    }


def test_push_returns_a_cursor_that_pull_accepts(phone):
    body = phone.push(put(new_id(), "x"))
    assert phone.pull(body["cursor"])["changes"] == []


def test_purge_command(phone, user):
    from django.core.management import call_command

    item_id = new_id()
    phone.push_one(put(item_id, "x"))
    phone.push_one(delete(item_id, base=1))
    call_command("purge_tombstones", "--days", "1")
    assert phone.pull()["changes"] != []  # a fresh delete is kept
    from sync.models import Item

    Item.objects.update(updated_at=timezone.now() - timedelta(days=2))
    call_command("purge_tombstones", "--days", "1")
    assert phone.pull()["changes"] == []


def test_cursors_are_django_signatures_and_survive_a_secret_rotation(settings, user):
    from django.core import signing

    from sync.changes import BadCursor, decode_cursor

    django_signer = signing.Signer(salt=f"cloudsaves.cursor.{user.id}")
    for seq in (0, 7, 123456789):
        assert encode_cursor(user.id, seq) == django_signer.sign(str(seq))
    old = encode_cursor(user.id, 42)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a new secret key that is long enough to be a real one"
    assert decode_cursor(user.id, old) == 42
    assert encode_cursor(user.id, 42) != old
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(BadCursor):
        decode_cursor(user.id, old)
