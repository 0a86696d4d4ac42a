"""Push: every status and every rejection code, exactly-once retries, batch atomicity."""

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.models import Conflict, Item, PushRecord, SyncState, Version

from .conftest import Device, at, delete, new_id, put

pytestmark = pytest.mark.django_db


def test_new_item_is_applied_as_version_one(phone):
    item_id = new_id()
    result = phone.push_one(put(item_id, "hello", content_type="text/markdown"))
    assert result["status"] == "applied"
    item = result["item"]
    assert item["id"] == item_id
    assert item["version"] == 1
    assert item["kind"] == "text"
    assert item["name"] == "note.txt"
    assert item["content_type"] == "text/markdown"
    assert item["size"] == 5
    assert len(item["sha256"]) == 64
    assert item["deleted"] is False
    assert item["has_conflict"] is False
    assert "content" not in item
    assert Version.objects.get().origin == "create"


def test_edit_on_the_head_is_applied(phone):
    item_id = new_id()
    phone.push_one(put(item_id, "one"))
    result = phone.push_one(put(item_id, "two", base=1))
    assert (result["status"], result["item"]["version"]) == ("applied", 2)
    assert list(Version.objects.order_by("number").values_list("origin", "parent")) == [
        ("create", None),
        ("edit", 1),
    ]


def test_same_content_is_unchanged(phone):
    item_id = new_id()
    phone.push_one(put(item_id, "same"))
    result = phone.push_one(put(item_id, "same", base=1))
    assert result["status"] == "unchanged"
    assert result["item"]["version"] == 1
    # Even from a stale base: equal content is not a conflict.
    phone.push_one(put(item_id, "other", base=1))
    assert phone.push_one(put(item_id, "other", base=1))["status"] == "unchanged"
    assert Conflict.objects.count() == 0


def test_stale_text_edits_in_different_places_merge(phone, laptop):
    item_id = new_id()
    base = "line one\nline two\nline three\n"
    phone.push_one(put(item_id, base))
    laptop.push_one(put(item_id, base.replace("one", "ONE"), base=1))
    result = phone.push_one(put(item_id, base.replace("three", "THREE"), base=1))
    assert result["status"] == "merged"
    assert result["item"]["version"] == 3
    conflict = Conflict.objects.get(id=result["conflict_id"])
    assert (conflict.status, conflict.reason) == ("auto_resolved", "merged")
    pulled = {c["id"]: c for c in laptop.pull()["changes"]}
    assert pulled[item_id]["content"] == "line ONE\nline two\nline THREE\n"


def test_overlapping_text_edits_conflict_and_the_later_one_wins(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, "the cat sat"))
    laptop.push_one(put(item_id, "the dog sat", base=1, modified_at=at(60)))
    result = phone.push_one(put(item_id, "the bird sat", base=1, modified_at=at(5)))
    assert result["status"] == "conflict"
    assert result["item"]["has_conflict"] is True
    assert result["item"]["version"] == 3  # the later edit is the head
    conflict = phone.client.get(f"/api/v1/conflicts/{result['conflict_id']}/").json()
    assert conflict["status"] == "open"
    assert conflict["reason"] == "overlapping_edits"
    assert conflict["base"]["content"] == "the cat sat"
    assert conflict["server"]["content"] == "the dog sat"
    assert conflict["incoming"]["content"] == "the bird sat"
    assert conflict["server"]["device_name"] == "Laptop"
    assert conflict["incoming"]["device_name"] == "Phone"
    assert conflict["hunks"] == [
        {"base_start": 4, "base_end": 7, "base": "cat", "head": "dog", "incoming": "bird"}
    ]
    assert phone.pull()["changes"][0]["content"] == "the bird sat"


def test_overlapping_edit_that_is_older_keeps_the_head_and_is_kept(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, "the cat sat"))
    laptop.push_one(put(item_id, "the dog sat", base=1))
    result = phone.push_one(put(item_id, "the bird sat", base=1, modified_at=at(3600)))
    assert result["status"] == "conflict"
    assert result["item"]["version"] == 2
    assert result["item"]["has_conflict"] is True
    conflict = Conflict.objects.get(id=result["conflict_id"])
    assert conflict.incoming.number is None  # kept aside, not in the head lineage
    detail = phone.client.get(f"/api/v1/conflicts/{conflict.id}/").json()
    assert detail["incoming"]["content"] == "the bird sat"
    assert detail["incoming"]["number"] is None


