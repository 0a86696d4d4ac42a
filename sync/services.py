"""Every write to synced content.

The mechanisms (see docs/architecture.md):
- Gap-free cursor: a write locks the user's SyncState row (`select_for_update`), takes
  the next sequence numbers and commits; one user's commits are thereby in sequence order.
- Exactly-once push: the (device, change_id) ledger row with its stored result is written
  in the same transaction as the change it records.
- Writes are buffered per transaction (`WriteContext.flush`): a push of 100 new items is
  one insert per table, not 400 statements. A change is checked in full before it writes
  anything (`check_change`), so a rejected change never leaves a write to undo.
- Side effects after commit: sockets are nudged with `transaction.on_commit`.
- Merge is pure (`sync.merging`), encryption is pure (`sync.crypto`).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone

from accounts import realtime
from accounts.audit import Kind as AuditKind
from accounts.audit import audit_record
from accounts.models import Device, User
from cloudsaves.errors import ApplicationError, InvalidInput, NotFound
from cloudsaves.errors import Conflict as ConflictError

from . import crypto, keys
from .changes import Change, Rejected, check_size, parse_change, peek_uuid, result_dict
from .merging import merge3
from .models import Conflict, Item, PushRecord, SyncState, Version

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# What a write can change on an item row.
ITEM_STATE_FIELDS = [
    "meta",  # name, content type and sha256, sealed
    "head",
    "version",
    "size",
    "modified_at",
    "updated_at",
    "deleted",
    "has_conflict",
    "seq",
    "device",
]


class TooManyChanges(ApplicationError):
    status_code = 413
    code = "too_many_changes"


class PreconditionFailed(ApplicationError):
    status_code = 412
    code = "precondition_failed"
    default_message = "The item changed since the version you named."


class Stale(ConflictError):
    code = "stale"
    default_message = "The item changed since you loaded it: reload and decide again."


class ItemExists(ConflictError):
    code = "exists"
    default_message = "An item with this id already exists."


@dataclass
class WriteContext:
    """One transaction's view of a user's content: the locked sequence, the data key and
    the items touched so far."""

    user: User
    device: Device | None
    now: datetime
    state: SyncState
    key: bytes
    items: dict[uuid.UUID, Item | None] = field(default_factory=dict)
    conflicts: list[uuid.UUID] = field(default_factory=list)
    seq_start: int = 0
    # Writes not yet sent to the database, and the items they concern.
    new_items: list[Item] = field(default_factory=list)
    new_versions: list[Version] = field(default_factory=list)
    changed_items: dict[int, Item] = field(default_factory=dict)
    new_records: list[PushRecord] = field(default_factory=list)
    pending: set[uuid.UUID] = field(default_factory=set)

    @property
    def device_id(self):
        return self.device.id if self.device else None

    def next_seq(self) -> int:
        self.state.last_seq += 1
        return self.state.last_seq

    # -- buffered writes --------------------------------------------------------------

    def insert_item(self, item: Item, head: Version) -> None:
        self.new_items.append(item)
        self.new_versions.append(head)
        self.pending.add(item.item_id)

    def insert_version(self, version: Version) -> None:
        self.new_versions.append(version)
        self.pending.add(version.item.item_id)

    def save_item(self, item: Item) -> None:
        """Write the item's state at the next flush (a new item is inserted as it is then)."""
        if item.pk_id is not None:
            self.changed_items[item.pk_id] = item
        self.pending.add(item.item_id)

    def record(self, record: PushRecord) -> None:
        self.new_records.append(record)

    def flush(self) -> None:
        """Send the buffered writes, one statement per table. Items go first (versions
        need their keys); an item names its head version before that row exists, which
        the deferred foreign keys allow until commit. Metadata is sealed here, once per
        row written, whatever changed it before."""
        for obj in (*self.new_items, *self.new_versions, *self.changed_items.values()):
            obj.seal_meta(self.key)
        if self.new_items:
            _insert_items(self.new_items)
        if self.new_versions:
            _insert_rows(Version, self.new_versions)
        if self.changed_items:
            Item.objects.bulk_update(list(self.changed_items.values()), ITEM_STATE_FIELDS)
        if self.new_records:
            _insert_rows(PushRecord, self.new_records)
        self.new_items, self.new_versions, self.new_records = [], [], []
        self.changed_items = {}
        self.pending = set()

    # -- content ----------------------------------------------------------------------

    def seal(self, item: Item, version_id: uuid.UUID, content: bytes) -> bytes:
        aad = keys.content_aad(user_id=self.user.id, item_id=item.item_id, version_id=version_id)
        return crypto.seal(self.key, content, aad)

    def content_of(self, item: Item, version: Version) -> bytes:
        return open_version(self.key, self.user.id, version, item_id=item.item_id)


