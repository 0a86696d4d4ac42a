"""The change stream over real daphne processes: replay then live, exactly once even when
notifications are lost, presence, session ends, bad frames."""

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async

from accounts.services import device_register
from sync.services import changes_push
from tests.conftest import PASSWORD
from tests.live import start_live_server
from tests.wsclient import Socket

from .conftest import put

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def fast_server(django_db_setup, django_db_blocker):
    """A server that re-checks the sequence every second, so tests of lost notifications
    need not wait the default ten seconds."""
    server = start_live_server(extra_env={"CLOUDSAVES_WS_RECHECK_S": "1"})
    yield server
    server.stop()


async def register(user, name="Phone", kind="phone"):
    return await database_sync_to_async(device_register)(user=user, name=name, kind=kind)


async def rest_push(server, token, *changes):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.post(
            "/api/v1/sync/push",
            json={"changes": list(changes)},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    return response.json()


async def quiet_push(user, device, *changes):
    """Push in this process with a private in-memory channel layer: the server's sockets
    get no notification at all, exactly as if it had been dropped."""
    from channels.layers import channel_layers
    from django.test import override_settings

    with override_settings(
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    ):
        channel_layers.backends.clear()
        try:
            return await database_sync_to_async(changes_push)(
                user=user, device=device, changes=list(changes)
            )
        finally:
            channel_layers.backends.clear()


def new_items(n, prefix="note"):
    return [put(str(uuid.uuid4()), f"{prefix} {i}") for i in range(n)]


async def test_replay_then_live(fast_server, user):
    _, writer = await register(user, "Writer")
    _, reader = await register(user, "Reader")
    await rest_push(fast_server, writer, *new_items(7))
    sock = await Socket.open(fast_server.ws_url, token=reader)
    hello = await sock.expect("hello")
    assert hello["cursor"]
    replay = await sock.subscribe("")
    assert len(replay) == 7
    assert all("content" in c for c in replay)

    live = new_items(3, "live")
    await rest_push(fast_server, writer, *live)
    await sock.collect_until(lambda s: len(s.seen) == 10, timeout=5)
    assert len(sock.seen) == 10
    assert set(sock.seen.values()) == {1}
    await sock.close()


async def test_empty_replay_still_ends_with_has_more_false(fast_server, user):
    _, token = await register(user)
    sock = await Socket.open(fast_server.ws_url, token=token)
    await sock.send({"type": "subscribe", "since": ""})
    message = await sock.expect("changes")
    assert (message["changes"], message["has_more"]) == ([], False)
    await sock.send({"type": "subscribe", "since": "forged:cursor"})
    error = await sock.expect("error")
    assert error["code"] == "bad_cursor"
    await sock.close()


async def test_subscribe_from_a_cursor_replays_only_what_came_after(fast_server, user):
    _, token = await register(user)
    body = await rest_push(fast_server, token, *new_items(3))
    await rest_push(fast_server, token, *new_items(2, "after"))
    sock = await Socket.open(fast_server.ws_url, token=token)
    replay = await sock.subscribe(body["cursor"])
    assert sorted(c["content"] for c in replay) == ["after 0", "after 1"]
    await sock.close()


async def test_lost_notification_is_caught_by_the_recheck(fast_server, user):
    device, token = await register(user)
    sock = await Socket.open(fast_server.ws_url, token=token)
    await sock.subscribe("")
    await quiet_push(user, device, *new_items(2))
    await sock.collect_until(lambda s: len(s.seen) == 2, timeout=4)
    assert len(sock.seen) == 2
    await sock.close()


async def test_burst_with_lost_notifications_reaches_every_socket_exactly_once(fast_server, user):
    device, token = await register(user, "Burst writer")
    readers = [(await register(user, f"Reader {i}"))[1] for i in range(10)]
    sockets = [await Socket.open(fast_server.ws_url, token=t) for t in readers]
    for sock in sockets:
        await sock.subscribe("")
    expected = set()
    for round_ in range(20):  # 200 changes: notified, dropped and coalesced mixed together
        batch = new_items(10, f"r{round_}")
        expected |= {(c["item_id"], 1) for c in batch}
        if round_ % 3 == 0:
            await quiet_push(user, device, *batch)
        else:
            await asyncio.gather(*(rest_push(fast_server, token, c) for c in batch))
    for sock in sockets:
        await sock.collect_until(lambda s: set(s.seen) >= expected, timeout=10)
        assert set(sock.seen) == expected
        assert set(sock.seen.values()) == {1}, "a change was delivered twice"
        await sock.close()


async def test_presence_and_device_messages(fast_server, user, client_for):
    _, token_a = await register(user, "Tablet", "tablet")
    device_b, token_b = await register(user, "Phone", "phone")
    a = await Socket.open(fast_server.ws_url, token=token_a)
    await a.expect("hello")
    b = await Socket.open(fast_server.ws_url, token=token_b)
    await b.expect("hello")
    arrived = await a.expect("device")
    assert (arrived["device"]["id"], arrived["device"]["online"]) == (str(device_b.id), True)

    async with httpx.AsyncClient(base_url=fast_server.url) as http:
        listed = await http.get("/api/v1/devices/", headers={"Authorization": f"Bearer {token_a}"})
        online = {d["name"]: d["online"] for d in listed.json()["results"]}
        assert online == {"Tablet": True, "Phone": True}
        renamed = await http.patch(
            f"/api/v1/devices/{device_b.id}/",
            json={"name": "Work phone"},
            headers={"Authorization": f"Bearer {token_a}"},
        )
        assert renamed.status_code == 200
    message = await a.expect("device")
    assert message["device"]["name"] == "Work phone"

    await b.close()
    left = await a.expect("device")
    assert (left["device"]["id"], left["device"]["online"]) == (str(device_b.id), False)
    await a.close()


async def login(http: httpx.AsyncClient, email: str) -> None:
    page = await http.get("/accounts/login/")
    token = page.cookies["csrftoken"]
    response = await http.post(
        "/accounts/login/",
        data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{http.base_url}accounts/login/"},
    )
    assert response.status_code == 302, response.text
    assert (await http.get("/api/v1/devices/")).status_code == 200  # registers the browser


async def browser_socket(server, http: httpx.AsyncClient) -> Socket:
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    return await Socket.open(
        server.ws_url,
        origin=f"http://127.0.0.1:{server.port}",
        additional_headers={"Cookie": cookie},
    )


async def test_logout_closes_the_browser_sockets_within_a_second(fast_server, user):
    async with httpx.AsyncClient(base_url=fast_server.url) as http:
        await login(http, user.email)
        sock = await browser_socket(fast_server, http)
        hello = await sock.expect("hello")
        assert hello["device"]["kind"] == "browser"
        # A cookie without an Origin (not a browser) is not accepted.
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        bare = await Socket.open(fast_server.ws_url, additional_headers={"Cookie": cookie})
        assert await bare.closed_with() == 4401

        response = await http.post(
            "/accounts/logout/",
            data={"csrfmiddlewaretoken": http.cookies["csrftoken"]},
            headers={"Referer": f"{fast_server.url}/"},
        )
        assert response.status_code == 302
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await sock.closed_with(timeout=2) == 4401
        assert loop.time() - started < 1.0


async def test_password_change_closes_every_other_socket(fast_server, user):
    _, token = await register(user, "Phone")
    phone = await Socket.open(fast_server.ws_url, token=token)
    await phone.expect("hello")
    async with httpx.AsyncClient(base_url=fast_server.url) as http:
        await login(http, user.email)
        browser = await browser_socket(fast_server, http)
        await browser.expect("hello")
        response = await http.post(
            "/accounts/password/change/",
            data={
                "oldpassword": PASSWORD,
                "password1": "a whole new passphrase",
                "password2": "a whole new passphrase",
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
            },
            headers={"Referer": f"{fast_server.url}/accounts/password/change/"},
        )
        assert response.status_code == 302, response.text
        assert await phone.closed_with(timeout=2) == 4401
        await browser.send({"type": "ping"})
        assert (await browser.expect("pong"))["type"] == "pong"
        await browser.close()


async def test_bad_frames_never_hurt_the_server(fast_server, user):
    _, token = await register(user)
    bystander = await Socket.open(fast_server.ws_url, token=token)
    await bystander.expect("hello")
    sock = await Socket.open(fast_server.ws_url, token=token)
    await sock.expect("hello")
    for frame, code in (
        ("{", "bad_json"),
        ("[1, 2]", "bad_message"),
        (json.dumps({"no": "type"}), "bad_message"),
        (json.dumps({"type": "teleport"}), "unknown_type"),
        (json.dumps({"type": "subscribe", "since": 5}), "bad_cursor"),
        # Nested past Python's recursion limit, and merely deep: an error, never a 1011.
        ("[" * 5000 + "]" * 5000, "bad_json"),
        ('{"type": "ping", "x": ' + "[" * 100 + "]" * 100 + "}", "bad_json"),
    ):
        await sock.ws.send(frame)
        assert (await sock.expect("error"))["code"] == code
    await sock.ws.send(b"\xff\xfe binary junk")
    assert (await sock.expect("error"))["code"] == "bad_json"
    await sock.ws.send("x" * (64 * 1024 + 1))
    assert (await sock.expect("error"))["code"] == "frame_too_large"
    await sock.send({"type": "ping"})
    assert (await sock.expect("pong"))["type"] == "pong"
    # Far over the limit: dropped by the transport before it is buffered whole.
    huge = await Socket.open(fast_server.ws_url, token=token)
    await huge.expect("hello")
    with pytest.raises(websockets.ConnectionClosed):
        await huge.ws.send("x" * (2 * 1024 * 1024))
        await huge.expect("pong", timeout=5)
    await bystander.send({"type": "ping"})
    assert (await bystander.expect("pong"))["type"] == "pong"
    await bystander.close()


async def test_a_client_that_never_reads_is_dropped(user, django_db_blocker):
    """A peer that stops reading stops answering pings; the server drops it after the ping
    timeout, which bounds what it buffers for that peer."""
    import socket as pysocket

    server = start_live_server(
        extra_env={"CLOUDSAVES_WS_PING_INTERVAL_S": "1", "CLOUDSAVES_WS_PING_TIMEOUT_S": "2"}
    )
    try:
        device, token = await register(user)
        raw = pysocket.socket()
        raw.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", server.port))
        raw.sendall(
            b"GET /ws/v1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n" + f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        assert b"101" in raw.recv(1024).split(b"\r\n")[0]
        # Subscribe (a masked client frame), then never read again while content piles up.
        payload = json.dumps({"type": "subscribe", "since": ""}).encode()
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        raw.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        big = "x" * 20000
        for _ in range(10):
            await database_sync_to_async(changes_push)(
                user=user,
                device=device,
                changes=[put(str(uuid.uuid4()), big) for _ in range(20)],
            )
        await asyncio.sleep(6)
        async with httpx.AsyncClient(base_url=server.url) as http:
            listed = await http.get(
                "/api/v1/devices/", headers={"Authorization": f"Bearer {token}"}
            )
        assert listed.json()["results"][0]["online"] is False
        raw.close()
    finally:
        server.stop()
