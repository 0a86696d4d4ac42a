"""Reads of synced content. Every query is filtered by its user: another user's ids answer
exactly like ids that do not exist."""

from __future__ import annotations

import base64
import uuid
from collections import namedtuple
from typing import Any

from django.conf import settings
from django.db.models import Q

from accounts.models import Device, User
from cloudsaves.errors import ApplicationError, NotFound

from . import crypto, keys
from .changes import (
    MAX_VERSION,
    BadCursor,
    cursor_signer,
    decode_cursor,
    encode_cursor,
    iso,
    item_dict,
)
from .merging import merge3
from .models import Conflict, Item, SyncState, Version, item_meta_aad, open_meta
from .services import open_version


class BadCursorError(ApplicationError):
    code = "bad_cursor"
    default_message = "The cursor is malformed or belongs to someone else."


class ResyncRequired(ApplicationError):
    status_code = 409
    code = "resync_required"
    default_message = "This cursor can no longer be served: discard it and pull from scratch."


def _state(user: User) -> tuple[int, int, bytes | None]:
    """The user's last sequence, purge point and wrapped data key, in one query."""
    row = (
        SyncState.objects.filter(user=user)
        .annotate(wrapped_key=keys.wrapped_key())
        .values_list("last_seq", "purged_seq", "wrapped_key")
        .first()
    )
    return row or (0, 0, None)


def _checked_cursor(user: User, cursor: str | None) -> tuple[int, bytes | None]:
    try:
        seq = decode_cursor(user.id, cursor)
    except BadCursor as exc:
        raise BadCursorError() from exc
    last_seq, purged_seq, wrapped = _state(user)
    if seq > last_seq:
        raise ResyncRequired("The cursor is ahead of the server (was it restored from a backup?).")
    if 0 < seq < purged_seq:
        raise ResyncRequired("Deleted items older than this cursor were purged.")
    return seq, wrapped


def cursor_seq(*, user: User, cursor: str | None) -> int:
    """The sequence number a client's cursor stands for, checked against the server."""
    return _checked_cursor(user, cursor)[0]


def content_url(item_id: uuid.UUID, number: int) -> str:
    return f"/api/v1/items/{item_id}/versions/{number}/content"


def with_content(item: Item, key: bytes | None) -> dict[str, Any]:
    """An item with its head content, as pulls and item reads carry it."""
    head = item.head
    return _add_content(item_dict(item), item, head.id if head else None, head, key)


def _add_content(
    data: dict[str, Any], item: Any, head_id: uuid.UUID | None, head: Any, key: bytes | None
) -> dict[str, Any]:
    """`item` is an Item or a pull row with the same attribute names; `head` anything with
    a `sealed` attribute."""
    if item.deleted or head_id is None or key is None:
        return data
    if item.kind == Item.Kind.BINARY and item.size > settings.CLOUDSAVES_INLINE_BINARY_MAX:
        data["content_url"] = content_url(item.item_id, item.version)
        return data
    aad = keys.content_aad(user_id=item.user_id, item_id=item.item_id, version_id=head_id)
    content = crypto.open_sealed(key, head.sealed, aad)
    if item.kind == Item.Kind.TEXT:
        data["content"] = content.decode("utf-8")
    else:
        data["content_b64"] = base64.b64encode(content).decode("ascii")
    return data


# A pull reads plain rows, not model instances: at 500 items a page that is a quarter of
# the time. The names match Item's attributes so item_dict reads both.
_PULL_COLUMNS = (
    "user_id",
    "item_id",
    "kind",
    "meta",
    "version",
    "size",
    "modified_at",
    "updated_at",
    "deleted",
    "has_conflict",
    "seq",
    "device_id",
    "head_id",
    "head__sealed",
)
_PullRow = namedtuple(
    "_PullRow",
    [c.replace("head__", "") for c in _PULL_COLUMNS if c != "meta"]
    + ["name", "content_type", "sha256"],
)


