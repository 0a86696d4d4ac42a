"""Oversize bodies are refused before anything reads them."""

import socket

import pytest
from asgiref.testing import ApplicationCommunicator

from cloudsaves.limits import BodySizeLimit
from tests.live import start_live_server


async def _echo_app(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def http_scope(headers=()):
    return {"type": "http", "method": "POST", "path": "/api/v1/sync/push", "headers": headers}


async def run(app, scope, chunks):
    comm = ApplicationCommunicator(app, scope)
    for i, chunk in enumerate(chunks):
        await comm.send_input(
            {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        )
    start = await comm.receive_output(2)
    body = await comm.receive_output(2)
    return start["status"], body["body"]


async def test_chunked_body_over_the_limit_is_413(settings):
    settings.CLOUDSAVES_MAX_REQUEST_BYTES = 100
    status, body = await run(BodySizeLimit(_echo_app), http_scope(), [b"x" * 60, b"y" * 60])
    assert status == 413
    assert b'"too_large"' in body


async def test_body_within_the_limit_passes(settings):
    settings.CLOUDSAVES_MAX_REQUEST_BYTES = 100
    status, body = await run(BodySizeLimit(_echo_app), http_scope(), [b"x" * 50, b"y" * 50])
    assert (status, body) == (200, b"100")


async def test_declared_length_over_the_limit_is_413_without_reading(settings):
    settings.CLOUDSAVES_MAX_REQUEST_BYTES = 100
    comm = ApplicationCommunicator(
        BodySizeLimit(_echo_app), http_scope([(b"content-length", b"101")])
    )
    start = await comm.receive_output(2)  # answered before any body was sent
    assert start["status"] == 413


@pytest.fixture(scope="module")
def small_limit_server(django_db_setup, django_db_blocker):
    server = start_live_server(extra_env={"CLOUDSAVES_MAX_REQUEST_BYTES": "1000"})
    yield server
    server.stop()


@pytest.mark.live
def test_daphne_answers_413_and_the_app_never_parses_the_body(small_limit_server):
    # daphne (twisted) receives the whole body before the application runs, spooling a
    # large one to a temporary file rather than memory; the application then refuses it
    # without reading. A front proxy's body limit (docs/deployment.md) stops it earlier.
    body = b'{"changes": [' + b" " * 2000 + b"]}"
    with socket.create_connection(("127.0.0.1", small_limit_server.port), timeout=5) as conn:
        conn.sendall(
            b"POST /api/v1/sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        reply = conn.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"too_large" in reply
    assert b"1000 bytes" in reply
