"""Crashes of a real daphne process (SIGKILL, no cleanup) at the worst moments of a push,
a restart, and the client's retry with the same change ids: nothing doubled, nothing
half-written, nothing lost. Sockets subscribed when the process dies reconnect and catch
up by cursor with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async

from accounts.services import device_register
from sync.models import Item, PushRecord, Version

from .live import start_live_server

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

CRASHING = {"DJANGO_SETTINGS_MODULE": "tests.crash.settings"}


@pytest.fixture
def crashing_server():
    """A daphne process that crashes when a request asks; `restart()` brings up another
    on the same port, as a supervisor would."""

    class Servers:
        def __init__(self):
            self.current = start_live_server(extra_env=CRASHING)

        def restart(self):
            self.current.process.wait(timeout=10)  # already killed by the request
            self.current = start_live_server(port=self.current.port, extra_env=CRASHING)
            return self.current

        def kill(self):
            self.current.process.kill()
            self.current.process.wait(timeout=10)

    servers = Servers()
    yield servers
    servers.current.stop()


def _changes(n: int, *, prefix: str) -> list[dict]:
    return [
        {
            "change_id": str(uuid.uuid4()),
            "item_id": str(uuid.uuid4()),
            "op": "put",
            "base_version": None,
            "kind": "binary",
            "name": f"{prefix} {i}.sav",
            "content_b64": base64.b64encode(f"{prefix} save {i}".encode() * 50).decode(),
        }
        for i in range(n)
    ]


def _push(url: str, token: str, changes: list[dict], crash: str | None = None):
    headers = {"Authorization": f"Bearer {token}"}
    if crash:
        headers["X-Test-Crash"] = crash
    return httpx.post(f"{url}/api/v1/sync/push", json={"changes": changes}, headers=headers)


def _state(changes: list[dict]) -> list[tuple[int, int]]:
    """For each change: (numbered versions of its item, ledger rows of its change id)."""
    return [
        (
            Version.objects.filter(item__item_id=c["item_id"], number__isnull=False).count(),
            PushRecord.objects.filter(change_id=c["change_id"]).count(),
        )
        for c in changes
    ]


def test_killed_after_the_commit_and_before_the_reply(crashing_server, user):
    _, token = device_register(user=user, name="Phone", kind="phone")
    changes = _changes(3, prefix="after-commit")
    with pytest.raises(httpx.HTTPError):  # the connection dies with the process
        _push(crashing_server.current.url, token, changes, crash="after-commit")
    # The push committed: each change is there once, its answer in the ledger.
    assert _state(changes) == [(1, 1)] * 3
    server = crashing_server.restart()
    retry = _push(server.url, token, changes)
    assert retry.status_code == 200, retry.text
    results = retry.json()["results"]
    assert [(r["change_id"], r["status"], r["item"]["version"]) for r in results] == [
        (c["change_id"], "applied", 1) for c in changes
    ]
    assert _state(changes) == [(1, 1)] * 3
    # And again: the same answers, still one version each.
    assert _push(server.url, token, changes).json()["results"] == results
    assert _state(changes) == [(1, 1)] * 3


def test_killed_in_the_middle_of_a_batch(crashing_server, user):
    _, token = device_register(user=user, name="Phone", kind="phone")
    changes = _changes(5, prefix="mid-batch")
    with pytest.raises(httpx.HTTPError):
        _push(crashing_server.current.url, token, changes, crash="during-write:1")
    # Killed inside the transaction: no change of the batch is there, not even in part.
    assert _state(changes) == [(0, 0)] * 5
    assert not Item.objects.filter(item_id__in=[c["item_id"] for c in changes]).exists()
    server = crashing_server.restart()
    retry = _push(server.url, token, changes)
    assert retry.status_code == 200, retry.text
    assert [r["status"] for r in retry.json()["results"]] == ["applied"] * 5
    assert _state(changes) == [(1, 1)] * 5


async def _recv(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _subscriber(url: str, token: str, cursor: str, seen: list, *, until: int) -> str:
    """Subscribe from `cursor`, note each (item, version) delivered, return the cursor."""
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        assert (await _recv(ws))["type"] == "hello"
        await ws.send(json.dumps({"type": "subscribe", "since": cursor}))
        while len(seen) < until:
            message = await _recv(ws)
            if message["type"] != "changes":
                continue
            seen.extend((c["id"], c["version"]) for c in message["changes"])
            cursor = message["cursor"]
    return cursor


async def test_sockets_reconnect_after_a_crash_and_catch_up_exactly(crashing_server, user):
    _, phone = await database_sync_to_async(device_register)(user=user, name="Phone", kind="phone")
    _, laptop = await database_sync_to_async(device_register)(
        user=user, name="Laptop", kind="desktop"
    )
    first, second = _changes(4, prefix="before"), _changes(4, prefix="after")
    seen: list[tuple[str, int]] = []
    server = crashing_server.current

    async def push(changes):
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{crashing_server.current.url}/api/v1/sync/push",
                json={"changes": changes},
                headers={"Authorization": f"Bearer {phone}"},
            )
            assert response.status_code == 200, response.text

    listening = asyncio.create_task(_subscriber(server.ws_url, laptop, "", seen, until=4))
    await asyncio.sleep(0.5)
    await push(first)
    cursor = await asyncio.wait_for(listening, 15)

    # The process dies with the socket open; the client notices, and reconnects once a
    # new process serves the same address. Meanwhile another device keeps writing.
    reader = asyncio.create_task(_subscriber(server.ws_url, laptop, cursor, seen, until=8))
    await asyncio.sleep(0.5)
    await asyncio.to_thread(crashing_server.kill)
    with pytest.raises((websockets.ConnectionClosed, OSError)):
        await asyncio.wait_for(reader, 10)
    await asyncio.to_thread(crashing_server.restart)
    await push(second)
    await asyncio.wait_for(
        _subscriber(crashing_server.current.ws_url, laptop, cursor, seen, until=8), 15
    )
    assert len(seen) == len(set(seen)) == 8  # no duplicate
    assert {item for item, _ in seen} == {c["item_id"] for c in first + second}  # no gap
