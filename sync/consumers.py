"""The one WebSocket endpoint, `/ws/v1/`.

Each socket keeps its own cursor. A channel-layer notification only says "something
changed"; the socket then reads the database from its cursor, so a notification that is
dropped (the in-memory layer drops under bursts, Redis may be down) delays a change and
never loses or duplicates it, and a periodic re-check catches the last one if it was lost.

Apps register the client message types they handle (`register_handler`), so this module
never imports upward: handoff adds `active` and `activity` from its AppConfig.ready.
Channel-layer events addressed to the socket are methods named after their type
(`device.changed` → `device_changed`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
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
from accounts.selectors import devices_by_id, online_cutoff
from cloudsaves.errors import ApplicationError
from cloudsaves.parsers import MAX_JSON_DEPTH, json_depth_exceeds

from . import keys, selectors
from .changes import decode_cursor
from .models import Conflict, SyncState

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
REPLAY_PAGE = 500
CLOSE_UNAUTHENTICATED = 4401
CLOSE_REVOKED = 4403

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
    cursor: str | None = None  # set by `subscribe`; None means no change stream yet
    data_key: bytes | None = None  # the user's content key, read once per socket
    cursor_seq = 0

    async def connect(self) -> None:
        device = self.scope.get("device")
        await self.accept()
        if device is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.device = device
        self.user = device.user
        self.session_key = self.scope.get("session_key", "")
        self.stream_lock = asyncio.Lock()
        await self._join_groups()
        self.connection_id = await self._open_connection()
        _ticker().add(self)
        own = await self._device_payload(device.id)
        hello: dict[str, Any] = {
            "device": own,
            "cursor": await database_sync_to_async(selectors.latest_cursor)(user=self.user),
        }
        for add_fields in _hello_extras:
            hello.update(await add_fields(self))
        await self.send_message("hello", **hello)
        await self._announce(own)

    async def _announce(self, payload: dict | None) -> None:
        """Tell the user's other sockets this device's presence changed. The payload is
        rendered once here rather than by each receiver, so a burst of connections does
        not cost every open socket a query per arrival."""
        if payload is None:
            return
        await self._group_send(
            realtime.user_group(self.user.id),
            {
                "type": "device.changed",
                "device_id": payload["id"],
                "device": payload,
                "origin": self.channel_name,
            },
        )

    def groups_for_device(self) -> list[str]:
        return [realtime.user_group(self.user.id), realtime.device_group(self.device.id)]

    async def _join_groups(self) -> None:
        try:
            for group in self.groups_for_device():
                await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            # Without the layer the socket still works: the periodic re-check streams
            # changes, only later than a notification would.
            logger.warning("channel layer unavailable; socket falls back to re-checking")

    async def _group_send(self, group: str, message: dict[str, Any]) -> None:
        try:
            await self.channel_layer.group_send(group, message)
        except Exception:
            logger.warning("channel layer send to %s failed", group)

    async def disconnect(self, code: int) -> None:
        if self.device is None:
            return
        _ticker().discard(self)
        for group in self.groups_for_device():
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.warning("group_discard failed for %s", group)
        await self._close_connection()
        await self._announce(await self._device_payload(self.device.id))

    # -- frames from the client ---------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.device is None:
            return
        raw = text_data if text_data is not None else bytes_data
        if raw is not None and len(raw) > MAX_FRAME_BYTES:
            # An error rather than close 1009: the WebSocket layer only lets applications
            # close with 1000 or 3000-4999. Frames over 1 MiB never reach this point: the
            # transport drops the connection (cloudsaves/serve.py).
            await self.send_error(
                "frame_too_large", f"Frames are limited to {MAX_FRAME_BYTES} bytes."
            )
            return
        try:
            message = json.loads(raw or "")
        except (ValueError, UnicodeDecodeError, RecursionError):
            await self.send_error("bad_json", "Every frame must be one JSON object.")
            return
        if json_depth_exceeds(message):
            await self.send_error("bad_json", f"Frames nest at most {MAX_JSON_DEPTH} levels.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.send_error("bad_message", "A message is a JSON object with a 'type'.")
            return
        handler = _handlers.get(message["type"]) or _BUILTIN.get(message["type"])
        if handler is None:
            await self.send_error("unknown_type", f"Unknown message type {message['type']!r}.")
            return
        try:
            await handler(self, message)
        except ApplicationError as exc:
            await self.send_error(exc.code, exc.message)
        except Exception:
            logger.exception("socket handler for %s failed", message["type"])
            await self.send_error("server_error", "The message could not be handled.")

    async def handle_ping(self, message: dict[str, Any]) -> None:
        await self.send_message("pong")

    async def handle_subscribe(self, message: dict[str, Any]) -> None:
        """Replay from `since`, always ending with one `changes` message whose has_more is
        false, then stream live changes from there."""
        since = message.get("since") or ""
        if not isinstance(since, str):
            await self.send_error("bad_cursor", "since must be a cursor string.")
            return
        page = await self._page(since)  # raises bad_cursor / resync_required
        async with self.stream_lock:
            while True:
                await self.send_message("changes", **page)
                self._advance(page["cursor"])
                if not page["has_more"]:
                    break
                page = await self._page(self.cursor)
        # Anything committed during the replay is streamed now rather than at the next nudge.
        await self.stream()

    # -- the change stream --------------------------------------------------------------

    def _advance(self, cursor: str) -> None:
        self.cursor = cursor
        self.cursor_seq = decode_cursor(self.user.id, cursor)

    async def _page(self, since: str, *, shared: bool = True) -> dict[str, Any]:
        """A page of changes after `since`. Sockets of one user in this process that ask
        for the same page at the same time share one query (a push to a user with many
        devices nudges them all at once); `shared=False` forces a query of its own, started
        now, for a caller that must see a commit it was just told about."""

        def read() -> dict[str, Any]:
            if self.data_key is None:
                self.data_key = keys.data_key(self.user.id)
            return selectors.changes_since(
                user=self.user, since=since, limit=REPLAY_PAGE, key=self.data_key
            )

        if not shared:
            return await database_sync_to_async(read)()
        return await _ticker().shared_page((self.user.id, since), read)

    async def stream(self, *, shared: bool = True) -> None:
        """Send everything after this socket's cursor. Serialized per socket, so the
        nudge handler and the periodic re-check never send a change twice."""
        if self.cursor is None:
            return
        async with self.stream_lock:
            while True:
                try:
                    page = await self._page(self.cursor, shared=shared)
                except ApplicationError as exc:  # e.g. the cursor was purged meanwhile
                    await self.send_error(exc.code, exc.message)
                    self.cursor = None
                    return
                if page["changes"]:
                    await self.send_message("changes", **page)
                self._advance(page["cursor"])
                if not page["has_more"]:
                    return

    async def sync_changed(self, event: dict[str, Any]) -> None:
        target = event.get("seq", 0)
        if self.cursor is not None and target > self.cursor_seq:
            await self.stream()
            if self.cursor is not None and self.cursor_seq < target:
                # The shared query began before that commit was visible: read again.
                await self.stream(shared=False)

    async def sync_conflict(self, event: dict[str, Any]) -> None:
        summary = await self._conflict_summary(event["conflict_id"])
        if summary is not None:
            await self.send_message("conflict", conflict=summary)

    # -- sending ------------------------------------------------------------------------

    async def send_message(self, message_type: str, **fields: Any) -> None:
        await self.send(text_data=json.dumps({"type": message_type, **fields}, default=str))

    async def send_error(self, code: str, message: str) -> None:
        await self.send_message("error", code=code, message=message)

    async def socket_send(self, event: dict[str, Any]) -> None:
        """A message another app prepared for this socket (handoff offers...), skipped on
        the socket that caused it and already got its answer directly."""
        if event.get("skip") != self.channel_name:
            await self.send(text_data=json.dumps(event["message"], default=str))

    # -- presence and sessions ------------------------------------------------------------

    async def device_changed(self, event: dict[str, Any]) -> None:
        if event.get("origin") == self.channel_name:
            return  # this socket's own arrival: it already has its device in `hello`
        payload = event.get("device")
        if payload is not None:
            payload = dict(payload, current=payload["id"] == str(self.device.id))
        else:
            payload = await self._device_payload(event["device_id"])
        if payload is not None:
            await self.send_message("device", device=payload)

    async def device_revoked(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_REVOKED)

    async def session_ended(self, event: dict[str, Any]) -> None:
        """This browser signed out, or the password changed: then every socket closes but
        those of the browser where it was changed (`keep_device`)."""
        if "keep_device" in event:
            if str(self.device.id) != event["keep_device"]:
                await self.close(code=CLOSE_UNAUTHENTICATED)
        elif not event.get("session_key") or event["session_key"] == self.session_key:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    # -- database -----------------------------------------------------------------------

    @database_sync_to_async
    def _conflict_summary(self, conflict_id: str) -> dict | None:
        conflict = (
            Conflict.objects.select_related("item").filter(user=self.user, id=conflict_id).first()
        )
        return selectors.conflict_summary(conflict) if conflict else None

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


_BUILTIN: dict[str, Handler] = {
    "ping": SyncConsumer.handle_ping,
    "subscribe": SyncConsumer.handle_subscribe,
}


class _Ticker:
    """Periodic work for all the sockets of one server process, in a few queries per tick
    rather than a timer and queries per socket:
    - re-check: one query reads the change sequence of every user with a subscribed
      socket here; a socket behind it streams (a lost notification is at most one tick
      late);
    - shared reads: sockets asking for the same page at once share one query;
    - heartbeat: one update refreshes this process's presence rows and devices, and rows
      that a dead process left behind for these users are removed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: set[SyncConsumer] = set()
        self.task: asyncio.Task | None = None
        self.streams: set[asyncio.Task] = set()
        self.pages: dict[tuple, asyncio.Future] = {}
        self.last_beat = time.monotonic()

    def add(self, consumer: SyncConsumer) -> None:
        self.sockets.add(consumer)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self.run())

    def discard(self, consumer: SyncConsumer) -> None:
        self.sockets.discard(consumer)

    async def shared_page(self, key: tuple, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run `read` in a thread, or join the identical read already under way."""
        pending = self.pages.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = self.loop.create_future()
        self.pages[key] = future
        try:
            result = await database_sync_to_async(read)()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: joiners re-raise it themselves
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self.pages[key]

    async def run(self) -> None:
        while self.sockets:
            await asyncio.sleep(settings.CLOUDSAVES_WS_RECHECK_S)
            try:
                await self.tick()
            except Exception:
                logger.exception("socket re-check failed")

    async def tick(self) -> None:
        subscribed = [c for c in self.sockets if c.cursor is not None]
        if subscribed:
            latest = await database_sync_to_async(_last_seqs)({c.user.id for c in subscribed})
            for consumer in subscribed:
                if latest.get(consumer.user.id, 0) > consumer.cursor_seq:
                    task = self.loop.create_task(consumer.stream())
                    self.streams.add(task)
                    task.add_done_callback(self.streams.discard)
        if time.monotonic() - self.last_beat >= settings.CLOUDSAVES_PRESENCE_HEARTBEAT_S:
            self.last_beat = time.monotonic()
            await database_sync_to_async(_heartbeat)(list(self.sockets))


_tickers: dict[asyncio.AbstractEventLoop, _Ticker] = {}


def _ticker() -> _Ticker:
    loop = asyncio.get_running_loop()
    ticker = _tickers.get(loop)
    if ticker is None:
        for stale in [lp for lp in _tickers if lp.is_closed()]:
            del _tickers[stale]
        ticker = _tickers[loop] = _Ticker(loop)
    return ticker


def _last_seqs(user_ids: set[int]) -> dict[int, int]:
    ids = list(user_ids)
    latest: dict[int, int] = {}
    for start in range(0, len(ids), 1000):
        latest.update(
            SyncState.objects.filter(user_id__in=ids[start : start + 1000]).values_list(
                "user_id", "last_seq"
            )
        )
    return latest


def _heartbeat(sockets: list[SyncConsumer]) -> None:
    now = timezone.now()
    for start in range(0, len(sockets), 1000):
        chunk = sockets[start : start + 1000]
        Connection.objects.filter(id__in=[c.connection_id for c in chunk]).update(seen_at=now)
        Device.objects.filter(id__in={c.device.id for c in chunk}).update(last_seen_at=now)
        Connection.objects.filter(
            user_id__in={c.user.id for c in chunk}, seen_at__lt=online_cutoff()
        ).delete()
