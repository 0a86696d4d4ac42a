"""Reads of accounts and devices. Every query is scoped to its user."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from cloudsaves.errors import NotFound

from .models import Connection, Device, User, hash_secret

# Apps above accounts (handoff) add fields to the Device object without accounts
# importing them: each annotator maps a list of devices to {device_id: {field: value}}.
DeviceAnnotator = Callable[[User, list[Device]], dict[uuid.UUID, dict]]
_device_annotators: list[DeviceAnnotator] = []


def register_device_annotator(annotator: DeviceAnnotator) -> None:
    if annotator not in _device_annotators:
        _device_annotators.append(annotator)


def device_extras(*, user: User, devices: list[Device]) -> dict[uuid.UUID, dict]:
    extras: dict[uuid.UUID, dict] = {d.id: {} for d in devices}
    for annotator in _device_annotators:
        for device_id, fields in annotator(user, devices).items():
            extras.setdefault(device_id, {}).update(fields)
    return extras


def online_cutoff():
    return timezone.now() - timedelta(seconds=settings.CLOUDSAVES_PRESENCE_TTL_S)


def _with_online(qs: QuerySet[Device]) -> QuerySet[Device]:
    live = Connection.objects.filter(device=OuterRef("pk"), seen_at__gte=online_cutoff())
    return qs.annotate(online=Exists(live))


def device_list(*, user: User) -> QuerySet[Device]:
    return _with_online(Device.objects.filter(user=user, revoked_at__isnull=True)).order_by(
        "created_at"
    )


def device_get(*, user: User, device_id: uuid.UUID | str) -> Device:
    device = (
        _with_online(Device.objects.filter(user=user, revoked_at__isnull=True))
        .filter(id=device_id)
        .first()
    )
    if device is None:
        raise NotFound("No such device.")
    return device


def devices_by_id(*, user: User, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Device]:
    return {d.id: d for d in _with_online(Device.objects.filter(user=user, id__in=list(ids)))}


def device_for_token(*, token: str) -> Device | None:
    """The live device a bearer token belongs to, or None (unknown, revoked, inactive)."""
    if not token or len(token) > 200:
        return None
    return (
        Device.objects.select_related("user")
        .filter(token_hash=hash_secret(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
