"""Refuse oversize request bodies before anything reads them.

DRF's parsers stream the body without Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, so the
limit is enforced here, in front of Django: a declared Content-Length over the limit is
answered 413 at once, and a chunked body is counted as it arrives.
"""

from __future__ import annotations

import json

from django.conf import settings


class _TooLarge(Exception):
    pass


def _response_body(limit: int) -> bytes:
    return json.dumps(
        {
            "error": {
                "code": "too_large",
                "message": f"The request body is larger than the server accepts ({limit} bytes).",
                "details": {"max_request_bytes": limit},
            }
        }
    ).encode()


async def _send_413(send, limit: int) -> None:
    body = _response_body(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.CLOUDSAVES_MAX_REQUEST_BYTES
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    return await _send_413(send, limit)
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            return await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await _send_413(send, limit)
