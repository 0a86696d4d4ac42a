"""Settings of the bare Channels baseline served by bench/bare_asgi.py.

Nothing but Channels and the channel layer. bench/live_bench.py passes the product's own
channel-layer CONFIG (read from cloudsaves.settings) in BENCH_CHANNEL_LAYER_CONFIG, so
both servers talk to Redis with identical settings (hosts, prefix, capacity, expiry).
"""

from __future__ import annotations

import json
import os

SECRET_KEY = "bare-channels-benchmark-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
USE_TZ = True

_config = os.environ.get("BENCH_CHANNEL_LAYER_CONFIG")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": json.loads(_config)
        if _config
        else {
            "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")],
            "prefix": os.environ.get("CLOUDSAVES_CHANNEL_PREFIX", "bare-bench"),
            "capacity": 500,
            "expiry": 30,
        },
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
