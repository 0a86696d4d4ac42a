"""PostgreSQL restarted under load: requests fail cleanly while it is away — 503 in the
error shape, never a 500 — and the same server process recovers when it is back.

The server runs on a PostgreSQL cluster of the test's own (initdb in a temporary folder,
its own port), loaded from a dump of the test database, so that the test can restart it
without touching the database the rest of the suite uses."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.services import device_register
from tests.sync.conftest import put
from tests.wsclient import Socket

from .conftest import require_service
from .live import free_port, start_live_server

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _pg_bin(tool: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return found[-1] if found else shutil.which(tool)


class PostgresCluster:
    """A throw-away PostgreSQL cluster that the test can stop and start."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.as_owner: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.as_owner = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/cloudsaves"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_owner, _pg_bin(tool), *args], check=True, capture_output=True, timeout=120
        )

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.as_owner:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "cloudsaves"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


@pytest.fixture
def own_postgres():
    require_service(connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL")
    require_service(_pg_bin("initdb") is not None, "needs PostgreSQL's server binaries")
    # Not under pytest's temporary folder: its parents are closed to the postgres user.
    root = Path(tempfile.mkdtemp(prefix="cloudsaves-pg-"))
    cluster = PostgresCluster(root)
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _copy_test_database_into(cluster: PostgresCluster, tmp_path: Path) -> None:
    conf = connection.settings_dict
    dump = tmp_path / "test.dump"
    host = ["-h", conf.get("HOST") or "127.0.0.1", "-p", str(conf.get("PORT") or 5432)]
    subprocess.run(
        [
            _pg_bin("pg_dump"),
            *host,
            "-U",
            conf.get("USER") or "postgres",
            "-Fc",
            "-f",
            str(dump),
            conf["NAME"],
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [
            _pg_bin("pg_restore"),
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            "--no-owner",
            "-d",
            "cloudsaves",
            str(dump),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _signed_in_session(user) -> str:
    """A browser session of the user's, as a Cookie header (its row is in the dump)."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def test_postgres_restarted_under_load(own_postgres, tmp_path, user):
    register = database_sync_to_async(device_register)
    _, writer = await register(user=user, name="Writer", kind="desktop")
    _, reader = await register(user=user, name="Reader", kind="phone")
    session = await database_sync_to_async(_signed_in_session)(user)
    await asyncio.to_thread(_copy_test_database_into, own_postgres, tmp_path)
    server = start_live_server(
        extra_env={
            "DATABASE_URL": own_postgres.url,
            "CLOUDSAVES_WS_RECHECK_S": "1",
            # Shorter than the outage, so that waiting requests are answered 503 in it.
            "CLOUDSAVES_DB_POOL_TIMEOUT": "1",
        }
    )
    answers: list[tuple[float, str, int, str | None]] = []  # (when, what, status, error code)
    acknowledged: set[tuple[str, int]] = set()
    running = True

    async def load(http: httpx.AsyncClient, what: str) -> None:
        n = 0
        while running:
            n += 1
            try:
                if what == "push":
                    change = put(str(uuid.uuid4()), f"load {n}")
                    response = await http.post(
                        "/api/v1/sync/push",
                        json={"changes": [change]},
                        headers={"Authorization": f"Bearer {writer}"},
                    )
                elif what == "pull":
                    response = await http.get(
                        "/api/v1/sync/changes", headers={"Authorization": f"Bearer {reader}"}
                    )
                else:
                    response = await http.get(
                        "/devices/", headers={"Accept": "text/html", "Cookie": session}
                    )
            except httpx.TransportError as exc:
                answers.append((time.monotonic(), what, 0, type(exc).__name__))
                continue
            code = None
            if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
                "application/json"
            ):
                code = response.json()["error"]["code"]
            answers.append((time.monotonic(), what, response.status_code, code))
            if what == "push" and response.status_code == 200:
                result = response.json()["results"][0]
                acknowledged.add((change["item_id"], result["item"]["version"]))
            await asyncio.sleep(0.02)

    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            sock = await Socket.open(server.ws_url, token=reader)
            await sock.subscribe("")
            tasks = [
                asyncio.create_task(load(http, what)) for what in ("push", "push", "pull", "page")
            ]
            await asyncio.sleep(1.5)
            stopped_at = time.monotonic()
            await asyncio.to_thread(own_postgres.stop, "fast")
            await asyncio.sleep(3)
            await asyncio.to_thread(own_postgres.start)
            started_at = time.monotonic()
            await asyncio.sleep(4)
            running = False
            await asyncio.gather(*tasks)

            statuses = sorted({(what, status, code) for _, what, status, code in answers})
            assert not [a for a in answers if a[2] >= 500 and a[2] != 503], statuses
            assert not [a for a in answers if a[2] == 0], statuses
            failed = [a for a in answers if a[2] == 503]
            assert failed, "the outage was not seen at all"
            for _, what, _, code in failed:
                if what != "page":
                    assert code == "service_unavailable", statuses
            pages = [a for a in answers if a[1] == "page"]
            assert {a[2] for a in pages} <= {200, 503}, statuses
            # Recovered without a restart of the server: everything after the first
            # second of PostgreSQL being back is answered.
            late = [a for a in answers if a[0] > started_at + 1]
            assert late and all(a[2] < 400 for a in late), statuses
            assert all(a[0] >= stopped_at for a in failed)

            recovered = min(
                (a[0] for a in answers if a[0] > started_at and a[2] < 400), default=None
            )
            print(
                f"\nPostgreSQL down {started_at - stopped_at:.1f} s: {len(answers)} requests, "
                f"{len(failed)} answered 503, first success {recovered - started_at:.2f} s "
                "after it was back"
            )
            # The socket, whether or not it survived, catches up by cursor.
            with contextlib.suppress(websockets.ConnectionClosed):
                await sock.collect_until(lambda s: set(s.seen) >= acknowledged, timeout=5)
            if not set(sock.seen) >= acknowledged:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await sock.close()
                again = await Socket.open(server.ws_url, token=reader)
                again.seen.update(sock.seen)
                await again.subscribe(sock.cursor or "")
                sock = again
                print("the socket was closed during the outage and resubscribed by cursor")
            assert set(sock.seen) >= acknowledged
            assert max(sock.seen.values()) == 1
            await sock.close()
    finally:
        running = False
        server.stop()
