"""Reads for handoff, each scoped to its user and device."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from accounts.apis import devices_payload
from accounts.models import Device, User
from accounts.selectors import devices_by_id
from sync import keys
from sync.changes import encode_cursor, iso, item_dict

from .models import Activity, Offer
from .services import handoff_mode, open_state


def offer_status(offer: Offer) -> str:
    if offer.status == Offer.Status.PENDING and offer.expires_at <= timezone.now():
        return Offer.Status.EXPIRED
    return offer.status


def offer_dict(offer: Offer, *, viewer_id: uuid.UUID) -> dict[str, Any]:
    user = offer.user
    devices = devices_by_id(user=user, ids=[offer.source_device_id, offer.target_device_id])
    payloads = {
        d["id"]: d
        for d in devices_payload(list(devices.values()), user=user, current_device_id=viewer_id)
    }
    return {
        "id": str(offer.id),
        "source_device": payloads.get(str(offer.source_device_id)),
        "target_device": payloads.get(str(offer.target_device_id)),
        "item": item_dict(offer.item),
        "item_version": offer.item_version,
        "state": open_state(offer.user_id, "offer", str(offer.id), offer.sealed_state),
        "cursor": encode_cursor(offer.user_id, offer.cursor_seq),
        "origin": offer.origin,
        "status": offer_status(offer),
        # What the target should do with it: ask first ("prompt") or open at once ("auto").
        "handoff_mode": handoff_mode(offer.user),
        "created_at": iso(offer.created_at),
        "expires_at": iso(offer.expires_at),
    }


def pending_offers(*, user: User, device: Device) -> list[Offer]:
    return list(
        Offer.objects.select_related("item", "user")
        .filter(
            user=user,
            target_device=device,
            status=Offer.Status.PENDING,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at")
    )


def activity_dict(activity: Activity) -> dict[str, Any]:
    return {
        "item_id": str(activity.item.item_id),
        "item_name": activity.item.name,
        "item_version": activity.item_version,
        "state": open_state(
            activity.user_id, "activity", str(activity.device_id), activity.sealed_state
        ),
        "updated_at": iso(activity.updated_at),
    }


def device_activities(user: User, devices: list[Device]) -> dict[uuid.UUID, dict]:
    """The `activity` field of the Device object (without the app state)."""
    rows = list(
        Activity.objects.select_related("item").filter(
            user=user, device_id__in=[d.id for d in devices]
        )
    )
    key = keys.data_key(user.id) if rows else None
    for row in rows:
        row.item.use_key(key)  # names are sealed: one key for all of them
    return {
        row.device_id: {
            "activity": {
                "item_id": str(row.item.item_id),
                "item_name": row.item.name,
                "updated_at": iso(row.updated_at),
            }
        }
        for row in rows
    }
