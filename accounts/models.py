"""Users, their devices, and what lets a device in: tokens, socket tickets, connections."""

from __future__ import annotations

import hashlib
import uuid

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person. Signs in by email; there is no username."""

    username = None
    first_name = None
    last_name = None
    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=150, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.display_name or self.email

    def get_short_name(self) -> str:
        return self.display_name or self.email


def hash_secret(secret: str) -> str:
    """Tokens and tickets are long random strings, so a plain SHA-256 is enough to
    keep the stored value useless to someone reading the database."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Device(models.Model):
    class Kind(models.TextChoices):
        PHONE = "phone"
        TABLET = "tablet"
        DESKTOP = "desktop"
        BROWSER = "browser"
        OTHER = "other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    # The name the user gave it ("Anna's phone"), sealed under the user's data key like
    # the user's content; `name` reads and writes it in the clear.
    sealed_name = models.BinaryField(default=b"", editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    platform = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # SHA-256 of the bearer token; browser devices have none (they use the session).
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        # Never the name: staff see metadata only.
        return f"{self.get_kind_display()} {str(self.id)[:8]}"

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if self.__dict__.pop("_name_dirty", False):
            from sync import crypto, keys

            key = self.__dict__.get("_name_key") or keys.data_key(self.user_id, create=True)
            self.sealed_name = crypto.seal(key, self.name.encode(), self.name_aad())
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = [f for f in update_fields if f != "name"] + ["sealed_name"]
        super().save(*args, **kwargs)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def name_aad(self) -> bytes:
        return f"cloudsaves/device-name/v1/{self.user_id}/{self.id}".encode()

    def use_key(self, key: bytes | None) -> None:
        """The user's data key, when the caller holds it already (lists of devices)."""
        self.__dict__["_name_key"] = key

    @property
    def name(self) -> str:
        if "_name" not in self.__dict__:
            if not self.sealed_name:
                self.__dict__["_name"] = ""
            else:
                from sync import crypto, keys

                key = self.__dict__.get("_name_key") or keys.data_key(self.user_id)
                plain = crypto.open_sealed(key, self.sealed_name, self.name_aad())
                self.__dict__["_name"] = plain.decode()
        return self.__dict__["_name"]

    @name.setter
    def name(self, value: str) -> None:
        self.__dict__["_name"] = value or ""
        self.__dict__["_name_dirty"] = True


class WsTicket(models.Model):
    """A single-use, short-lived credential for WebSocket clients that can send
    neither a cookie nor an Authorization header."""

    ticket_hash = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    device = models.ForeignKey(Device, on_delete=models.CASCADE)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"ticket for {self.device_id} until {self.expires_at:%H:%M:%S}"


class Connection(models.Model):
    """One open WebSocket. Presence lives here rather than in process memory so every
    server process sees it; a process that dies leaves rows whose `seen_at` goes stale,
    and stale rows no longer count as online."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="connections")
    channel_name = models.CharField(max_length=200)
    session_key = models.CharField(max_length=40, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["device", "seen_at"])]
        constraints = [
            models.CheckConstraint(condition=~Q(channel_name=""), name="connection_has_channel")
        ]

    def __str__(self) -> str:
        return f"{self.device_id} since {self.connected_at:%Y-%m-%d %H:%M}"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        # The one change allowed: an account is deleted and its events lose their link
        # (what on_delete=SET_NULL runs).
        if kwargs != {"user": None}:
            raise TypeError("The audit trail is append-only.")
        return super().update(**kwargs)

    def delete(self):
        raise TypeError("The audit trail is append-only.")


class AuditEvent(models.Model):
    """One security event: who, from which device and address, when, and what — never
    content, passwords or tokens. Rows are only ever added (accounts/audit.py); the model
    refuses updates and deletes, and on PostgreSQL a trigger refuses them too, except the
    user link becoming NULL when an account is deleted (the event stays)."""

    class Kind(models.TextChoices):
        SIGNED_UP = "signed_up", "Account created"
        SIGN_IN = "sign_in", "Signed in"
        SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
        SIGNED_OUT = "signed_out", "Signed out"
        TOKEN_ISSUED = "token_issued", "App signed in"
        DEVICE_RENAMED = "device_renamed", "Device renamed"
        DEVICE_REVOKED = "device_revoked", "Device revoked"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        PASSWORD_RESET = "password_reset", "Password reset by email"
        EMAIL_CHANGED = "email_changed", "Email addresses changed"
        CONFLICT_RESOLVED = "conflict_resolved", "Conflict resolved"
        HANDOFF_ACCEPTED = "handoff_accepted", "Handoff accepted"
        KEYS_ROTATED = "keys_rotated", "Encryption keys rotated"

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices, editable=False)
    user = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
        editable=False,
    )
    # Keyed hash of the email a sign-in was tried with: failures against one address can
    # be grouped without storing the address (or one that has no account) in the clear.
    email_hash = models.CharField(max_length=64, blank=True, editable=False)
    device_id = models.UUIDField(null=True, blank=True, editable=False)
    target_device_id = models.UUIDField(null=True, blank=True, editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    user_agent = models.CharField(max_length=200, blank=True, editable=False)
    details = models.JSONField(default=dict, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "-at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit trail is append-only.")
