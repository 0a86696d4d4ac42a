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
    from sync import keys

    key = keys.data_key(user.id)
    item = Item.objects.get(user=user, item_id=item_id)
    for row in (item, *Version.objects.filter(item=item)):
        if isinstance(row, Version):
            row.item = item
        row.content_type = unsafe
        row.seal_meta(key)
        row.save(update_fields=["meta"])
    response = auth_api.get(f"/api/v1/items/{item_id}/content")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"


def _multipart(api, body: bytes, boundary: str = "b0undary"):
    return api.generic(
        "POST",
        "/api/v1/items/",
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not a multipart body at all",
        # A name field and the start of a file part, cut off before its content ends.
        b'--b0undary\r\nContent-Disposition: form-data; name="name"\r\n\r\nsave.bin\r\n'
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="s',
        # Only form fields: nothing to upload.
        b'--b0undary\r\nContent-Disposition: form-data; name="kind"\r\n\r\nbinary\r\n'
        b"--b0undary--\r\n",
    ],
    ids=["garbage", "truncated", "no-file-part"],
)
def test_a_broken_multipart_body_creates_nothing(auth_api, user, body):
    from sync.models import Item

    response = _multipart(auth_api, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "malformed_request"
    assert not Item.objects.filter(user=user).exists()


def test_multipart_without_a_boundary_is_a_400_with_the_error_shape(auth_api):
    response = auth_api.generic("POST", "/api/v1/items/", b"x", content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here",
        "/api/v1/items/not-a-uuid/",
        "/api/v1/items/{id}/versions/-1/",
        "/api/v1/devices/line%0Abreak/",
    ],
)
def test_unknown_api_paths_answer_the_error_shape(auth_api, path):
    response = auth_api.get(path.format(id=uuid.uuid4()))
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("PUT", "/api/v1/items/{id}/", {"content": "mine now"}),
        ("PATCH", "/api/v1/items/{id}/", {"name": "mine now"}),
        ("DELETE", "/api/v1/items/{id}/", None),
        ("PUT", "/api/v1/items/{id}/content", None),
    ],
)
def test_another_users_item_under_if_match_is_a_404(
    auth_api, other_user, make_device, client_for, method, path, body
):
    from sync.models import Item

    item_id = str(uuid.uuid4())
    pushed = auth_api.post("/api/v1/sync/push", {"changes": [_put(item_id=item_id)]}, format="json")
    assert pushed.json()["results"][0]["status"] == "applied"
    intruder = client_for(make_device(other_user)[1])
    url = path.format(id=item_id)
    if body is None and method == "PUT":
        response = intruder.generic(
            method, url, b"raw", content_type="application/octet-stream", HTTP_IF_MATCH='"v1"'
        )
    else:
        response = intruder.generic(
            method,
            url,
            json.dumps(body) if body is not None else "",
            content_type="application/json",
            HTTP_IF_MATCH='"v1"',
        )
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert b"hello" not in response.content
    item = Item.objects.get(item_id=item_id)
    assert (item.version, item.deleted) == (1, False)
