"""Hostile input is answered with the error shape, never a 500, and one bad change in a
push is rejected alone while its neighbours apply."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.django_db

SURROGATE = "x\udc00y"


def _put(**fields) -> dict:
    change = {
        "change_id": str(uuid.uuid4()),
        "item_id": str(uuid.uuid4()),
        "op": "put",
        "kind": "text",
        "name": "note",
        "content": "hello",
        "base_version": None,
    }
    change.update(fields)
    return change


def _raw_post(api, path: str, body: str):
    # json.dumps escapes a lone surrogate as \\udc00, which the server's parser turns back
    # into one: exactly what a hostile client sends.
    return api.generic("POST", path, body, content_type="application/json")


@pytest.mark.parametrize(
    "bad",
    [
        {"name": SURROGATE},
        {"content_type": SURROGATE},
        {"content_type": "text/plain\r\nX-Injected: 1"},
        {"content_type": "text/plain\x00"},
        {"name": "nul\x00name"},
        {"modified_at": "0001-01-01T00:00:00+01:00"},
        {"modified_at": "9999-12-31T23:59:59-01:00"},
        {"content": SURROGATE},
    ],
    ids=lambda bad: next(iter(bad)) + ":" + repr(next(iter(bad.values())))[:20],
)
def test_one_bad_change_is_rejected_alone(auth_api, bad):
    good_before, bad_change, good_after = _put(), _put(**bad), _put()
    body = json.dumps({"changes": [good_before, bad_change, good_after]})
    response = _raw_post(auth_api, "/api/v1/sync/push", body)
    assert response.status_code == 200, response.content
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["applied", "rejected", "applied"]
    assert response.json()["results"][1]["error"]["code"] == "invalid"


def test_item_create_with_a_lone_surrogate_is_a_400(auth_api):
    body = json.dumps({"id": str(uuid.uuid4()), "kind": "text", "name": SURROGATE, "content": ""})
    response = _raw_post(auth_api, "/api/v1/items/", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("depth", [100, 5000])
@pytest.mark.parametrize("path", ["/api/v1/sync/push", "/api/v1/auth/token"])
def test_deeply_nested_json_is_a_400(api, auth_api, path, depth):
    client = auth_api if "push" in path else api
    response = _raw_post(client, path, "[" * depth + "]" * depth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_search_with_a_nul_is_a_400(auth_api):
    # PostgreSQL cannot compare text holding U+0000 (it was a 500 there).
    response = auth_api.get("/api/v1/items/", {"q": "\x00"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    "state",
    [{"caret": SURROGATE}, {"deep": json.loads("[" * 40 + "]" * 40)}],
    ids=["surrogate", "deep"],
)
def test_handoff_state_that_cannot_be_sealed_is_a_400(auth_api, state):
    item_id = str(uuid.uuid4())
    pushed = auth_api.post("/api/v1/sync/push", {"changes": [_put(item_id=item_id)]}, format="json")
    assert pushed.json()["results"][0]["status"] == "applied"
    body = json.dumps({"item_id": item_id, "item_version": 1, "state": state})
    response = auth_api.generic(
        "PUT", "/api/v1/handoff/activity", body, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"


def test_a_stored_content_type_that_is_not_header_safe_downloads_as_octet_stream(auth_api, user):
    from sync.models import Item, Version

    item_id = str(uuid.uuid4())
    auth_api.post("/api/v1/sync/push", {"changes": [_put(item_id=item_id)]}, format="json")
    # As an older release could have stored it (it made every download a 500).
    unsafe = "text/plain\r\nX: 1"
    Item.objects.filter(user=user, item_id=item_id).update(content_type=unsafe)
    Version.objects.filter(item__user=user, item__item_id=item_id).update(content_type=unsafe)
    response = auth_api.get(f"/api/v1/items/{item_id}/content")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
