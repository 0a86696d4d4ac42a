"""The cache: Redis, and this process's memory while Redis cannot be reached.

The cache holds only sign-in limits and known sign-in addresses. Losing them for the
length of a Redis outage is better than refusing every sign-in: while Redis is down each
process counts in its own memory (so with N processes an address gets up to N times its
limit for that while), and after `RETRY_S` the next call tries Redis again. What was
counted in memory is not copied back; Redis's own counters resume where they were.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger(__name__)

RETRY_S = 5.0
_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


class RedisCacheWithFallback(RedisCache):
    def __init__(self, server, params):
        params = dict(params)
        options = dict(params.get("OPTIONS") or {})
        # A Redis that is down should cost a sign-in a fraction of a second, not minutes.
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 2.0)
        params["OPTIONS"] = options
        super().__init__(server, params)
        self._fallback = LocMemCache(
            "cloudsaves-cache-fallback",
            {key: value for key, value in params.items() if key != "OPTIONS"},
        )
        self._retry_at = 0.0
        self._lock = threading.Lock()

    @property
    def in_fallback(self) -> bool:
        return time.monotonic() < self._retry_at

    def _call(self, name: str, *args, **kwargs):
        if not self.in_fallback:
            try:
                return getattr(super(), name)(*args, **kwargs)
            except _UNREACHABLE as exc:
                with self._lock:
                    if not self.in_fallback:
                        log.warning(
                            "cache: Redis unreachable (%s); counting in this process's "
                            "memory, retrying Redis every %.0f s",
                            exc,
                            RETRY_S,
                        )
                    self._retry_at = time.monotonic() + RETRY_S
        return getattr(self._fallback, name)(*args, **kwargs)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call("get", key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", key, timeout, version)

    def delete(self, key, version=None):
        return self._call("delete", key, version)

    def get_many(self, keys, version=None):
        return self._call("get_many", keys, version)

    def has_key(self, key, version=None):
        return self._call("has_key", key, version)

    def incr(self, key, delta=1, version=None):
        return self._call("incr", key, delta, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set_many", data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._call("delete_many", keys, version)

    def clear(self):
        return self._call("clear")
