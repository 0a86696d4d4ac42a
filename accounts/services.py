"""Every write to accounts and devices."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import ua_parser
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cloudsaves.errors import NotFound

from . import audit, realtime
from .models import Device, User, WsTicket, hash_secret

TOKEN_PREFIX = "cs1_"  # noqa: S105 - a recognisable prefix, not a secret  # nosec B105


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def device_message(device: Device) -> dict:
    """The channel-layer message that tells a user's sockets a device changed."""
    return {"type": "device.changed", "device_id": str(device.id)}


@transaction.atomic
def device_register(*, user: User, name: str, kind: str, platform: str = "") -> tuple[Device, str]:
    """Create an app device and its bearer token. The token is returned once; only its
    hash is kept."""
    token = _new_token()
    device = Device.objects.create(
        user=user,
        name=name.strip()[:100] or kind.title(),
        kind=kind,
        platform=platform.strip()[:100],
        token_hash=hash_secret(token),
        last_seen_at=timezone.now(),
    )
    realtime.notify_user(user.id, device_message(device))
    return device, token


@transaction.atomic
def device_register_browser(*, user: User, user_agent: str = "") -> Device:
    described = describe_browser(user_agent)
    device = Device.objects.create(
        user=user,
        name=described or "Browser",
        kind=Device.Kind.BROWSER,
        platform=described,
        last_seen_at=timezone.now(),
    )
    realtime.notify_user(user.id, device_message(device))
    return device


# ua-parser's names for mobile builds of a browser, and for systems, as people say them.
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Chrome Mobile iOS": "Chrome",
    "Firefox iOS": "Firefox",
}
_SYSTEM_NAMES = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}
_APPLE_DEVICES = ("iPhone", "iPad", "iPod")


def describe_browser(user_agent: str) -> str:
    """A readable "Chrome on Linux" / "Safari on iPhone" from a User-Agent header, or ""
    when it names no browser we know."""
    parsed = ua_parser.parse(user_agent[:1000]) if user_agent else None
    if parsed is None or parsed.user_agent is None or parsed.user_agent.family == "Other":
        return ""
    family = parsed.user_agent.family
    browser = _BROWSER_NAMES.get(family) or family.replace(" Mobile", "").replace("Mobile ", "")
    system = ""
    if parsed.os is not None and parsed.os.family != "Other":
        system = _SYSTEM_NAMES.get(parsed.os.family, parsed.os.family)
        device = parsed.device.family if parsed.device is not None else ""
        if system == "iOS" and device in _APPLE_DEVICES:
            system = device
    return (f"{browser} on {system}" if system else browser)[:100]


def _get_own_device(*, user: User, device_id: uuid.UUID, for_update: bool = False) -> Device:
    qs = Device.objects.filter(user=user, revoked_at__isnull=True)
    if for_update:
        qs = qs.select_for_update()
    device = qs.filter(id=device_id).first()
    if device is None:
        raise NotFound("No such device.")
    return device


@transaction.atomic
def device_rename(*, user: User, device_id: uuid.UUID, name: str) -> Device:
    device = _get_own_device(user=user, device_id=device_id, for_update=True)
    device.name = name.strip()[:100] or device.name
    device.save(update_fields=["name"])
    audit.audit_record(audit.Kind.DEVICE_RENAMED, user=user, target_device=device)
    realtime.notify_user(user.id, device_message(device))
    return device


@transaction.atomic
def device_revoke(*, user: User, device_id: uuid.UUID) -> Device:
    """Revoke a device: its token answers 401 from the moment this commits, and its open
    sockets are told to close."""
    device = _get_own_device(user=user, device_id=device_id, for_update=True)
    device.revoked_at = timezone.now()
    device.token_hash = None
    device.save(update_fields=["revoked_at", "token_hash"])
    WsTicket.objects.filter(device=device).delete()
    audit.audit_record(audit.Kind.DEVICE_REVOKED, user=user, target_device=device)
    realtime.notify_device(device.id, {"type": "device.revoked", "device_id": str(device.id)})
    realtime.notify_user(user.id, device_message(device))
    return device


def device_touch(*, device: Device) -> None:
    """Record that the device was seen, at most once per resolution window so that a
    busy device does not turn every read into a write."""
    now = timezone.now()
    resolution = timedelta(seconds=settings.CLOUDSAVES_LAST_SEEN_RESOLUTION_S)
    if device.last_seen_at is None or now - device.last_seen_at >= resolution:
        Device.objects.filter(pk=device.pk).update(last_seen_at=now)
        device.last_seen_at = now


def ws_ticket_issue(*, device: Device) -> tuple[str, int]:
    ttl = settings.CLOUDSAVES_WS_TICKET_TTL_S
    ticket = secrets.token_urlsafe(32)
    now = timezone.now()
    WsTicket.objects.filter(expires_at__lt=now).delete()
    WsTicket.objects.create(
        ticket_hash=hash_secret(ticket),
        user_id=device.user_id,
        device=device,
        expires_at=now + timedelta(seconds=ttl),
    )
    return ticket, ttl


def ws_ticket_redeem(*, ticket: str) -> Device | None:
    """Exchange a ticket for its device, once. The conditional update makes a second
    use fail even when two connections race with the same ticket."""
    now = timezone.now()
    ticket_hash = hash_secret(ticket)
    claimed = WsTicket.objects.filter(
        ticket_hash=ticket_hash, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if not claimed:
        return None
    row = WsTicket.objects.select_related("device", "device__user").get(ticket_hash=ticket_hash)
    device = row.device
    if device.is_revoked or not device.user.is_active:
        return None
    return device
