"""Several server processes on Redis, and Redis going away and coming back."""

import asyncio
import contextlib
import shutil
import subprocess
import time
import uuid

import httpx
import pytest
import redis
import websockets
from channels.db import database_sync_to_async

from accounts.services import device_register
from tests.conftest import PASSWORD, require_service
from tests.live import free_port, start_live_server
from tests.wsclient import Socket

from .conftest import put

pytestmark = [pytest.mark.live, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


async def register(user, name):
    return await database_sync_to_async(device_register)(user=user, name=name, kind="phone")


async def push(server, token, *changes):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        return await http.post(
            "/api/v1/sync/push",
            json={"changes": list(changes)},
            headers={"Authorization": f"Bearer {token}"},
        )


def items(n, prefix):
    return [put(str(uuid.uuid4()), f"{prefix} {i}") for i in range(n)]


async def test_a_push_through_one_process_reaches_a_socket_on_another(redis_url, user):
    first = start_live_server(redis_url=redis_url)
    second = start_live_server(redis_url=redis_url)
    try:
        _, writer = await register(user, "Writer")
        _, reader = await register(user, "Reader")
        sock = await Socket.open(second.ws_url, token=reader)
        await sock.subscribe("")
        started = time.monotonic()
        response = await push(first, writer, *items(3, "cross"))
        assert response.status_code == 200
        await sock.collect_until(lambda s: len(s.seen) == 3, timeout=5)
        assert len(sock.seen) == 3
        # Delivered by the notification, well before any periodic re-check would run.
        assert time.monotonic() - started < 5
        await sock.close()
    finally:
        first.stop()
        second.stop()


class RedisServer:
    """A Redis server of the test's own, on its own port, that the test can stop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


async def test_redis_down_rest_keeps_working_and_sockets_catch_up(user):
    require_service(shutil.which("redis-server") is not None, "needs the redis-server binary")
    own_redis = RedisServer()
    own_redis.start()
    server = start_live_server(redis_url=own_redis.url, extra_env={"CLOUDSAVES_WS_RECHECK_S": "1"})
    try:
        _, writer = await register(user, "Writer")
        _, reader = await register(user, "Reader")
        sock = await Socket.open(server.ws_url, token=reader)
        await sock.subscribe("")
        assert (await push(server, writer, *items(2, "before"))).status_code == 200
        await sock.collect_until(lambda s: len(s.seen) == 2, timeout=5)
        cursor = sock.cursor

        own_redis.stop()
        for batch in range(3):
            response = await push(server, writer, *items(2, f"during {batch}"))
            assert response.status_code == 200, response.text
            assert all(r["status"] == "applied" for r in response.json()["results"])
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            pulled = await http.get(
                "/api/v1/sync/changes",
                params={"since": cursor},
                headers={"Authorization": f"Bearer {reader}"},
            )
            assert pulled.status_code == 200
            assert len(pulled.json()["changes"]) == 6
            health = await http.get("/healthz")
            assert health.status_code == 503
            assert health.json()["checks"]["channel_layer"] == "failing"

        own_redis.start()
        # The old socket may or may not have survived the outage; either way a socket
        # that (re)subscribes from its cursor gets exactly what it missed.
        with contextlib.suppress(websockets.ConnectionClosed):
            await sock.close()
        again = await Socket.open(server.ws_url, token=reader)
        replay = await again.subscribe(cursor)
        assert sorted(c["content"] for c in replay) == sorted(
            f"during {b} {i}" for b in range(3) for i in range(2)
        )
        live = items(1, "after")
        assert (await push(server, writer, *live)).status_code == 200
        await again.collect_until(lambda s: len(s.seen) == 7, timeout=5)
        assert (live[0]["item_id"], 1) in again.seen
        await again.close()
        await asyncio.sleep(0)
    finally:
        server.stop()
        own_redis.stop()


async def test_a_socket_idle_longer_than_a_redis_read_timeout_still_gets_nudged(redis_url, user):
    """The channel layer blocks reading Redis for seconds at a time; a client-side read
    timeout shorter than that would silently cut an idle socket off its notifications."""
    server = start_live_server(redis_url=redis_url, extra_env={"CLOUDSAVES_WS_RECHECK_S": "60"})
    try:
        _, writer = await register(user, "Writer")
        _, reader = await register(user, "Reader")
        sock = await Socket.open(server.ws_url, token=reader)
        await sock.subscribe("")
        await asyncio.sleep(7)  # longer than redis-py's default 5 s read timeout
        assert (await push(server, writer, *items(1, "after a quiet spell"))).status_code == 200
        # With the re-check at 60 s, only the notification can deliver this in time.
        await sock.collect_until(lambda s: len(s.seen) == 1, timeout=5)
        assert len(sock.seen) == 1
        await sock.close()
    finally:
        server.stop()


class ReconnectingReader:
    """A device as a real client runs it: subscribed, reconnecting from its own cursor
    whenever the socket drops, keeping what it has by (item, version)."""

    def __init__(self, server, token: str) -> None:
        self.server = server
        self.token = token
        self.cursor = ""
        self.frames: list[tuple[str, int]] = []  # every change as delivered, repeats included
        self.reconnects = 0
        self._stop = asyncio.Event()

    @property
    def held(self) -> set[tuple[str, int]]:
        return set(self.frames)

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                sock = await Socket.open(self.server.ws_url, token=self.token, open_timeout=5)
                try:
                    self._take(await sock.subscribe(self.cursor), sock.cursor)
                    while not self._stop.is_set():
                        try:
                            message = await sock.expect("changes", timeout=0.5)
                        except TimeoutError:
                            continue
                        self._take(message["changes"], message["cursor"])
                finally:
                    with contextlib.suppress(Exception):
                        await sock.close()
            except (OSError, TimeoutError, websockets.WebSocketException):
                self.reconnects += 1
                await asyncio.sleep(0.2)

    def _take(self, changes, cursor) -> None:
        self.frames.extend((c["id"], c["version"]) for c in changes)
        if cursor:
            self.cursor = cursor

    def stop(self) -> None:
        self._stop.set()


async def test_redis_outage_under_live_traffic(user):
    """Pushes keep flowing while Redis stops and comes back: every push is answered 2xx,
    signing in still works and is still limited, and every subscribed device ends with
    each change exactly once."""
    require_service(shutil.which("redis-server") is not None, "needs the redis-server binary")
    own_redis = RedisServer()
    own_redis.start()
    server = start_live_server(
        redis_url=own_redis.url,
        extra_env={
            "CLOUDSAVES_WS_RECHECK_S": "1",
            "CLOUDSAVES_LOGIN_FAILED_PER_IP_AND_ACCOUNT": "3/m/key",
        },
    )
    readers: list[ReconnectingReader] = []
    tasks: list[asyncio.Task] = []
    try:
        _, writer = await register(user, "Writer")
        for n in range(3):
            _, token = await register(user, f"Reader {n}")
            readers.append(ReconnectingReader(server, token))
        tasks = [asyncio.create_task(r.run()) for r in readers]

        statuses: list[int] = []
        pushed: set[tuple[str, int]] = set()
        traffic_on = asyncio.Event()
        traffic_on.set()

        async def traffic() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                n = 0
                while traffic_on.is_set():
                    change = put(str(uuid.uuid4()), f"live {n}")
                    n += 1
                    response = await http.post(
                        "/api/v1/sync/push",
                        json={"changes": [change]},
                        headers={"Authorization": f"Bearer {writer}"},
                    )
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        result = response.json()["results"][0]
                        pushed.add((change["item_id"], result["item"]["version"]))
                    await asyncio.sleep(0.02)

        pushing = asyncio.create_task(traffic())
        await asyncio.sleep(1.5)
        own_redis.stop()

        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:

            async def sign_in(password: str) -> httpx.Response:
                return await http.post(
                    "/api/v1/auth/token",
                    json={
                        "email": user.email,
                        "password": password,
                        "device": {"name": "Laptop", "kind": "desktop", "platform": "test"},
                    },
                )

            assert (await sign_in(PASSWORD)).status_code == 201
            wrong = [(await sign_in("not the password")).status_code for _ in range(4)]
            assert wrong == [401, 401, 401, 429], wrong
            health = await http.get("/healthz")
            assert health.status_code == 503

        await asyncio.sleep(2)
        during = len(statuses)
        own_redis.start()
        await asyncio.sleep(2)
        traffic_on.clear()
        await pushing

        assert during > 20 and len(statuses) > during, (during, len(statuses))
        assert set(statuses) == {200}, sorted(set(statuses))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while loop.time() < deadline and any(r.held != pushed for r in readers):
            await asyncio.sleep(0.1)
        for reader in readers:
            assert reader.held == pushed, (len(reader.held), len(pushed), reader.reconnects)
            repeats = len(reader.frames) - len(reader.held)
            assert repeats == 0, f"{repeats} changes delivered twice"
    finally:
        for reader in readers:
            reader.stop()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
        server.stop()
        own_redis.stop()