def _pull_row(values: tuple, key: bytes | None) -> _PullRow:
    """A pull row with its metadata opened (everything but `meta` as read)."""
    row = dict(zip(_PULL_COLUMNS, values, strict=True))
    sealed = row.pop("meta")
    meta = open_meta(key, item_meta_aad(row["user_id"], row["item_id"]), sealed) if key else {}
    row["sealed"] = row.pop("head__sealed")
    return _PullRow(
        **row, name=meta.get("n", ""), content_type=meta.get("t", ""), sha256=meta.get("h", "")
    )


def changes_since(
    *, user: User, since: str | None, limit: int = 500, key: bytes | None = None
) -> dict[str, Any]:
    """Every item whose latest change is after `since`, in sequence order, latest state
    only. Paging with the returned cursor until `has_more` is false sees every committed
    change exactly once: writers of one user commit in sequence order (services._begin).
    `key` is the user's data key if the caller already holds it (a long-lived socket)."""
    seq, wrapped = _checked_cursor(user, since)
    values = list(
        Item.objects.filter(user=user, seq__gt=seq)
        .order_by("seq")
        .values_list(*_PULL_COLUMNS)[: limit + 1]
    )
    has_more = len(values) > limit
    values = values[:limit]
    if values and key is None and wrapped is not None:
        key = keys.unwrap(user.id, wrapped)
    rows = [_pull_row(row, key) for row in values]
    signer = cursor_signer(user.id)
    return {
        "changes": [
            _add_content(item_dict(row, signer), row, row.head_id, row, key) for row in rows
        ],
        "cursor": encode_cursor(user.id, rows[-1].seq if rows else seq),
        "has_more": has_more,
    }


def sync_status(*, user: User, since: str | None) -> dict[str, Any]:
    seq = cursor_seq(user=user, cursor=since)
    last_seq = _state(user)[0]
    return {
        "cursor": encode_cursor(user.id, last_seq),
        "behind": Item.objects.filter(user=user, seq__gt=seq).count(),
    }


def latest_cursor(*, user: User) -> str:
    return encode_cursor(user.id, _state(user)[0])


# -- items and versions ---------------------------------------------------------------------


