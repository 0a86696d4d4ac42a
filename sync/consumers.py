"""The one WebSocket endpoint, `/ws/v1/`.

Apps register the client message types they handle (`register_handler`), so this module
never imports upward: handoff adds `active` and `activity` from its AppConfig.ready.
Channel-layer events addressed to the socket are methods named after their type
(`device.changed` → `device_changed`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from accounts import realtime
from accounts.apis import devices_payload
from accounts.models import Connection, Device
from accounts.selectors import devices_by_id

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
CLOSE_UNAUTHENTICATED = 4401
CLOSE_REVOKED = 4403
CLOSE_TOO_BIG = 1009

Handler = Callable[["SyncConsumer", dict[str, Any]], Awaitable[None]]
_handlers: dict[str, Handler] = {}
_hello_extras: list[Callable[[SyncConsumer], Awaitable[dict[str, Any]]]] = []


def register_handler(message_type: str, handler: Handler) -> None:
    """Let an app handle a client → server message type on the shared socket."""
    _handlers[message_type] = handler


def register_hello_extra(extra: Callable[[SyncConsumer], Awaitable[dict[str, Any]]]) -> None:
    """Let an app add fields to the `hello` message."""
    if extra not in _hello_extras:
        _hello_extras.append(extra)


class SyncConsumer(AsyncWebsocketConsumer):
    device: Device | None = None
    connection_id = None
    heartbeat_task: asyncio.Task | None = None

    async def connect(self) -> None:
        device = self.scope.get("device")
        await self.accept()
        if device is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.device = device
        self.user = device.user
        self.session_key = self.scope.get("session_key", "")
        for group in self.groups_for_device():
            await self.channel_layer.group_add(group, self.channel_name)
        self.connection_id = await self._open_connection()
        self.heartbeat_task = asyncio.create_task(self._heartbeat())
        hello: dict[str, Any] = {"device": await self._device_payload(device.id)}
        for extra in _hello_extras:
            hello.update(await extra(self))
        await self.send_message("hello", **hello)
        await self.channel_layer.group_send(
            realtime.user_group(self.user.id),
            {"type": "device.changed", "device_id": str(device.id), "origin": self.channel_name},
        )

    def groups_for_device(self) -> list[str]:
        return [realtime.user_group(self.user.id), realtime.device_group(self.device.id)]

    async def disconnect(self, code: int) -> None:
        if self.device is None:
            return
        if self.heartbeat_task is not None:
            self.heartbeat_task.cancel()
        for group in self.groups_for_device():
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.warning("group_discard failed for %s", group)
        await self._close_connection()
        try:
            await self.channel_layer.group_send(
                realtime.user_group(self.user.id),
                {"type": "device.changed", "device_id": str(self.device.id)},
            )
        except Exception:
            logger.warning("presence notification failed; other sockets see it on expiry")

    # -- frames from the client ---------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.device is None:
            return
        raw = text_data if text_data is not None else bytes_data
        if raw is not None and len(raw) > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            message = json.loads(raw or "")
        except (ValueError, UnicodeDecodeError):
            await self.send_error("bad_json", "Every frame must be one JSON object.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.send_error("bad_message", "A message is a JSON object with a 'type'.")
            return
        handler = _handlers.get(message["type"])
        if handler is None and message["type"] == "ping":
            await self.send_message("pong")
            return
        if handler is None:
            await self.send_error("unknown_type", f"Unknown message type {message['type']!r}.")
            return
        try:
            await handler(self, message)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(code, str):
                await self.send_error(code, str(getattr(exc, "message", exc)))
            else:
                logger.exception("socket handler for %s failed", message["type"])
                await self.send_error("server_error", "The message could not be handled.")

    # -- sending ------------------------------------------------------------------------

    async def send_message(self, message_type: str, **fields: Any) -> None:
        await self.send(text_data=json.dumps({"type": message_type, **fields}, default=str))

    async def send_error(self, code: str, message: str) -> None:
        await self.send_message("error", code=code, message=message)

    # -- channel-layer events -----------------------------------------------------------

    async def device_changed(self, event: dict[str, Any]) -> None:
        if event.get("origin") == self.channel_name:
            return  # this socket's own arrival: it already has its device in `hello`
        payload = await self._device_payload(event["device_id"])
        if payload is not None:
            await self.send_message("device", device=payload)

    async def device_revoked(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_REVOKED)

    async def session_ended(self, event: dict[str, Any]) -> None:
        if not event.get("session_key") or event["session_key"] == self.session_key:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    # -- database -----------------------------------------------------------------------

    @database_sync_to_async
    def _device_payload(self, device_id) -> dict | None:
        device_id = uuid.UUID(str(device_id))
        device = devices_by_id(user=self.user, ids=[device_id]).get(device_id)
        if device is None:
            return None
        payload = devices_payload([device], user=self.user, current_device_id=self.device.id)[0]
        return dict(payload, revoked=device.revoked_at is not None)

    @database_sync_to_async
    def _open_connection(self):
        return Connection.objects.create(
            user=self.user,
            device=self.device,
            channel_name=self.channel_name,
            session_key=self.session_key,
        ).id

    @database_sync_to_async
    def _close_connection(self) -> None:
        Connection.objects.filter(id=self.connection_id).delete()

    @database_sync_to_async
    def _touch_connection(self) -> bool:
        now = timezone.now()
        alive = Connection.objects.filter(id=self.connection_id).update(seen_at=now)
        Device.objects.filter(id=self.device.id).update(last_seen_at=now)
        return bool(alive)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(settings.CLOUDSAVES_PRESENCE_HEARTBEAT_S)
            try:
                await self._touch_connection()
            except Exception:
                logger.exception("presence heartbeat failed")
