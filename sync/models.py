"""Items, their immutable versions, the per-user change sequence, the push ledger,
conflicts and data keys."""

from __future__ import annotations

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


class Item(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text"
        BINARY = "binary"

    pk_id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Chosen by clients, scoped to their user: two users may hold the same id.
    item_id = models.UUIDField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=255, blank=True)
    head = models.ForeignKey("Version", on_delete=models.PROTECT, related_name="+", null=True)
    version = models.PositiveIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
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
        return self.name or str(self.item_id)


class Version(models.Model):
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
    name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=255, blank=True)
    deleted = models.BooleanField(default=False)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
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
        # The item's name (plaintext metadata, like Item.__str__); never content.
        return f"{self.item} · v{self.number}" if self.number else f"{self.item} · kept aside"


class PushRecord(models.Model):
    """The exactly-once ledger: written in the same transaction as the change it records,
    so a retry finds either nothing (the change did not commit) or the stored result."""

    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE, related_name="+")
    change_id = models.UUIDField()
    request_hash = models.CharField(max_length=64)
    result = models.JSONField()
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