def open_version(key: bytes, user_id: int, version: Version, *, item_id: uuid.UUID) -> bytes:
    aad = keys.content_aad(user_id=user_id, item_id=item_id, version_id=version.id)
    return crypto.open_sealed(key, version.sealed, aad)


def _insert_items(items: list[Item]) -> None:
    """Insert new items; their keys are needed by the versions that follow."""
    connection = connections[router.db_for_write(Item)]
    if connection.features.can_return_rows_from_bulk_insert:
        Item.objects.bulk_create(items)
    else:  # SQLite before 3.35 cannot say which keys a multi-row insert made
        for item in items:
            item.save(force_insert=True)


def _insert_rows(model: type[models.Model], objs: list[models.Model]) -> None:
    """Insert rows whose keys the caller does not need back. On PostgreSQL one INSERT is
    sent per row in a pipeline (psycopg's executemany): for rows carrying sealed content
    that is half the time of bulk_create, which packs every column into an array literal
    on the client. Elsewhere, bulk_create."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, AutoFieldMixin))  # the database numbers it
    ]
    quote = connection.ops.quote_name
    # Only the model's own table and column names go into the text, quoted.
    statement = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608  # nosec B608
        quote(model._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    rows = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        rows.append([f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields])
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)


def _begin(user: User, device: Device | None) -> WriteContext:
    """Lock the user's sequence for the rest of the transaction."""
    locked = SyncState.objects.select_for_update().annotate(wrapped_key=keys.wrapped_key())
    state = locked.filter(user=user).first()
    if state is None:  # the user's first write
        SyncState.objects.get_or_create(user=user)
        state = locked.get(user=user)
    if state.wrapped_key is not None:
        key = keys.unwrap(user.id, state.wrapped_key)
    else:
        key = keys.data_key(user.id, create=True)
    ctx = WriteContext(user=user, device=device, now=timezone.now(), state=state, key=key)
    ctx.seq_start = state.last_seq
    return ctx


def _finish(ctx: WriteContext) -> None:
    ctx.flush()
    if ctx.state.last_seq != ctx.seq_start:
        ctx.state.save(update_fields=["last_seq"])
        realtime.notify_user(ctx.user.id, {"type": "sync.changed", "seq": ctx.state.last_seq})
    for conflict_id in ctx.conflicts:
        realtime.notify_user(
            ctx.user.id, {"type": "sync.conflict", "conflict_id": str(conflict_id)}
        )


def _load_items(ctx: WriteContext, item_ids: list[uuid.UUID]) -> None:
    """Read the items a transaction is about to touch, once; ids found missing are
    remembered as None so a new item costs no second look."""
    missing = [i for i in item_ids if i not in ctx.items]
    if missing:
        ctx.items.update(dict.fromkeys(missing))
        for item in (
            Item.objects.filter(user=ctx.user, item_id__in=missing)
            .select_related("head")
            .defer("head__sealed")
        ):
            item.use_key(ctx.key)
            if item.head is not None:
                item.head.item = item  # the head's metadata opens with the item's key
            ctx.items[item.item_id] = item


# -- versions and heads ---------------------------------------------------------------------


def _new_version(
    ctx: WriteContext,
    item: Item,
    *,
    content: bytes,
    origin: str,
    numbered: bool = True,
    name: str,
    content_type: str,
    modified_at: datetime,
    deleted: bool = False,
    merge_parent: int | None = None,
) -> Version:
    version_id = uuid.uuid4()
    version = Version(
        id=version_id,
        item=item,
        number=item.version + 1 if numbered else None,
        parent=item.version or None,
        merge_parent=merge_parent,
        origin=origin,
        name=name,
        content_type=content_type,
        deleted=deleted,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        sealed=ctx.seal(item, version_id, content),
        device=ctx.device,
        modified_at=modified_at,
        created_at=ctx.now,
    )
    ctx.insert_version(version)
    return version


