"""Two server processes behind HAProxy, started by bench/cluster.sh — the same script the
load benchmark and docs/operations.md use — sharing the test database and Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from accounts.services import device_register
from tests.sync.conftest import put
from tests.wsclient import Socket

from .conftest import require_service
from .live import ROOT, free_port, shared_database_url

pytestmark = [pytest.mark.live, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SCRIPT = ROOT / "bench" / "cluster.sh"


@pytest.fixture
def cluster(tmp_path: Path):
    require_service(bool(settings.REDIS_URL), "needs Redis: set REDIS_URL")
    require_service(shutil.which("haproxy") or os.path.exists("/usr/sbin/haproxy"), "needs HAProxy")
    port = free_port()
    while any(_in_use(port + i) for i in (1, 2)):
        port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=shared_database_url(),
        REDIS_URL=settings.REDIS_URL,
        PYTHON=sys.executable,
        CLUSTER_DIR=str(tmp_path / "cluster"),
        CLUSTER_SKIP_MIGRATE="1",  # the test database is migrated
        CLOUDSAVES_CACHE_PREFIX=f"cloudsaves-cluster-{uuid.uuid4().hex[:12]}",
        DJANGO_SETTINGS_MODULE="cloudsaves.settings",
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(SCRIPT), *args, "-p", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    started = run("start", "-n", "2")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield port
    finally:
        run("stop")
        for log in sorted((tmp_path / "cluster").glob("*.log")):
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{log.name}:\n{text[-3000:]}"


def _in_use(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_a_change_pushed_through_one_process_reaches_sockets_on_the_other(cluster, user):
    front, first, second = cluster, cluster + 1, cluster + 2
    register = database_sync_to_async(device_register)
    _, writer = await register(user=user, name="Writer", kind="desktop")
    _, on_second = await register(user=user, name="Phone", kind="phone")
    _, via_proxy = await register(user=user, name="Tablet", kind="tablet")

    direct = await Socket.open(f"ws://127.0.0.1:{second}/ws/v1/", token=on_second)
    proxied = await Socket.open(f"ws://127.0.0.1:{front}/ws/v1/", token=via_proxy)
    await direct.subscribe("")
    await proxied.subscribe("")

    changes = [put(str(uuid.uuid4()), f"through the first process {i}") for i in range(3)]
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"http://127.0.0.1:{first}/api/v1/sync/push",
            json={"changes": changes},
            headers={"Authorization": f"Bearer {writer}"},
        )
        assert response.status_code == 200, response.text
        # And through the proxy, wherever it lands.
        more = [put(str(uuid.uuid4()), "through the proxy")]
        response = await http.post(
            f"http://127.0.0.1:{front}/api/v1/sync/push",
            json={"changes": more},
            headers={"Authorization": f"Bearer {writer}"},
        )
        assert response.status_code == 200, response.text
        health = await http.get(f"http://127.0.0.1:{front}/healthz")
        assert health.json() == {
            "status": "ok",
            "checks": {"database": "ok", "channel_layer": "ok"},
        }

    expected = {(c["item_id"], 1) for c in changes + more}
    for sock in (direct, proxied):
        await sock.collect_until(lambda s: set(s.seen) >= expected, timeout=5)
        assert set(sock.seen) == expected
        assert max(sock.seen.values()) == 1
        await sock.close()
