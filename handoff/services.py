"""Every handoff write: publishing activities, device switches, offers and answers."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import realtime
from accounts.audit import Kind as AuditKind
from accounts.audit import audit_record
from accounts.models import Device, User
from cloudsaves.errors import ApplicationError, Conflict, InvalidInput, NotFound
from cloudsaves.parsers import json_depth_exceeds
from sync import crypto, keys
from sync.models import Item, SyncState

from .models import Activity, HandoffSettings, Offer

MAX_STATE_BYTES = 4 * 1024
MAX_STATE_DEPTH = 16


class PushPendingFirst(Conflict):
    code = "push_pending_first"
    default_message = (
        "The server does not have that version yet: push pending changes, then publish."
    )


class OfferExpired(ApplicationError):
    status_code = 410
    code = "expired"
    default_message = "This offer has expired."


class OfferNotPending(Conflict):
    code = "not_pending"
    default_message = "This offer was already answered or replaced by a newer one."


class HandoffOff(Conflict):
    code = "handoff_off"
    default_message = "Handoff is turned off in your settings."


class NoActivity(Conflict):
    code = "no_activity"
    default_message = "This device has nothing open to send: publish an activity first."


# -- state sealing --------------------------------------------------------------------------


def _aad(user_id: int, kind: str, ident: str) -> bytes:
    return f"cloudsaves/handoff/v1/{user_id}/{kind}/{ident}".encode()


def seal_state(user_id: int, kind: str, ident: str, state: dict) -> bytes:
    raw = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()
    return crypto.seal(keys.data_key(user_id, create=True), raw, _aad(user_id, kind, ident))


def open_state(user_id: int, kind: str, ident: str, sealed: bytes) -> dict:
    key = keys.data_key(user_id)
    return json.loads(crypto.open_sealed(key, sealed, _aad(user_id, kind, ident)))


def validate_state(state: Any) -> dict:
    if state is None:
        return {}
    if not isinstance(state, dict):
        raise InvalidInput("state must be a JSON object.")
    if json_depth_exceeds(state, MAX_STATE_DEPTH):
        raise InvalidInput(f"state nests deeper than {MAX_STATE_DEPTH} levels.")
    try:
        size = len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())
    except UnicodeEncodeError as exc:
        raise InvalidInput("state is not valid Unicode (lone surrogate).") from exc
    if size > MAX_STATE_BYTES:
        raise ApplicationError(
            f"state is {size} bytes; the limit is {MAX_STATE_BYTES}.",
            code="too_large",
            status_code=413,
        )
    return state


# -- settings -------------------------------------------------------------------------------


def handoff_mode(user: User) -> str:
    row = HandoffSettings.objects.filter(user=user).values_list("handoff_mode", flat=True).first()
    return row or HandoffSettings.Mode.PROMPT


def settings_update(*, user: User, handoff_mode: str) -> HandoffSettings:
    if handoff_mode not in HandoffSettings.Mode.values:
        raise InvalidInput("handoff_mode must be prompt, auto or off.")
    row, _ = HandoffSettings.objects.update_or_create(
        user=user, defaults={"handoff_mode": handoff_mode}
    )
    return row


# -- activities -----------------------------------------------------------------------------


@transaction.atomic
def activity_set(
    *, user: User, device: Device, item_id: uuid.UUID, item_version: int, state: dict
) -> Activity:
    """Publish what this device has open. The version must already be on the server: a
    device pushes its pending changes first, so whoever continues gets that content."""
    state = validate_state(state)
    item = Item.objects.filter(user=user, item_id=item_id).first()
    if item is None:
        raise NotFound("No such item.")
    if item_version > item.version:
        raise PushPendingFirst(details={"head_version": item.version})
    now = timezone.now()
    activity, _ = Activity.objects.update_or_create(
        device=device,
        defaults={
            "user": user,
            "item": item,
            "item_version": item_version,
            "sealed_state": seal_state(user.id, "activity", str(device.id), state),
            "state_size": len(json.dumps(state)),
            "updated_at": now,
        },
    )
    # Offers of this device's older activity are out of date now.
    for offer in Offer.objects.filter(
        source_device=device, status=Offer.Status.PENDING, activity_at__lt=now
    ):
        _settle(offer, Offer.Status.SUPERSEDED)
    return activity


def activity_clear(*, user: User, device: Device) -> None:
    Activity.objects.filter(user=user, device=device).delete()


# -- offers ---------------------------------------------------------------------------------


def _settle(offer: Offer, status: str) -> None:
    offer.status = status
    offer.responded_at = timezone.now()
    offer.save(update_fields=["status", "responded_at"])
    if status == Offer.Status.SUPERSEDED:
        _tell(offer.target_device_id, "handoff.offer", offer)


def _tell(device_id: uuid.UUID, message_type: str, offer: Offer, skip: str = "") -> None:
    """After commit, send a handoff message to one device's sockets. The offer is rendered
    for that device (its `current` flags) when the message is built."""
    from .selectors import offer_dict

    def send() -> None:
        fresh = Offer.objects.select_related("item", "user").filter(id=offer.id).first()
        if fresh is None:
            return
        message = {"type": message_type, "offer": offer_dict(fresh, viewer_id=device_id)}
        realtime.send_now(
            realtime.device_group(device_id),
            {"type": "socket.send", "message": message, "skip": skip},
        )

    transaction.on_commit(send, robust=True)


def _make_offer(
    *, user: User, activity: Activity, target: Device, origin: str, skip: str = ""
) -> Offer:
    now = timezone.now()
    # One pending offer per target: a new one replaces whatever was still pending.
    for old in Offer.objects.select_for_update().filter(
        target_device=target, status=Offer.Status.PENDING
    ):
        _settle(old, Offer.Status.SUPERSEDED)
    offer_id = uuid.uuid4()
    state = open_state(user.id, "activity", str(activity.device_id), activity.sealed_state)
    offer = Offer.objects.create(
        id=offer_id,
        user=user,
        source_device_id=activity.device_id,
        target_device=target,
        item=activity.item,
        item_version=activity.item_version,
        sealed_state=seal_state(user.id, "offer", str(offer_id), state),
        activity_at=activity.updated_at,
        cursor_seq=SyncState.objects.filter(user=user).values_list("last_seq", flat=True).first()
        or 0,
        origin=origin,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.CLOUDSAVES_HANDOFF_OFFER_TTL_S),
    )
    _tell(target.id, "handoff.offer", offer, skip=skip)
    return offer


@transaction.atomic
def device_active(*, user: User, device: Device, channel_name: str = "") -> Offer | None:
    """This device came to the foreground. If another device published something more
    recent than this device's own activity, offer to continue it here."""
    if handoff_mode(user) == HandoffSettings.Mode.OFF:
        return None
    now = timezone.now()
    own = Activity.objects.filter(device=device).values_list("updated_at", flat=True).first()
    candidates = (
        Activity.objects.select_related("item")
        .filter(
            user=user,
            device__revoked_at__isnull=True,
            updated_at__gte=now - timedelta(seconds=settings.CLOUDSAVES_HANDOFF_TTL_S),
            item__deleted=False,
        )
        .exclude(device=device)
        .order_by("-updated_at")
    )
    if own is not None:
        candidates = candidates.filter(updated_at__gt=own)
    activity = candidates.first()
    if activity is None:
        return None
    existing = (
        Offer.objects.filter(
            target_device=device,
            source_device_id=activity.device_id,
            status=Offer.Status.PENDING,
            activity_at=activity.updated_at,
            expires_at__gt=now,
        )
        .order_by("-created_at")
        .first()
    )
    if existing is not None:
        return existing  # coming to the foreground twice does not make a second offer
    return _make_offer(
        user=user, activity=activity, target=device, origin=Offer.Origin.SWITCH, skip=channel_name
    )