def _set_head(ctx: WriteContext, item: Item, version: Version) -> None:
    item.head = version
    item.version = version.number
    item.size = version.size
    item.sha256 = version.sha256
    item.name = version.name
    item.content_type = version.content_type
    item.deleted = version.deleted
    item.modified_at = version.modified_at
    item.device_id = version.device_id
    _touch(ctx, item)


def _touch(ctx: WriteContext, item: Item) -> None:
    """Give the item a new place in the change sequence (its state changed)."""
    item.updated_at = ctx.now
    item.seq = ctx.next_seq()
    ctx.save_item(item)


def _refresh_conflict_flag(item: Item) -> None:
    item.has_conflict = Conflict.objects.filter(item=item, status=Conflict.Status.OPEN).exists()


def _record_conflict(
    ctx: WriteContext,
    item: Item,
    *,
    status: str,
    reason: str,
    base: Version | None,
    server: Version,
    incoming: Version,
    result: Version | None,
) -> Conflict:
    ctx.flush()  # the versions it names
    conflict = Conflict.objects.create(
        user=ctx.user,
        item=item,
        status=status,
        reason=reason,
        base=base,
        server=server,
        incoming=incoming,
        result=result,
        created_at=ctx.now,
    )
    ctx.conflicts.append(conflict.id)
    return conflict


# -- applying one change -------------------------------------------------------------------


def _merge_name(base: str | None, head: str, incoming: str) -> str:
    """Metadata merges three-way too: take the incoming value only if the head did not
    change it since the base."""
    if base is None or head == base:
        return incoming
    return head


def _create_item(ctx: WriteContext, change: Change) -> dict[str, Any]:
    kind = _new_item_kind(change)
    item = _insert_item(
        ctx,
        item_id=change.item_id,
        kind=kind,
        name=change.name or "",
        content_type=change.content_type
        or ("text/plain; charset=utf-8" if kind == Item.Kind.TEXT else "application/octet-stream"),
        content=change.content_bytes() or b"",
        modified_at=change.modified_at,
    )
    return result_dict(change.change_id, "applied", item=item)


def _insert_item(
    ctx: WriteContext,
    *,
    item_id: uuid.UUID,
    kind: str,
    name: str,
    content_type: str,
    content: bytes,
    modified_at: datetime,
) -> Item:
    """A new item with its first version as the head."""
    version_id = uuid.uuid4()
    item = Item(
        user=ctx.user,
        item_id=item_id,
        kind=kind,
        name=name,
        content_type=content_type,
        head_id=version_id,
        version=1,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        modified_at=modified_at,
        updated_at=ctx.now,
        seq=ctx.next_seq(),
        device=ctx.device,
    )
    item.head = Version(
        id=version_id,
        item=item,
        number=1,
        origin=Version.Origin.CREATE,
        name=name,
        content_type=content_type,
        size=item.size,
        sha256=item.sha256,
        sealed=ctx.seal(item, version_id, content),
        device=ctx.device,
        modified_at=modified_at,
        created_at=ctx.now,
    )
    ctx.insert_item(item, item.head)
    ctx.items[item.item_id] = item
    return item


def _base_version(item: Item, number: int | None) -> Version | None:
    if not number:
        return None
    if item.head is not None and item.head.number == number:
        return item.head
    version = Version.objects.filter(item=item, number=number).first()
    if version is not None:
        version.item = item
    return version


def _new_item_kind(change: Change) -> str:
    return change.kind or (Item.Kind.BINARY if change.data is not None else Item.Kind.TEXT)