def test_binary_newest_wins_and_the_loser_is_restorable(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, b"\x00save-1", kind="binary", name="slot1.sav"))
    laptop.push_one(put(item_id, b"\x00save-laptop", kind="binary", base=1, modified_at=at(10)))
    result = phone.push_one(
        put(item_id, b"\x00save-old", kind="binary", base=1, modified_at=at(99))
    )
    assert result["status"] == "conflict"
    assert result["item"]["has_conflict"] is False
    assert result["item"]["version"] == 2  # laptop's newer save stays the head
    conflict = Conflict.objects.get(id=result["conflict_id"])
    assert (conflict.status, conflict.reason) == ("auto_resolved", "newest_wins")
    resolved = phone.client.post(
        f"/api/v1/conflicts/{conflict.id}/resolve",
        {"choice": "incoming", "base_version": 2},
        format="json",
    )
    assert resolved.status_code == 200, resolved.content
    assert resolved.json()["item"]["version"] == 3
    content = phone.client.get(f"/api/v1/items/{item_id}/content")
    assert content.content == b"\x00save-old"


def test_binary_newer_incoming_becomes_the_head(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, b"a", kind="binary"))
    laptop.push_one(put(item_id, b"b", kind="binary", base=1, modified_at=at(100)))
    result = phone.push_one(put(item_id, b"c", kind="binary", base=1, modified_at=at(1)))
    assert result["status"] == "conflict"
    assert result["item"]["version"] == 3
    assert base64.b64decode(phone.pull()["changes"][0]["content_b64"]) == b"c"


def test_stale_delete_loses_to_the_edit(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, "keep me"))
    laptop.push_one(put(item_id, "keep me, edited", base=1))
    result = phone.push_one(delete(item_id, base=1))
    assert result["status"] == "conflict"
    assert result["item"]["deleted"] is False
    conflict = Conflict.objects.get(id=result["conflict_id"])
    assert (conflict.status, conflict.reason) == ("auto_resolved", "edit_wins_over_delete")
    assert conflict.incoming.deleted is True


def test_delete_then_put_on_the_tombstone_resurrects(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, "v1"))
    deleted = phone.push_one(delete(item_id, base=1))
    assert (deleted["status"], deleted["item"]["deleted"]) == ("applied", True)
    assert phone.push_one(delete(item_id, base=2))["status"] == "unchanged"
    # An edit from a device that never saw the delete wins over it.
    result = laptop.push_one(put(item_id, "v1 edited", base=1))
    assert result["status"] == "conflict"
    assert result["item"]["deleted"] is False
    assert Conflict.objects.get(id=result["conflict_id"]).reason == "edit_wins_over_delete"
    # And a put on the deleted head with the right base simply applies.
    phone.push_one(delete(item_id, base=3))
    assert phone.push_one(put(item_id, "back", base=4))["status"] == "applied"


def test_put_with_null_base_on_existing_item_merges_against_empty(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, "server text"))
    result = laptop.push_one(put(item_id, "device text", base=None))
    # Both inserted at position 0 of the empty base: that is an overlap.
    assert result["status"] == "conflict"


def test_retry_returns_the_stored_result_and_writes_nothing(phone):
    change = put(new_id(), "once")
    first = phone.push_one(change)
    state = SyncState.objects.get()
    versions = Version.objects.count()
    again = phone.push_one(change)
    assert again == first
    assert Version.objects.count() == versions
    assert SyncState.objects.get().last_seq == state.last_seq
    assert PushRecord.objects.count() == 1


def test_same_change_id_with_other_payload_is_rejected(phone):
    change = put(new_id(), "once")
    phone.push_one(change)
    result = phone.push_one(dict(change, content="twice"))
    assert result["status"] == "rejected"
    assert result["error"]["code"] == "change_id_reused"
    assert Version.objects.count() == 1


