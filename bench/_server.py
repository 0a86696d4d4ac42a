"""Start and stop a real daphne process for benchmarks (like tests/live.py, without Django
settings in the calling process): `python -m cloudsaves.serve`, the daphne launcher that
`make run` and the live tests use, gets its database and settings from the environment, and
is up once `/healthz` answers.

    server = start_server(database_url="sqlite:////tmp/x.sqlite3")
    ...  # server.url, server.pid
    server.stop()
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / ".local" / "bench-logs"
SERVE = [sys.executable, "-m", "cloudsaves.serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server (or management command) on `database_url`: settings
    from cloudsaves.settings, the in-memory channel layer (no REDIS_URL)."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env["DJANGO_SETTINGS_MODULE"] = "cloudsaves.settings"
    env.pop("REDIS_URL", None)
    env.update(extra_env or {})
    return env


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    *, database_url: str, extra_env: dict[str, str] | None = None, timeout: float = 30
) -> Server:
    port = free_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"daphne-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*SERVE, "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=server_env(database_url, extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{server.log()}")
        try:
            response = httpx.get(f"{server.url}/healthz", timeout=1)
            if response.status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"daphne did not become healthy within {timeout:g} s:\n{server.log()}")