def check_change(item: Item | None, change: Change) -> None:
    """Every reason to reject a change, raised before the change writes anything."""
    if item is None:
        if change.op == "delete":
            raise Rejected("not_found", "There is no such item to delete.")
        if change.base_version not in (None, 0):
            raise Rejected(
                "bad_base_version", "The item does not exist, so it has no such version."
            )
        kind = _new_item_kind(change)
        if kind == Item.Kind.TEXT and change.data is not None:
            raise Rejected("invalid", "A text item takes 'content', not 'content_b64'.")
        if kind == Item.Kind.BINARY and change.text is not None:
            raise Rejected("invalid", "A binary item takes 'content_b64', not 'content'.")
        return
    if change.kind is not None and change.kind != item.kind:
        raise Rejected("invalid", f"This item is {item.kind}; its kind cannot change.")
    if item.kind == Item.Kind.TEXT and change.data is not None:
        raise Rejected("invalid", "A text item takes 'content', not 'content_b64'.")
    if item.kind == Item.Kind.BINARY and change.text is not None:
        raise Rejected("invalid", "A binary item takes 'content_b64', not 'content'.")
    if change.base_version is not None and change.base_version > item.version:
        raise Rejected(
            "bad_base_version",
            f"base_version {change.base_version} is ahead of the head version {item.version}.",
        )


def apply_change(ctx: WriteContext, change: Change) -> dict[str, Any]:
    """Apply one checked-in-full change; raises Rejected only before writing anything."""
    if change.item_id in ctx.pending:
        ctx.flush()  # what follows may read the rows this batch wrote to the item
    item = ctx.items.get(change.item_id)
    check_change(item, change)
    if item is None:
        return _create_item(ctx, change)
    stale = change.base_version is None or change.base_version < item.version
    if change.op == "delete":
        return _apply_delete(ctx, item, change, stale)
    return _apply_put(ctx, item, change, stale)


def _apply_delete(ctx: WriteContext, item: Item, change: Change, stale: bool) -> dict[str, Any]:
    if item.deleted:
        return result_dict(change.change_id, "unchanged", item=item)
    if not stale:
        version = _new_version(
            ctx,
            item,
            content=b"",
            origin=Version.Origin.DELETE,
            name=item.name,
            content_type=item.content_type,
            modified_at=change.modified_at,
            deleted=True,
        )
        _set_head(ctx, item, version)
        return result_dict(change.change_id, "applied", item=item)
    # The head was edited since the device's base: the edit wins, the delete is recorded.
    kept = _new_version(
        ctx,
        item,
        content=b"",
        origin=Version.Origin.DELETE,
        numbered=False,
        name=item.name,
        content_type=item.content_type,
        modified_at=change.modified_at,
        deleted=True,
    )
    conflict = _record_conflict(
        ctx,
        item,
        status=Conflict.Status.AUTO_RESOLVED,
        reason=Conflict.Reason.EDIT_WINS_OVER_DELETE,
        base=_base_version(item, change.base_version),
        server=item.head,
        incoming=kept,
        result=item.head,
    )
    return result_dict(change.change_id, "conflict", item=item, conflict_id=conflict.id)