def test_change_ids_are_per_device(phone, laptop):
    change = put(new_id(), "x")
    phone.push_one(change)
    other = laptop.push_one(dict(change, item_id=new_id()))
    assert other["status"] == "applied"


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda c: dict(c, content="nul \x00 inside"), "invalid"),
        (lambda c: dict(c, content="lone \ud800 surrogate"), "invalid"),
        (lambda c: dict(c, content=42), "invalid"),
        (lambda c: dict(c, item_id="not-a-uuid"), "invalid"),
        (lambda c: dict(c, change_id=7), "invalid"),
        (lambda c: dict(c, op="upsert"), "invalid"),
        (lambda c: dict(c, base_version="1"), "invalid"),
        (lambda c: dict(c, base_version=-1), "invalid"),
        (lambda c: dict(c, base_version=True), "invalid"),
        (lambda c: dict(c, kind="video"), "invalid"),
        (lambda c: dict(c, modified_at="yesterday"), "invalid"),
        (lambda c: dict(c, modified_at="2026-01-01T00:00:00"), "invalid"),
        (lambda c: dict(c, name=["x"]), "invalid"),
        (lambda c: dict(c, name="a" * 300), "invalid"),
        (lambda c: dict(c, content_b64="AAAA"), "invalid"),
        (lambda c: dict(c, base_version=3), "bad_base_version"),
        (lambda c: dict(c, op="delete"), "not_found"),
    ],
)
def test_rejections(phone, mutate, code):
    result = phone.push_one(mutate(put(new_id(), "text")))
    assert result["status"] == "rejected"
    assert result["error"]["code"] == code
    assert result["error"]["message"]
    assert Item.objects.count() == 0


def test_bad_base64_and_kind_mismatch(phone):
    bad = put(new_id(), kind="binary")
    bad["content_b64"] = "%%%not base64"
    assert phone.push_one(bad)["error"]["code"] == "invalid"
    item_id = new_id()
    phone.push_one(put(item_id, "text"))
    as_binary = put(item_id, b"bytes", kind="binary", base=1)
    assert phone.push_one(as_binary)["error"]["code"] == "invalid"
    as_b64 = put(item_id, base=1, kind=None)
    as_b64["content_b64"] = base64.b64encode(b"x").decode()
    assert phone.push_one(as_b64)["error"]["code"] == "invalid"


def test_base_version_ahead_of_head(phone):
    item_id = new_id()
    phone.push_one(put(item_id, "one"))
    result = phone.push_one(put(item_id, "two", base=5))
    assert result["error"]["code"] == "bad_base_version"


def test_too_large(phone, settings):
    settings.CLOUDSAVES_MAX_ITEM_BYTES = 10
    result = phone.push_one(put(new_id(), "x" * 11))
    assert (result["status"], result["error"]["code"]) == ("rejected", "too_large")
    result = phone.push_one(put(new_id(), b"y" * 11, kind="binary"))
    assert result["error"]["code"] == "too_large"
    assert phone.push_one(put(new_id(), "x" * 10))["status"] == "applied"


def test_one_bad_change_does_not_block_the_others(phone):
    good1, good2 = put(new_id(), "a"), put(new_id(), "b")
    body = phone.push(good1, {"op": "nonsense"}, put(new_id(), "\x00"), good2, "not an object")
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["applied", "rejected", "rejected", "applied", "rejected"]
    assert [r["change_id"] for r in body["results"]] == [
        good1["change_id"],
        None,
        body["results"][2]["change_id"],
        good2["change_id"],
        None,
    ]
    assert Item.objects.count() == 2


def test_two_changes_to_one_item_in_one_batch(phone):
    item_id = new_id()
    body = phone.push(put(item_id, "first"), put(item_id, "second", base=1))
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]
    assert phone.pull()["changes"][0]["content"] == "second"


def test_too_many_changes(phone, settings):
    settings.CLOUDSAVES_MAX_BATCH_CHANGES = 3
    body = phone.push(*[put(new_id(), "x") for _ in range(4)], expect=413)
    assert body["error"]["code"] == "too_many_changes"
    assert Item.objects.count() == 0


