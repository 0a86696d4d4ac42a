"""A small WebSocket client for tests against real daphne processes."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import websockets


class Socket:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.backlog: list[dict[str, Any]] = []
        self.seen: Counter = Counter()  # (item id, version) → times delivered
        self.cursor: str | None = None

    @classmethod
    async def open(cls, url: str, *, token: str | None = None, **kwargs) -> Socket:
        headers = dict(kwargs.pop("additional_headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        ws = await websockets.connect(url, additional_headers=headers, **kwargs)
        return cls(ws)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def _next(self, timeout: float) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if message["type"] == "changes":
            for change in message["changes"]:
                self.seen[(change["id"], change["version"])] += 1
            self.cursor = message["cursor"]
        return message

    async def expect(self, message_type: str, timeout: float = 5) -> dict[str, Any]:
        """The next message of this type; others are kept in the backlog."""
        for i, message in enumerate(self.backlog):
            if message["type"] == message_type:
                return self.backlog.pop(i)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self._next(max(0.01, deadline - loop.time()))
            if message["type"] == message_type:
                return message
            self.backlog.append(message)

    async def subscribe(self, since: str = "") -> list[dict[str, Any]]:
        """Subscribe and return the replayed changes (up to the has_more=false message)."""
        await self.send({"type": "subscribe", "since": since})
        replay = []
        while True:
            message = await self.expect("changes")
            replay.extend(message["changes"])
            if not message["has_more"]:
                return replay

    async def collect_until(self, predicate, timeout: float) -> None:
        """Read `changes` messages until predicate(self) holds or the timeout passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                message = await self._next(remaining)
            except TimeoutError:
                return
            if message["type"] != "changes":
                self.backlog.append(message)

    async def closed_with(self, timeout: float = 5) -> int | None:
        try:
            while True:
                await self._next(timeout)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    async def close(self) -> None:
        await self.ws.close()
