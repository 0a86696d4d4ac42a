"""The handoff part of the socket protocol: `active` and `activity` from the client."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from rest_framework import serializers

from cloudsaves.errors import InvalidInput
from sync.changes import MAX_VERSION

from . import selectors, services


class ActivityMessage(serializers.Serializer):
    item_id = serializers.UUIDField()
    item_version = serializers.IntegerField(min_value=0, max_value=MAX_VERSION)
    state = serializers.JSONField(required=False)


async def handle_active(consumer, message: dict[str, Any]) -> None:
    def run():
        offer = services.device_active(
            user=consumer.user, device=consumer.device, channel_name=consumer.channel_name
        )
        return selectors.offer_dict(offer, viewer_id=consumer.device.id) if offer else None

    offer = await database_sync_to_async(run)()
    if offer is not None:
        await consumer.send_message("handoff.offer", offer=offer)


async def handle_activity(consumer, message: dict[str, Any]) -> None:
    body = ActivityMessage(data=message)
    if not body.is_valid():
        field, errors = next(iter(body.errors.items()))
        raise InvalidInput(f"{field}: {errors[0]}")

    def run():
        services.activity_set(
            user=consumer.user,
            device=consumer.device,
            item_id=body.validated_data["item_id"],
            item_version=body.validated_data["item_version"],
            state=body.validated_data.get("state"),
        )

    await database_sync_to_async(run)()
