"""Arbitrary JSON thrown at push and at the socket: never a 5xx, never a 1011 close, and
the good changes sent beside the junk still apply."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from accounts.services import device_register

# Strings as a hostile client can send them in JSON: any code point, lone surrogates and
# NUL included (json.dumps escapes them, the server's parser turns them back).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
# Only valid JSON: NaN and Infinity are not JSON, and a body holding them is a 400 whole.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
any_json = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)
# Values a field might plausibly be tried with, beside entirely arbitrary ones.
near_misses = st.sampled_from(
    [
        "",
        "put",
        "delete",
        "text",
        "binary",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-13-45T99:99:99Z",
        "text/plain\r\nX: 1",
        "x\udc00y",
        "\x00",
        "bm90IGJhc2U2NA",
        -1,
        2**63,
        10**400,
        1e308,
    ]
)
CHANGE_FIELDS = [
    "change_id",
    "item_id",
    "op",
    "kind",
    "name",
    "content_type",
    "content",
    "content_b64",
    "base_version",
    "modified_at",
]
change_like = st.dictionaries(
    st.sampled_from(CHANGE_FIELDS), near_misses | any_json, max_size=len(CHANGE_FIELDS)
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _good() -> dict:
    return {
        "change_id": str(uuid.uuid4()),
        "item_id": str(uuid.uuid4()),
        "op": "put",
        "kind": "text",
        "name": "good neighbour",
        "content": "kept",
        "base_version": None,
    }


def _post(api, body: str):
    return api.generic("POST", "/api/v1/sync/push", body, content_type="application/json")


@pytest.mark.django_db
@FUZZ
@given(junk=change_like | any_json)
def test_junk_in_a_push_is_rejected_alone(auth_api, junk):
    before, after = _good(), _good()
    response = _post(auth_api, json.dumps({"changes": [before, junk, after]}))
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 3
    assert results[0]["status"] == "applied"
    assert results[2]["status"] == "applied"
    assert results[1]["status"] in {"applied", "rejected"}
    for change, result in ((before, results[0]), (after, results[2])):
        item = auth_api.get(f"/api/v1/items/{change['item_id']}/").json()
        assert item["content"] == "kept"
        assert result["item"]["version"] == item["version"]


@pytest.mark.django_db
@FUZZ
@given(body=any_json)
def test_any_json_body_at_push_is_never_a_5xx(auth_api, body):
    response = _post(auth_api, json.dumps(body))
    assert response.status_code < 500, response.content
    assert "error" in response.json() or "results" in response.json()


SOCKET_TYPES = ["subscribe", "active", "activity", "ping", "push", ""]
frame_like = st.builds(
    lambda kind, fields: {**fields, "type": kind},
    st.sampled_from(SOCKET_TYPES) | any_text,
    st.dictionaries(
        st.sampled_from(["since", "item_id", "item_version", "state", "device_id"]),
        near_misses | any_json,
        max_size=4,
    ),
)


def _until_pong(ws) -> list[dict]:
    """What the server answered before the pong that follows every fuzzed frame."""
    answers = []
    while True:
        message = json.loads(ws.recv(timeout=10))
        if message["type"] == "pong":
            return answers
        answers.append(message)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_junk_frames_never_break_the_socket(live_server_proc, user):
    _, token = device_register(user=user, name="Fuzzer", kind="desktop", platform="test")
    with connect(
        live_server_proc.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"

        @settings(max_examples=150, deadline=None)
        @given(frame=frame_like | any_json | any_text)
        def throw(frame):
            raw = frame if isinstance(frame, str) else json.dumps(frame)
            try:
                ws.send(raw)
                ws.send(json.dumps({"type": "ping"}))
                answers = _until_pong(ws)
            except ConnectionClosed as closed:
                pytest.fail(f"socket closed ({closed.rcvd}) after {raw[:200]!r}")
            for answer in answers:
                if answer["type"] == "error":
                    assert answer["code"] != "server_error", (raw[:200], answer)

        throw()
        # The socket still does its work after all of that: a real subscribe replays.
        ws.send(json.dumps({"type": "subscribe", "since": ""}))
        while True:
            message = json.loads(ws.recv(timeout=10))
            if message["type"] == "changes" and not message["has_more"]:
                break