@transaction.atomic
def offer_send(*, user: User, device: Device, target_device_id: uuid.UUID) -> Offer:
    """Offer this device's activity to one chosen device now, foreground or not."""
    if handoff_mode(user) == HandoffSettings.Mode.OFF:
        raise HandoffOff()
    target = Device.objects.filter(user=user, id=target_device_id, revoked_at__isnull=True).first()
    if target is None:
        raise NotFound("No such device.")
    if target.id == device.id:
        raise InvalidInput("Choose another device than this one.")
    activity = Activity.objects.select_related("item").filter(device=device).first()
    if activity is None or activity.item.deleted:
        raise NoActivity()
    return _make_offer(user=user, activity=activity, target=target, origin=Offer.Origin.SEND)


def _own_offer(user: User, device: Device, offer_id: uuid.UUID) -> Offer:
    offer = (
        Offer.objects.select_for_update()
        .filter(user=user, target_device=device, id=offer_id)
        .first()
    )
    if offer is None:
        raise NotFound("No such offer.")
    return offer


def _check_pending(offer: Offer) -> None:
    if offer.status == Offer.Status.PENDING and offer.expires_at <= timezone.now():
        offer.status = Offer.Status.EXPIRED
        offer.save(update_fields=["status"])
    if offer.status == Offer.Status.EXPIRED:
        raise OfferExpired()
    if offer.status != Offer.Status.PENDING:
        raise OfferNotPending(details={"status": offer.status})


def _answer(*, user: User, device: Device, offer_id: uuid.UUID, status: str) -> Offer:
    with transaction.atomic():
        offer = _own_offer(user, device, offer_id)
        try:
            _check_pending(offer)
        except OfferExpired:
            expired = True
        else:
            expired = False
            offer.status = status
            offer.responded_at = timezone.now()
            offer.save(update_fields=["status", "responded_at"])
            if status == Offer.Status.ACCEPTED:
                _tell(offer.source_device_id, "handoff.continued", offer)
                audit_record(
                    AuditKind.HANDOFF_ACCEPTED,
                    user=user,
                    device=device,
                    target_device=offer.source_device_id,
                    offer_id=offer.id,
                )
    if expired:  # raised after the commit, so the offer is recorded as expired
        raise OfferExpired()
    return offer


def offer_accept(*, user: User, device: Device, offer_id: uuid.UUID) -> Offer:
    """Continue here; the source device is told (`handoff.continued`)."""
    return _answer(user=user, device=device, offer_id=offer_id, status=Offer.Status.ACCEPTED)


def offer_decline(*, user: User, device: Device, offer_id: uuid.UUID) -> Offer:
    return _answer(user=user, device=device, offer_id=offer_id, status=Offer.Status.DECLINED)
