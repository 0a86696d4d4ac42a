"""Items, their immutable versions, the per-user change sequence, the push ledger,
conflicts and data keys."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class DataKey(models.Model):
    """A user's content key, stored only wrapped by a key-encryption key."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    rewrapped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"data key of user {self.user_id}"


class SyncState(models.Model):
    """The user's change sequence. Every write locks this row, takes `last_seq + 1` and
    commits, so one user's commits land in sequence order and a reader that asks for
    "seq > cursor" can never skip a slower transaction."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_seq = models.BigIntegerField(default=0)
    # Tombstones at or below this sequence were purged: older cursors must resync.
    purged_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"user {self.user_id} at {self.last_seq}"


_EMPTY_META = {"n": "", "t": "", "h": ""}


class SealedMetadata(models.Model):
    """Name, content type and content SHA-256, stored sealed as one value (`meta`) under
    the user's data key, with additional data naming the row: a database reader learns
    none of them, nor can confirm a guessed content by its hash.

    The three read and write as plain attributes. Decryption needs the user's data key:
    code that holds it already sets it with `use_key()` (the write context, pulls);
    otherwise the first read looks it up. `seal_meta()` must run before the row is
    written (services.WriteContext.flush does)."""

    meta = models.BinaryField(default=b"", editable=False)

    class Meta:
        abstract = True

    def meta_aad(self) -> bytes:
        raise NotImplementedError

    def meta_user_id(self) -> int:
        raise NotImplementedError

    def inherited_key(self) -> bytes | None:
        return None

    def use_key(self, key: bytes | None) -> None:
        self.__dict__["_meta_key"] = key

    def _meta_values(self) -> dict[str, str]:
        values = self.__dict__.get("_opened_meta")
        if values is None:
            if self.meta:
                from . import crypto, keys

                key = (
                    self.__dict__.get("_meta_key")
                    or self.inherited_key()
                    or keys.data_key(self.meta_user_id())
                )
                values = json.loads(crypto.open_sealed(key, self.meta, self.meta_aad()))
            else:
                values = dict(_EMPTY_META)
            self.__dict__["_opened_meta"] = values
        return values

    def seal_meta(self, key: bytes) -> None:
        from . import crypto

        plain = json.dumps(self._meta_values(), ensure_ascii=False, separators=(",", ":"))
        self.meta = crypto.seal(key, plain.encode(), self.meta_aad())

    def _get(self, field: str) -> str:
        return self._meta_values()[field]

    def _set(self, field: str, value: str) -> None:
        self._meta_values()[field] = value or ""

    name = property(lambda self: self._get("n"), lambda self, v: self._set("n", v))
    content_type = property(lambda self: self._get("t"), lambda self, v: self._set("t", v))
    sha256 = property(lambda self: self._get("h"), lambda self, v: self._set("h", v))


def open_meta(key: bytes, aad: bytes, sealed: bytes | memoryview) -> dict[str, str]:
    """The metadata of a row read as plain values (a pull), not as a model instance."""
    from . import crypto

    if not sealed:
        return dict(_EMPTY_META)
    return json.loads(crypto.open_sealed(key, bytes(sealed), aad))


def item_meta_aad(user_id: int, item_id: uuid.UUID) -> bytes:
    return f"cloudsaves/meta/v1/{user_id}/{item_id}/item".encode()


def version_meta_aad(user_id: int, item_id: uuid.UUID, version_id: uuid.UUID) -> bytes:
    return f"cloudsaves/meta/v1/{user_id}/{item_id}/{version_id}".encode()


class Item(SealedMetadata):
    class Kind(models.TextChoices):
        TEXT = "text"
        BINARY = "binary"

    pk_id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Chosen by clients, scoped to their user: two users may hold the same id.
    item_id = models.UUIDField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    head = models.ForeignKey("Version", on_delete=models.PROTECT, related_name="+", null=True)
    version = models.PositiveIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    modified_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted = models.BooleanField(default=False)
    has_conflict = models.BooleanField(default=False)
    seq = models.BigIntegerField(default=0)
    device = models.ForeignKey(
        "accounts.Device", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "item_id"], name="item_unique_per_user"),
        ]
        indexes = [models.Index(fields=["user", "seq"], name="item_user_seq")]

    def __str__(self) -> str:
        # Never the name: it is sealed, and staff see metadata only.
        return str(self.item_id)

    def meta_aad(self) -> bytes:
        return item_meta_aad(self.user_id, self.item_id)

    def meta_user_id(self) -> int:
        return self.user_id


class Version(SealedMetadata):
    class Origin(models.TextChoices):
        CREATE = "create"
        EDIT = "edit"
        MERGE = "merge"
        RESTORE = "restore"
        RESOLVE = "resolve"
        DELETE = "delete"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="versions")
    # Head lineage is numbered 1, 2, 3... A version kept aside (the losing side of a
    # conflict, a merge input) has no number: it lives on its conflict record.
    number = models.PositiveIntegerField(null=True, blank=True)
    parent = models.PositiveIntegerField(null=True, blank=True)
    merge_parent = models.PositiveIntegerField(null=True, blank=True)
    origin = models.CharField(max_length=8, choices=Origin.choices)
    deleted = models.BooleanField(default=False)
    size = models.BigIntegerField()
    sealed = models.BinaryField()
    device = models.ForeignKey(
        "accounts.Device", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    modified_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "number"],
                condition=Q(number__isnull=False),
                name="version_number_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.item} · v{self.number}" if self.number else f"{self.item} · kept aside"

    def meta_aad(self) -> bytes:
        return version_meta_aad(self.item.user_id, self.item.item_id, self.id)

    def meta_user_id(self) -> int:
        return self.item.user_id

    def inherited_key(self) -> bytes | None:
        item = self._state.fields_cache.get("item")
        return item.__dict__.get("_meta_key") if item is not None else None


class PushRecord(models.Model):
    """The exactly-once ledger: written in the same transaction as the change it records,
    so a retry finds either nothing (the change did not commit) or the stored result."""

    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE, related_name="+")
    change_id = models.UUIDField()
    # Both keyed by the user's data key: the result names the item (sealed like its
    # metadata), and a plain hash of the change would confirm a guessed content.
    request_hash = models.CharField(max_length=64)
    sealed_result = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "change_id"], name="push_once_per_device")
        ]

    def __str__(self) -> str:
        return f"{self.device_id}/{self.change_id}"


class Conflict(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        AUTO_RESOLVED = "auto_resolved"
        RESOLVED = "resolved"

    class Reason(models.TextChoices):
        OVERLAPPING_EDITS = "overlapping_edits"
        NEWEST_WINS = "newest_wins"
        EDIT_WINS_OVER_DELETE = "edit_wins_over_delete"
        MERGED = "merged"

    class Resolution(models.TextChoices):
        SERVER = "server"
        INCOMING = "incoming"
        BOTH = "both"
        MERGED = "merged"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="conflicts")
    status = models.CharField(max_length=16, choices=Status.choices)
    reason = models.CharField(max_length=24, choices=Reason.choices)
    base = models.ForeignKey(Version, on_delete=models.PROTECT, null=True, related_name="+")
    server = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+")
    incoming = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+")
    # The head the automatic decision produced (the merge, or the winner).
    result = models.ForeignKey(Version, on_delete=models.PROTECT, null=True, related_name="+")
    resolution = models.CharField(max_length=8, choices=Resolution.choices, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "status", "created_at"])]

    def __str__(self) -> str:
        return f"Conflict on {self.item}"