def _apply_put(ctx: WriteContext, item: Item, change: Change, stale: bool) -> dict[str, Any]:
    base = _base_version(item, change.base_version)
    head = item.head
    if change.has_content:
        incoming = change.content_bytes()
    else:  # a metadata-only change keeps the content the device had
        incoming = ctx.content_of(item, base if base is not None and stale else head)
    base_name = base.name if base is not None else None
    base_type = base.content_type if base is not None else None
    name = change.name if change.name is not None else (base_name or item.name)
    content_type = (
        change.content_type if change.content_type is not None else (base_type or item.content_type)
    )
    if stale:
        name = _merge_name(base_name, item.name, name)
        content_type = _merge_name(base_type, item.content_type, content_type)
    incoming_sha = hashlib.sha256(incoming).hexdigest()
    if (
        not item.deleted
        and incoming_sha == item.sha256
        and name == item.name
        and content_type == item.content_type
    ):
        return result_dict(change.change_id, "unchanged", item=item)

    def new_head(content: bytes, origin: str, **extra) -> Version:
        version = _new_version(
            ctx,
            item,
            content=content,
            origin=origin,
            name=name,
            content_type=content_type,
            modified_at=extra.pop("modified_at", change.modified_at),
            **extra,
        )
        _set_head(ctx, item, version)
        return version

    if not stale:
        new_head(incoming, Version.Origin.EDIT)
        return result_dict(change.change_id, "applied", item=item)

    if item.deleted:
        # A put on a head that was deleted since the device's base: the edit wins and the
        # item comes back; the delete stays on record.
        version = new_head(incoming, Version.Origin.EDIT)
        conflict = _record_conflict(
            ctx,
            item,
            status=Conflict.Status.AUTO_RESOLVED,
            reason=Conflict.Reason.EDIT_WINS_OVER_DELETE,
            base=base,
            server=head,
            incoming=version,
            result=version,
        )
        return result_dict(change.change_id, "conflict", item=item, conflict_id=conflict.id)

    if item.kind == Item.Kind.TEXT:
        base_text = ctx.content_of(item, base).decode("utf-8") if base is not None else ""
        head_text = ctx.content_of(item, head).decode("utf-8")
        merged = merge3(base_text, head_text, incoming.decode("utf-8"))
        if merged.clean:
            if merged.text == head_text and name == item.name and content_type == item.content_type:
                return result_dict(change.change_id, "unchanged", item=item)
            kept = _keep_aside(ctx, item, change, incoming, name, content_type)
            version = new_head(
                merged.text.encode("utf-8"),
                Version.Origin.MERGE,
                merge_parent=change.base_version or None,
                modified_at=max(change.modified_at, head.modified_at),
            )
            conflict = _record_conflict(
                ctx,
                item,
                status=Conflict.Status.AUTO_RESOLVED,
                reason=Conflict.Reason.MERGED,
                base=base,
                server=head,
                incoming=kept,
                result=version,
            )
            return result_dict(change.change_id, "merged", item=item, conflict_id=conflict.id)
        status, reason = Conflict.Status.OPEN, Conflict.Reason.OVERLAPPING_EDITS
    else:
        status, reason = Conflict.Status.AUTO_RESOLVED, Conflict.Reason.NEWEST_WINS

    # Both sides changed the same thing: the later modification becomes the head (ties go
    # to the order of receipt, so the incoming change), the other is kept on the record.
    if change.modified_at >= head.modified_at:
        incoming_version = new_head(incoming, Version.Origin.EDIT)
        result = incoming_version
    else:
        incoming_version = _keep_aside(ctx, item, change, incoming, name, content_type)
        result = head
    conflict = _record_conflict(
        ctx,
        item,
        status=status,
        reason=reason,
        base=base,
        server=head,
        incoming=incoming_version,
        result=result,
    )
    if status == Conflict.Status.OPEN:
        item.has_conflict = True
        if result is head:
            _touch(ctx, item)  # the flag is news for every device
        else:
            ctx.save_item(item)
    return result_dict(change.change_id, "conflict", item=item, conflict_id=conflict.id)


def _keep_aside(
    ctx: WriteContext, item: Item, change: Change, content: bytes, name: str, content_type: str
) -> Version:
    return _new_version(
        ctx,
        item,
        content=content,
        origin=Version.Origin.EDIT,
        numbered=False,
        name=name,
        content_type=content_type,
        modified_at=change.modified_at,
    )


# -- push -----------------------------------------------------------------------------------


def _push_one(ctx: WriteContext, raw: Any, ledger: dict[uuid.UUID, PushRecord]) -> dict:
    change_id = peek_uuid(raw, "change_id")
    try:
        change = parse_change(raw, ctx.now)
    except Rejected as exc:
        # Not recorded: the same malformed change will be rejected the same way again.
        return result_dict(change_id, "rejected", error=(exc.code, exc.message))
    previous = ledger.get(change.change_id)
    request_hash = keys.keyed_hash(ctx.key, change.request_hash)
    if previous is not None:
        if hmac.compare_digest(previous.request_hash, request_hash):
            return keys.open_push_result(ctx.key, ctx.user.id, previous)
        return result_dict(
            change.change_id,
            "rejected",
            error=("change_id_reused", "This change id was already used for another change."),
        )
    _load_items(ctx, [change.item_id])
    try:
        result = apply_change(ctx, change)
    except Rejected as exc:  # raised before anything was written
        result = result_dict(change.change_id, "rejected", error=(exc.code, exc.message))
    record = PushRecord(
        device=ctx.device,
        change_id=change.change_id,
        request_hash=request_hash,
        created_at=ctx.now,
    )
    record.sealed_result = keys.seal_push_result(ctx.key, ctx.user.id, record, result)
    ctx.record(record)
    ledger[change.change_id] = record
    return result


