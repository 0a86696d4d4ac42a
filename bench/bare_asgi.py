"""A minimal Channels application: the baseline bench/live_bench.py compares the product's
live socket with.

One WebSocket route (`/ws/`) whose consumer joins one group on connect and accepts; a
group message `{"type": "bench.msg", "text": ...}` is forwarded to the socket as it is.
`/healthz` answers 200 so the benchmark can wait for the server like for the product.

    DJANGO_SETTINGS_MODULE=bench.bare_settings REDIS_URL=... \
        python -m daphne -p 8001 bench.bare_asgi:application
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bare_settings")

import django

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

GROUP = "bench"


class BareConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def bench_msg(self, event: dict) -> None:
        await self.send(text_data=event["text"])


async def health(scope, receive, send) -> None:
    """Plain HTTP: 200 "ok" for /healthz, 404 for anything else."""
    while (await receive()).get("more_body"):
        pass
    ok = scope["path"] == "/healthz"
    body = b"ok" if ok else b"not found"
    await send(
        {
            "type": "http.response.start",
            "status": 200 if ok else 404,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


application = ProtocolTypeRouter(
    {
        "http": health,
        "websocket": URLRouter([path("ws/", BareConsumer.as_asgi())]),
    }
)