@pytest.mark.parametrize("body", [[], {"changes": "x"}, {"nope": []}, "text"])
def test_malformed_push_bodies(phone, body):
    response = phone.client.post("/api/v1/sync/push", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_modified_at_is_clamped_to_receive_time(phone, laptop):
    item_id = new_id()
    future = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    result = phone.push_one(put(item_id, b"future", kind="binary", modified_at=future))
    modified = datetime.fromisoformat(result["item"]["modified_at"])
    assert modified <= datetime.now(UTC)
    # So the device with the fast clock does not win the next conflict forever.
    laptop.push_one(put(item_id, b"laptop", kind="binary", base=1))
    stale = phone.push_one(put(item_id, b"phone again", kind="binary", base=1, modified_at=future))
    assert stale["status"] == "conflict"
    assert stale["item"]["version"] == 3  # received last, clamped to now: ties go to receipt


def test_metadata_only_change(phone):
    item_id = new_id()
    phone.push_one(put(item_id, "body", name="old name"))
    change = put(item_id, None, base=1, name="new name")
    result = phone.push_one(change)
    assert result["status"] == "applied"
    assert result["item"]["name"] == "new name"
    assert phone.pull()["changes"][0]["content"] == "body"


def test_other_users_item_ids_never_meet(phone, stranger):
    item_id = new_id()
    phone.push_one(put(item_id, "mine"))
    result = stranger.push_one(put(item_id, "theirs"))
    assert (result["status"], result["item"]["version"]) == ("applied", 1)
    assert [c["content"] for c in phone.pull()["changes"]] == ["mine"]
    assert [c["content"] for c in stranger.pull()["changes"]] == ["theirs"]


def test_unknown_conflict_of_other_user_is_404(phone, stranger):
    item_id = new_id()
    phone.push_one(put(item_id, "a b c"))
    phone.push_one(put(item_id, "a B c", base=1))
    result = phone.push_one(put(item_id, "a b C", base=1))
    conflict_id = result["conflict_id"]
    theirs = stranger.client.get(f"/api/v1/conflicts/{conflict_id}/")
    missing = stranger.client.get(f"/api/v1/conflicts/{uuid.uuid4()}/")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()


def _story(when):
    """Changes that take every path of a push, several of them on the same items."""
    text, binary, gone = new_id(), new_id(), new_id()
    base = "one\ntwo\nthree\nfour\nfive\n"
    first_edit = put(text, base.replace("one", "ONE"), base=1, modified_at=when(40))
    return [
        put(text, base, modified_at=when(90)),
        put(binary, b"\x00\x01", kind="binary", modified_at=when(85)),
        first_edit,
        put(text, base.replace("five", "FIVE"), base=1, modified_at=when(30)),  # merged
        put(text, base.replace("one", "uno"), base=1, modified_at=when(20)),  # overlap
        put(binary, b"\x02", kind="binary", base=1, modified_at=when(60)),
        put(binary, b"\x03", kind="binary", base=1, modified_at=when(70)),  # older: kept aside
        put(gone, "short-lived", modified_at=when(50)),
        delete(gone, base=1),
        delete(new_id(), base=1),  # not_found
        put(gone, "back", base=1, modified_at=when(10)),  # edit wins over the delete
        first_edit,  # a retry inside the batch: the stored result
        {**first_edit, "content": "other"},  # change_id_reused
        put(text, kind="text", name="renamed.txt", base=3),  # metadata only, stale
        put(new_id(), "\x00"),  # invalid
    ]


def _outcome(user):
    items = {}
    for item in Item.objects.filter(user=user).order_by("seq"):
        items[item.item_id] = (
            item.version,
            item.sha256,
            item.name,
            item.deleted,
            item.has_conflict,
            sorted(
                (
                    (v.number, v.origin, v.parent, v.merge_parent, v.sha256, v.deleted, v.name)
                    for v in item.versions.all()
                ),
                key=lambda v: (v[0] is None, v[0] or 0, v[1:]),
            ),
            sorted(item.conflicts.values_list("status", "reason")),
        )
    return items


def _strip(result):
    item = result.get("item") or {}
    keep = ("version", "sha256", "deleted", "has_conflict", "name")
    return (result["status"], (result.get("error") or {}).get("code"), *map(item.get, keep))


def test_a_batch_ends_exactly_where_the_same_changes_one_by_one_end(
    user, other_user, make_device, client_for
):
    """Writes in a batch are buffered and sent together; the outcome must not show it."""
    now = datetime.now(UTC)
    story = _story(lambda seconds: (now - timedelta(seconds=seconds)).isoformat())
    batched = Device(client_for(make_device(user)[1]))
    single = Device(client_for(make_device(other_user)[1]))

    batch_results = batched.push(*story)["results"]
    single_results = [single.push_one(change) for change in story]
    assert [_strip(r) for r in batch_results] == [_strip(r) for r in single_results]
    assert [r["status"] for r in batch_results] == [
        "applied",
        "applied",
        "applied",
        "merged",
        "conflict",
        "applied",
        "conflict",
        "applied",
        "applied",
        "rejected",
        "conflict",
        "applied",
        "rejected",
        "merged",
        "rejected",
    ]
    assert _outcome(user) == _outcome(other_user)
    # One row per change id: not for the retry, the reused id or the malformed change.
    assert PushRecord.objects.filter(device__user=user).count() == 12
    pulled = {c["id"]: c for c in batched.pull_all()[0]}
    assert len(pulled) == 3
    assert {c["content"] for c in pulled.values() if c["kind"] == "text"} == {
        "uno\ntwo\nthree\nfour\nfive\n",  # the later of the overlapping edits
        "back",
    }


def test_push_where_a_multi_row_insert_cannot_return_keys(phone, monkeypatch):
    """SQLite before 3.35 (which Django 5.2 still supports) inserts items one by one."""
    from django.db import connection

    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    first, second = new_id(), new_id()
    body = phone.push(put(first, "one"), put(second, "two"), put(first, "one more", base=1))
    assert [r["status"] for r in body["results"]] == ["applied", "applied", "applied"]
    pulled = {c["id"]: c["content"] for c in phone.pull()["changes"]}
    assert pulled == {first: "one more", second: "two"}
    assert Version.objects.count() == 3


_LINES = ["alpha\n", "beta\n", "gamma\n", "delta\n"]


@st.composite
def _stories(draw):
    """Random batches over three items: puts of texts built from a few lines (so edits
    merge, overlap or repeat), deletes, any base version, retries of earlier changes."""
    ids = [new_id() for _ in range(3)]
    changes = []
    for _ in range(draw(st.integers(1, 12))):
        if changes and draw(st.integers(0, 9)) == 0:
            changes.append(draw(st.sampled_from(changes)))  # a retry
            continue
        item_id = draw(st.sampled_from(ids))
        base = draw(st.sampled_from([None, 0, 1, 2, 3]))
        if draw(st.integers(0, 4)) == 0:
            changes.append(delete(item_id, base=base))
        else:
            lines = draw(st.lists(st.sampled_from(_LINES), min_size=0, max_size=5))
            changes.append(
                put(item_id, "".join(lines), base=base, modified_at_offset=draw(st.integers(1, 99)))
            )
    return changes


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(story=_stories())
def test_random_batches_end_where_the_same_changes_one_by_one_end(
    story, make_user, make_device, client_for
):
    now = datetime.now(UTC)
    for change in story:
        offset = change.pop("modified_at_offset", None)
        if offset is not None:
            change["modified_at"] = (now - timedelta(seconds=offset)).isoformat()
    batched_user, single_user = make_user(), make_user()
    batched = Device(client_for(make_device(batched_user)[1]))
    single = Device(client_for(make_device(single_user)[1]))
    batch_results = batched.push(*story)["results"]
    single_results = [single.push_one(change) for change in story]
    assert [_strip(r) for r in batch_results] == [_strip(r) for r in single_results]
    assert _outcome(batched_user) == _outcome(single_user)
