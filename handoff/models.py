"""What each device has open, and offers to continue it on another device."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class HandoffSettings(models.Model):
    class Mode(models.TextChoices):
        PROMPT = "prompt"  # the target asks "Continue <item> from <device>?"
        AUTO = "auto"  # the target opens it at once
        OFF = "off"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    handoff_mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PROMPT)

    class Meta:
        verbose_name_plural = "handoff settings"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.handoff_mode}"


class Activity(models.Model):
    """The one thing a device has open now. The app state (caret, selection, scroll) is
    sealed like content: staff and database readers see only that there is one."""

    device = models.OneToOneField(
        "accounts.Device", on_delete=models.CASCADE, primary_key=True, related_name="activity"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("sync.Item", on_delete=models.CASCADE, related_name="+")
    item_version = models.PositiveIntegerField()
    sealed_state = models.BinaryField()
    state_size = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["user", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.device_id} on {self.item_id}"


class Offer(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        EXPIRED = "expired"
        SUPERSEDED = "superseded"

    class Origin(models.TextChoices):
        SWITCH = "switch"  # the target came to the foreground
        SEND = "send"  # the source sent it to the target

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    source_device = models.ForeignKey(
        "accounts.Device", on_delete=models.CASCADE, related_name="offers_made"
    )
    target_device = models.ForeignKey(
        "accounts.Device", on_delete=models.CASCADE, related_name="offers_received"
    )
    item = models.ForeignKey("sync.Item", on_delete=models.CASCADE, related_name="+")
    item_version = models.PositiveIntegerField()
    sealed_state = models.BinaryField()
    # When the source published the activity this offer carries.
    activity_at = models.DateTimeField()
    # The user's change sequence when the offer was made: the target pulls at least this
    # far before opening, so a handoff never opens stale content.
    cursor_seq = models.BigIntegerField()
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.SWITCH)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["target_device", "status"])]

    def __str__(self) -> str:
        return f"{self.source_device_id} → {self.target_device_id} ({self.status})"
