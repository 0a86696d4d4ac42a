"""Data keys and sealing of content, on top of the pure `sync.crypto`."""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from . import crypto
from .models import DataKey


@lru_cache(maxsize=4)
def _keyring(encoded: tuple[str, ...]) -> crypto.KeyRing:
    return crypto.KeyRing.from_encoded(encoded)


def keyring() -> crypto.KeyRing:
    return _keyring(tuple(settings.CLOUDSAVES_ENCRYPTION_KEYS))


def _owner(user_id: int) -> str:
    return f"user:{user_id}"


def wrapped_key(user_field: str = "user_id") -> Subquery:
    """The wrapped data key of the row's user, for reading it in a query that runs anyway
    (the sync-state read every pull and push starts with) instead of a query of its own."""
    return Subquery(DataKey.objects.filter(user_id=OuterRef(user_field)).values("wrapped")[:1])


def unwrap(user_id: int, wrapped: bytes | memoryview) -> bytes:
    return keyring().unwrap(bytes(wrapped), owner=_owner(user_id))


def data_key(user_id: int, *, create: bool = False) -> bytes | None:
    """The user's unwrapped data key; created on the first write (`create=True`), which
    runs under the user's sync-state lock for pushes; a device registering at the same
    time (its name is sealed too) may race it, and then both use the one that was stored."""
    row = DataKey.objects.filter(user_id=user_id).first()
    if row is not None:
        return unwrap(user_id, row.wrapped)
    if not create:
        return None
    key = crypto.new_data_key()
    try:
        with transaction.atomic():
            DataKey.objects.create(
                user_id=user_id, wrapped=keyring().wrap(key, owner=_owner(user_id))
            )
    except IntegrityError:
        # Created meanwhile outside the lock (a device registered as the first push ran).
        return unwrap(user_id, DataKey.objects.get(user_id=user_id).wrapped)
    return key


def rewrap_all() -> tuple[int, int]:
    """Re-wrap every data key not yet under the first configured key. Returns
    (re-wrapped, already current). Safe to run again after an interruption."""
    ring = keyring()
    done = current = 0
    for row in DataKey.objects.all().iterator():
        if crypto.KeyRing.wrapped_by(row.wrapped) == ring.primary_id:
            current += 1
            continue
        owner = _owner(row.user_id)
        row.wrapped = ring.wrap(ring.unwrap(row.wrapped, owner=owner), owner=owner)
        row.rewrapped_at = timezone.now()
        row.save(update_fields=["wrapped", "rewrapped_at"])
        done += 1
    return done, current


def content_aad(*, user_id: int, item_id, version_id) -> bytes:
    return crypto.content_aad(user=str(user_id), item=str(item_id), version=str(version_id))


def keyed_hash(key: bytes, value: str) -> str:
    """A hash only the holder of the user's data key can compute: equal values compare
    equal, but a database reader cannot test a guess against it."""
    return hmac.new(key, b"cloudsaves/keyed-hash/v1/" + value.encode(), hashlib.sha256).hexdigest()


def _push_aad(user_id: int, device_id, change_id) -> bytes:
    return f"cloudsaves/push-result/v1/{user_id}/{device_id}/{change_id}".encode()


def seal_push_result(key: bytes, user_id: int, record, result: dict) -> bytes:
    plain = json.dumps(result, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return crypto.seal(key, plain, _push_aad(user_id, record.device_id, record.change_id))


def open_push_result(key: bytes, user_id: int, record) -> dict:
    aad = _push_aad(user_id, record.device_id, record.change_id)
    return json.loads(crypto.open_sealed(key, record.sealed_result, aad))
