"""Real daphne processes for end-to-end tests, serving the test database."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from cloudsaves.serve import ServerProcess, free_port, spawn

__all__ = ["LiveServer", "free_port", "shared_database_url", "start_live_server"]

ROOT = Path(__file__).resolve().parent.parent


def shared_database_url() -> str:
    """The URL of the database the test run created, for a child process to share."""
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    user = quote(conf.get("USER") or "")
    password = f":{quote(conf['PASSWORD'])}" if conf.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = conf.get("HOST") or "127.0.0.1"
    port = f":{conf['PORT']}" if conf.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{conf['NAME']}"


LiveServer = ServerProcess


def start_live_server(
    *,
    port: int | None = None,
    redis_url: str | None = None,
    extra_env: dict | None = None,
    tls=None,
) -> LiveServer:
    env = dict(os.environ)
    env["DATABASE_URL"] = shared_database_url()
    env["DJANGO_SETTINGS_MODULE"] = "cloudsaves.settings"
    redis_url = redis_url if redis_url is not None else settings.REDIS_URL
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    # Sign-in limits and known addresses live in the cache: each server a key space of its
    # own, so counters left in Redis by an earlier test or run never throttle this one.
    env["CLOUDSAVES_CACHE_PREFIX"] = f"cloudsaves-live-{uuid.uuid4().hex[:12]}"
    env.update(extra_env or {})
    # 503 counts as started: tests stop Redis under a running server on purpose.
    return spawn(
        env=env, log_dir=ROOT / ".local" / "live-logs", port=port, ready=(200, 503), tls=tls
    )