def item_list(
    *,
    user: User,
    kind: str | None = None,
    deleted: bool | None = False,
    has_conflict: bool | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[Item]:
    """Up to `limit` items from `offset`, most recently changed first. Names are sealed,
    so `q` (name contains, ignoring case) is matched here on the opened names of the
    user's items rather than by the database."""
    qs = Item.objects.filter(user=user)
    if kind:
        qs = qs.filter(kind=kind)
    if deleted is not None:
        qs = qs.filter(deleted=deleted)
    if has_conflict is not None:
        qs = qs.filter(has_conflict=has_conflict)
    qs = qs.order_by("-updated_at", "pk_id")
    key = keys.data_key(user.id)
    if not q:
        items = list(qs[offset : offset + limit])
    else:
        needle = q.casefold()
        items = []
        for item in qs.defer("head").iterator(chunk_size=500):
            item.use_key(key)
            if needle in item.name.casefold():
                items.append(item)
        items = items[offset : offset + limit]
    for item in items:
        item.use_key(key)
    return items


def item_get(*, user: User, item_id: uuid.UUID) -> Item:
    item = Item.objects.filter(user=user, item_id=item_id).select_related("head").first()
    if item is None:
        raise NotFound("No such item.")
    item.use_key(keys.data_key(user.id))
    if item.head is not None:
        item.head.item = item
    return item


def item_with_content(*, user: User, item_id: uuid.UUID) -> dict[str, Any]:
    item = item_get(user=user, item_id=item_id)
    return with_content(item, keys.data_key(user.id))


def version_list(*, user: User, item_id: uuid.UUID, window: slice = slice(None)) -> list[Version]:
    """An item's numbered versions, newest first (the rows in `window` of them)."""
    item = item_get(user=user, item_id=item_id)
    versions = list(
        Version.objects.filter(item=item, number__isnull=False)
        .defer("sealed")
        .order_by("-number")[window]
    )
    for version in versions:
        version.item = item  # its metadata opens with the item's key
    return versions


def version_get(*, user: User, item_id: uuid.UUID, number: int) -> tuple[Item, Version]:
    item = item_get(user=user, item_id=item_id)
    version = (
        Version.objects.filter(item=item, number=number).first() if number <= MAX_VERSION else None
    )
    if version is None:
        raise NotFound("No such version.")
    version.item = item
    return item, version


def version_content(*, user: User, item: Item, version: Version) -> bytes:
    return open_version(keys.data_key(user.id), user.id, version, item_id=item.item_id)


def version_dict(version: Version, device_names: dict | None = None) -> dict[str, Any]:
    data = {
        "number": version.number,
        "parent": version.parent,
        "merge_parent": version.merge_parent,
        "origin": version.origin,
        "name": version.name,
        "content_type": version.content_type,
        "deleted": version.deleted,
        "size": version.size,
        "sha256": version.sha256,
        "device_id": str(version.device_id) if version.device_id else None,
        "modified_at": iso(version.modified_at),
        "created_at": iso(version.created_at),
    }
    if device_names is not None:
        data["device_name"] = device_names.get(version.device_id)
    return data


def version_with_content(
    version: Version, *, item: Item, key: bytes, device_names: dict
) -> dict[str, Any]:
    version.item = item
    version.use_key(key)
    data = version_dict(version, device_names)
    content = open_version(key, item.user_id, version, item_id=item.item_id)
    if item.kind == Item.Kind.TEXT:
        data["content"] = content.decode("utf-8")
    elif len(content) > settings.CLOUDSAVES_INLINE_BINARY_MAX and version.number:
        data["content_url"] = content_url(item.item_id, version.number)
    else:
        data["content_b64"] = base64.b64encode(content).decode("ascii")
    return data


# -- conflicts ------------------------------------------------------------------------------


def conflict_list(
    *, user: User, status: str | None = None, window: slice = slice(None)
) -> list[Conflict]:
    """The user's conflicts, newest first (the rows in `window` of them)."""
    qs = Conflict.objects.filter(user=user).select_related("item")
    if status:
        qs = qs.filter(status=status)
    conflicts = list(qs.order_by("-created_at", "-id")[window])
    if conflicts:
        key = keys.data_key(user.id)
        for conflict in conflicts:
            conflict.item.use_key(key)
    return conflicts


def conflict_summary(conflict: Conflict) -> dict[str, Any]:
    return {
        "id": str(conflict.id),
        "item_id": str(conflict.item.item_id),
        "item_name": conflict.item.name,
        "kind": conflict.item.kind,
        "status": conflict.status,
        "reason": conflict.reason,
        "resolution": conflict.resolution or None,
        "resolved_at": iso(conflict.resolved_at),
        "created_at": iso(conflict.created_at),
    }


def conflict_detail(*, user: User, conflict_id: uuid.UUID) -> dict[str, Any]:
    conflict = (
        Conflict.objects.select_related("item", "base", "server", "incoming")
        .filter(Q(user=user), id=conflict_id)
        .first()
    )
    if conflict is None:
        raise NotFound("No such conflict.")
    item = conflict.item
    key = keys.data_key(user.id)
    item.use_key(key)
    versions = [v for v in (conflict.base, conflict.server, conflict.incoming) if v is not None]
    names = {}
    for device in Device.objects.filter(id__in={v.device_id for v in versions if v.device_id}):
        device.use_key(key)  # device names are sealed under the same key
        names[device.id] = device.name

    def side(version: Version | None) -> dict[str, Any] | None:
        if version is None:
            return None
        return version_with_content(version, item=item, key=key, device_names=names)

    data = conflict_summary(conflict)
    data.update(
        base=side(conflict.base),
        server=side(conflict.server),
        incoming=side(conflict.incoming),
        head_version=item.version,
        hunks=[],
    )
    if item.kind == Item.Kind.TEXT and conflict.reason == Conflict.Reason.OVERLAPPING_EDITS:
        base_text = data["base"]["content"] if data["base"] else ""
        merged = merge3(base_text, data["server"]["content"], data["incoming"]["content"])
        data["hunks"] = [h.as_dict() for h in merged.hunks]
    return data
