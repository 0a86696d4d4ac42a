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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudsaves.serve import ServerProcess, free_port, spawn  # noqa: E402

__all__ = ["LOG_DIR", "ROOT", "Server", "free_port", "server_env", "start_server"]

LOG_DIR = ROOT / ".local" / "bench-logs"


def server_env(database_url: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server (or management command) on `database_url`: settings
    from cloudsaves.settings, the in-memory channel layer (no REDIS_URL)."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env["DJANGO_SETTINGS_MODULE"] = "cloudsaves.settings"
    env.pop("REDIS_URL", None)
    env.update(extra_env or {})
    return env


Server = ServerProcess


def start_server(
    *, database_url: str, extra_env: dict[str, str] | None = None, timeout: float = 30
) -> Server:
    return spawn(env=server_env(database_url, extra_env), log_dir=LOG_DIR, timeout=timeout)
