"""Notifications to open sockets through the channel layer.

A notification is only a nudge: sockets re-read the database from their own cursor, so a
lost one delays an update and never loses it. Everything here is therefore sent after
the surrounding transaction commits (a rolled-back write is never announced), and a
channel layer that is down is logged, not raised: the write it follows has succeeded.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def device_group(device_id: uuid.UUID | str) -> str:
    return f"device.{device_id}"


def send_now(group: str, message: dict[str, Any]) -> None:
    """Send at once; for code already running after its transaction committed."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.warning("channel layer send to %s failed; sockets catch up by cursor", group)


def send_after_commit(group: str, message: dict[str, Any]) -> None:
    transaction.on_commit(lambda: send_now(group, message), robust=True)


def notify_user(user_id: int, message: dict[str, Any]) -> None:
    send_after_commit(user_group(user_id), message)


def notify_device(device_id: uuid.UUID | str, message: dict[str, Any]) -> None:
    send_after_commit(device_group(device_id), message)