def changes_push(*, user: User, device: Device, changes: list[Any]) -> tuple[list[dict], int]:
    """Apply a batch of changes, each atomic on its own, all-or-nothing durable together.
    Returns the results in request order and the sequence after the batch."""
    if len(changes) > settings.CLOUDSAVES_MAX_BATCH_CHANGES:
        raise TooManyChanges(
            f"A push takes at most {settings.CLOUDSAVES_MAX_BATCH_CHANGES} changes.",
            details={"max_batch_changes": settings.CLOUDSAVES_MAX_BATCH_CHANGES},
        )
    with transaction.atomic():
        ctx = _begin(user, device)
        change_ids = [c for c in (peek_uuid(r, "change_id") for r in changes) if c]
        ledger = {
            r.change_id: r
            for r in PushRecord.objects.filter(device=device, change_id__in=change_ids)
        }
        _load_items(ctx, [i for i in (peek_uuid(r, "item_id") for r in changes) if i])
        results = [_push_one(ctx, raw, ledger) for raw in changes]
        _finish(ctx)
    return results, ctx.state.last_seq


# -- single-item writes for the REST views -------------------------------------------------


def item_write(
    *,
    user: User,
    device: Device | None,
    raw: dict[str, Any],
    data: bytes | None = None,
    if_match: int | None = None,
    create_only: bool = False,
) -> dict[str, Any]:
    """One change outside a push batch. `data` carries raw binary content (uploads) without a
    detour through base64. `if_match` is strict: unless the head is exactly that version
    nothing is written (412). `create_only` refuses an item id that exists (409)."""
    raw = {"change_id": str(uuid.uuid4()), **raw}
    with transaction.atomic():
        ctx = _begin(user, device)
        try:
            change = parse_change(raw, ctx.now)
            if data is not None:
                check_size(len(data))
                change.data = data
        except Rejected as exc:
            return result_dict(None, "rejected", error=(exc.code, exc.message))
        _load_items(ctx, [change.item_id])
        item = ctx.items.get(change.item_id)
        if create_only and item is not None:
            raise ItemExists()
        if if_match is not None:
            if item is None:
                raise NotFound("No such item.")
            if item.version != if_match:
                raise PreconditionFailed(details={"version": item.version})
            change.base_version = if_match
        try:
            result = apply_change(ctx, change)
        except Rejected as exc:
            result = result_dict(change.change_id, "rejected", error=(exc.code, exc.message))
        _finish(ctx)
    return result


def _own_item(ctx: WriteContext, item_id: uuid.UUID) -> Item:
    _load_items(ctx, [item_id])
    item = ctx.items.get(item_id)
    if item is None:
        raise NotFound("No such item.")
    return item


def item_restore(
    *, user: User, device: Device | None, item_id: uuid.UUID, version: int, base_version: int
) -> dict[str, Any]:
    """Make an earlier version the head again, as a new version."""
    with transaction.atomic():
        ctx = _begin(user, device)
        item = _own_item(ctx, item_id)
        if base_version != item.version:
            raise Stale(details={"version": item.version})
        old = Version.objects.filter(item=item, number=version).first()
        if old is None:
            raise NotFound("No such version.")
        restored = _new_version(
            ctx,
            item,
            content=ctx.content_of(item, old),
            origin=Version.Origin.RESTORE,
            name=old.name,
            content_type=old.content_type,
            deleted=old.deleted,
            modified_at=ctx.now,
            merge_parent=old.number,
        )
        _set_head(ctx, item, restored)
        _finish(ctx)
    return result_dict(None, "applied", item=item)


def conflict_resolve(
    *,
    user: User,
    device: Device | None,
    conflict_id: uuid.UUID,
    choice: str,
    base_version: int,
    content: str | None = None,
) -> dict[str, Any]:
    """Settle a conflict: keep the server's side, the incoming side, both (the other side
    becomes a conflicted copy), or a merge the user wrote. Resolving an auto-resolved record
    undoes the automatic decision."""
    with transaction.atomic():
        ctx = _begin(user, device)
        conflict = (
            Conflict.objects.select_related("item", "server", "incoming", "result")
            .filter(user=user, id=conflict_id)
            .first()
        )
        if conflict is None:
            raise NotFound("No such conflict.")
        item = _own_item(ctx, conflict.item.item_id)
        if conflict.status == Conflict.Status.RESOLVED:
            raise ConflictError("This conflict is already resolved.", code="already_resolved")
        if base_version != item.version:
            raise Stale(details={"version": item.version})
        if choice == Conflict.Resolution.MERGED:
            if item.kind != Item.Kind.TEXT or content is None:
                raise InvalidInput("'merged' takes the merged text in 'content' (text items).")
            chosen_content = content.encode("utf-8")
            chosen = None
        elif choice in (Conflict.Resolution.SERVER, Conflict.Resolution.INCOMING):
            chosen = conflict.server if choice == Conflict.Resolution.SERVER else conflict.incoming
            chosen_content = ctx.content_of(item, chosen)
        elif choice == Conflict.Resolution.BOTH:
            chosen = None
            chosen_content = None
        else:
            raise InvalidInput("choice must be server, incoming, both or merged.")

        copy = None
        status = "unchanged"
        if choice == Conflict.Resolution.BOTH:
            # The side the automatic decision did not put at the head becomes the copy.
            other = (
                conflict.server if conflict.result_id == conflict.incoming_id else conflict.incoming
            )
            if other.deleted or other.id == item.head_id:
                raise InvalidInput("Nothing to keep as a copy: one side is a delete.")
            copy = _conflicted_copy(ctx, item, other)
        else:
            deleted = chosen.deleted if chosen is not None else False
            same = (
                item.sha256 == hashlib.sha256(chosen_content).hexdigest()
                and item.deleted == deleted
            )
            if not same:
                new = _new_version(
                    ctx,
                    item,
                    content=chosen_content,
                    origin=Version.Origin.RESOLVE,
                    name=chosen.name if chosen is not None else item.name,
                    content_type=chosen.content_type if chosen is not None else item.content_type,
                    deleted=deleted,
                    modified_at=ctx.now,
                    merge_parent=chosen.number if chosen is not None else None,
                )
                _set_head(ctx, item, new)
                status = "applied"
        conflict.status = Conflict.Status.RESOLVED
        conflict.resolution = choice
        conflict.resolved_at = ctx.now
        conflict.save(update_fields=["status", "resolution", "resolved_at"])
        was_flagged = item.has_conflict
        _refresh_conflict_flag(item)
        if status == "unchanged" and was_flagged != item.has_conflict:
            _touch(ctx, item)
        _finish(ctx)
        audit_record(
            AuditKind.CONFLICT_RESOLVED,
            user=user,
            device=device,
            conflict_id=conflict.id,
            choice=choice,
        )
    result = result_dict(None, status, item=item, conflict_id=conflict.id)
    if copy is not None:
        result["copy"] = result_dict(None, "applied", item=copy)["item"]
    return result


def _conflicted_copy(ctx: WriteContext, item: Item, version: Version) -> Item:
    device = Device.objects.filter(id=version.device_id).first()
    if device is not None:
        device.use_key(ctx.key)
    writer = (device.name if device is not None else "") or "unknown device"
    name = (
        f"{version.name or item.name} (conflicted copy, {writer}, {version.modified_at:%Y-%m-%d})"
    )
    return _insert_item(
        ctx,
        item_id=uuid.uuid4(),
        kind=item.kind,
        name=name[:255],
        content_type=version.content_type,
        content=ctx.content_of(item, version),
        modified_at=version.modified_at,
    )


def tombstones_purge(*, user: User, before: datetime) -> int:
    """Forget deleted items whose delete is older than `before`. Cursors from before the
    newest purged change can no longer be served and must resync from scratch."""
    with transaction.atomic():
        ctx = _begin(user, None)
        doomed = Item.objects.filter(user=user, deleted=True, updated_at__lt=before)
        newest = max((i.seq for i in doomed), default=0)
        count = 0
        for item in doomed:
            Conflict.objects.filter(item=item).delete()
            Item.objects.filter(pk_id=item.pk_id).update(head=None)
            Version.objects.filter(item=item).delete()
            item.delete()
            count += 1
        if newest > ctx.state.purged_seq:
            ctx.state.purged_seq = newest
            ctx.state.save(update_fields=["purged_seq"])
    return count
