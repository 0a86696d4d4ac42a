"""The authorization matrix: another user's ids answer exactly like ids that do not exist.

User A (two devices) makes one of everything: a text item whose content holds a canary, a
binary item, a tombstone, versions, an open text conflict and an auto-resolved binary one,
a handoff activity and a pending offer, a handoff setting. Then user B, with a device
token of its own, calls every REST route under /api/ (found from the URL resolver, so a
route the matrix does not know fails the matrix) with A's ids and every method the route
accepts. B gets 404 `not_found` (or the contract's status: a list answers 200 with B's
own, empty, results; a push answers 200 with per-change rejections), each answer equals
the one for the same call with ids nobody holds, no answer carries anything of A's, and
A's data is unchanged afterwards. The socket is checked the same way on a real daphne.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
import yaml
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from sync.changes import encode_cursor

CANARY = "CANARY-a1b2"
TEXT_NAME = "alice-secret-plans.txt"
BINARY_NAME = "alice-savegame.bin"
TOMB_NAME = "alice-shredded.txt"
PHONE_NAME = "Alice Pixel 9"
LAPTOP_NAME = "Alice ThinkPad"
SPARE_NAME = "Alice Old Tablet"
BOB_DEVICE_NAME = "Bob Own Phone"
BASE_TEXT = f"{CANARY} first line\nsecond line\nthird line\n"
BLOB_1 = b"\x00\x01" + CANARY.encode() + b" blob one\xff"
BLOB_2 = b"\x00\x02" + CANARY.encode() + b" blob two\xff"
BLOB_3 = b"\x00\x03" + CANARY.encode() + b" blob three\xff"
BOB_TEXT = "bob's own words"

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


# -- A's world ------------------------------------------------------------------------------


def _put(item_id, content=None, *, base=None, kind="text", name=TEXT_NAME, **extra) -> dict:
    change = {
        "change_id": str(uuid.uuid4()),
        "item_id": str(item_id),
        "op": "put",
        "base_version": base,
        "kind": kind,
        "name": name,
    }
    if content is not None:
        if kind == "binary":
            change["content_b64"] = base64.b64encode(content).decode()
        else:
            change["content"] = content
    change.update(extra)
    return change


def _delete(item_id, *, base) -> dict:
    return {
        "change_id": str(uuid.uuid4()),
        "item_id": str(item_id),
        "op": "delete",
        "base_version": base,
    }


def _push(client, *changes) -> dict:
    response = client.post("/api/v1/sync/push", {"changes": list(changes)}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@dataclass
class World:
    alice: Any
    bob: Any
    bob_device: Any
    bob_client: Any
    ids: dict[str, Any]  # the placeholders calls are written with: A's ids
    ghost: dict[str, Any]  # the same placeholders with ids nobody holds
    forbidden: list[str]  # everything of A's that B must never see
    phone_client: Any = None
    laptop_client: Any = None
    tokens: dict[str, str] = field(default_factory=dict)


def build_world(alice, bob, make_device, client_for) -> World:
    """A's data, made through the API as A's apps would; B's device, with nothing."""
    phone_device, phone_token = make_device(alice, name=PHONE_NAME, kind="phone")
    laptop_device, laptop_token = make_device(alice, name=LAPTOP_NAME, kind="desktop")
    spare_device, spare_token = make_device(alice, name=SPARE_NAME, kind="tablet")
    phone, laptop = client_for(phone_token), client_for(laptop_token)
    text_id, binary_id, tomb_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def applied(response: dict) -> list[dict]:
        results = response["results"]
        assert all(r["status"] == "applied" for r in results), results
        return results

    # Version 1 of each; version 2 of each (the tombstone's is its delete).
    first = _put(text_id, BASE_TEXT)
    applied(
        _push(
            phone,
            first,
            _put(binary_id, BLOB_1, kind="binary", name=BINARY_NAME),
            _put(tomb_id, f"{CANARY} shredded", name=TOMB_NAME),
        )
    )
    grown = BASE_TEXT + "fourth line\n"
    applied(
        _push(
            phone,
            _put(text_id, grown, base=1),
            _put(binary_id, BLOB_2, base=1, kind="binary", name=BINARY_NAME),
            _delete(tomb_id, base=1),
        )
    )
    # Two devices edit the same line from version 2: an open conflict. And the laptop
    # writes the binary from version 1: a conflict that newest-wins settles by itself.
    by_phone = grown.replace("second line", "second line, said the phone")
    by_laptop = grown.replace("second line", "second line, said the laptop")
    applied(_push(phone, _put(text_id, by_phone, base=2)))
    pushed = _push(
        laptop,
        _put(text_id, by_laptop, base=2),
        _put(binary_id, BLOB_3, base=1, kind="binary", name=BINARY_NAME),
    )
    clash, binary_clash = pushed["results"]
    assert clash["status"] == "conflict", clash
    assert clash["item"]["has_conflict"] is True
    assert binary_clash["status"] == "conflict", binary_clash
    conflict_id, text_head = clash["conflict_id"], clash["item"]["version"]
    auto_conflict_id, binary_head = binary_clash["conflict_id"], binary_clash["item"]["version"]
    cursor = pushed["cursor"]

    activity = laptop.put(
        "/api/v1/handoff/activity",
        {"item_id": str(text_id), "item_version": text_head, "state": {"caret": 7, "tag": CANARY}},
        format="json",
    )
    assert activity.status_code == 200, activity.content
    offered = phone.post("/api/v1/handoff/active")
    assert offered.status_code == 200, offered.content
    offer = offered.json()
    assert phone.patch("/api/v1/settings", {"handoff_mode": "auto"}, format="json").json() == {
        "handoff_mode": "auto"
    }

    bob_device, bob_token = make_device(bob, name=BOB_DEVICE_NAME, kind="phone")
    bob_client = client_for(bob_token)
    bob_client.raise_request_exception = False  # a server error is an answer to check
    ids = {
        "text": str(text_id),
        "binary": str(binary_id),
        "tomb": str(tomb_id),
        "conflict": conflict_id,
        "auto_conflict": auto_conflict_id,
        "offer": offer["id"],
        "phone": str(phone_device.id),
        "laptop": str(laptop_device.id),
        "spare": str(spare_device.id),
        "cursor": cursor,
        "offer_cursor": offer["cursor"],
        "change": first["change_id"],
        "email": alice.email,
        "text_head": text_head,
        "binary_head": binary_head,
    }
    from sync.models import Item, Version

    # Hashes are sealed with the names: read them through the models.
    hashes = {i.sha256 for i in Item.objects.filter(user=alice)}
    hashes |= {v.sha256 for v in Version.objects.filter(item__user=alice).select_related("item")}
    uuids = [ids[k] for k in ("text", "binary", "tomb", "conflict", "auto_conflict", "offer")]
    uuids += [ids[k] for k in ("phone", "laptop", "spare")]
    forbidden = [
        CANARY,
        TEXT_NAME,
        BINARY_NAME,
        TOMB_NAME,
        PHONE_NAME,
        LAPTOP_NAME,
        SPARE_NAME,
        alice.email,
        cursor,
        offer["cursor"],
        first["change_id"],
        *(base64.b64encode(blob).decode() for blob in (BLOB_1, BLOB_2, BLOB_3)),
        *(h for h in hashes if h),
        *uuids,
        *(uuid.UUID(u).hex for u in uuids),
    ]
    return World(
        alice=alice,
        bob=bob,
        bob_device=bob_device,
        bob_client=bob_client,
        ids=ids,
        ghost=ghost_ids(ids),
        forbidden=forbidden,
        phone_client=phone,
        laptop_client=laptop,
        tokens={
            "phone": phone_token,
            "laptop": laptop_token,
            "spare": spare_token,
            "bob": bob_token,
        },
    )


def ghost_ids(ids: dict[str, Any]) -> dict[str, Any]:
    """The same placeholders filled with ids that belong to nobody."""
    ghost = dict(ids)
    for key in ("text", "binary", "tomb", "conflict", "auto_conflict", "offer"):
        ghost[key] = str(uuid.uuid4())
    for key in ("phone", "laptop", "spare", "change"):
        ghost[key] = str(uuid.uuid4())
    ghost["cursor"] = encode_cursor(10**9, 7)
    ghost["offer_cursor"] = encode_cursor(10**9, 3)
    ghost["email"] = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    return ghost


def snapshot(alice) -> dict[str, Any]:
    """Everything of A's that B could change, read straight from the database."""
    from accounts.models import Device
    from handoff.models import Activity, HandoffSettings, Offer
    from sync.models import Conflict, Item, PushRecord, SyncState, Version
    from sync.selectors import item_with_content

    items = [
        (i.item_id, i.kind, i.name, i.version, i.sha256, i.deleted, i.has_conflict, i.seq)
        for i in Item.objects.filter(user=alice).order_by("item_id")
    ]
    contents = {
        str(row[0]): item_with_content(user=alice, item_id=row[0])
        for row in items
        if not row[5]  # a tombstone has no content
    }
    return {
        "items": items,
        "contents": contents,
        "versions": sorted(
            (
                (v.id, v.item.item_id, v.number, v.sha256, v.deleted, v.origin)
                for v in Version.objects.filter(item__user=alice).select_related("item")
            ),
            key=str,
        ),
        "conflicts": sorted(
            Conflict.objects.filter(user=alice).values_list(
                "id", "status", "resolution", "result_id", "resolved_at"
            ),
            key=str,
        ),
        "devices": sorted(
            ((d.id, d.name, d.revoked_at, d.token_hash) for d in Device.objects.filter(user=alice)),
            key=str,
        ),
        "offers": sorted(
            Offer.objects.filter(user=alice).values_list("id", "status", "responded_at"), key=str
        ),
        "activities": sorted(
            Activity.objects.filter(user=alice).values_list(
                "device_id", "item_id", "item_version", "updated_at", "sealed_state"
            ),
            key=str,
        ),
        "settings": list(HandoffSettings.objects.filter(user=alice).values_list("handoff_mode")),
        "sync_state": list(SyncState.objects.filter(user=alice).values_list("last_seq")),
        "push_records": PushRecord.objects.filter(device__user=alice).count(),
    }


# -- calls ----------------------------------------------------------------------------------

Body = Any  # JSON, or a callable of the ids


@dataclass(frozen=True)
class Call:
    """One request B makes. `path` is a str.format template of the ids; `body`, `query`
    and `headers` may be callables of them. `status`/`code` are what the contract says."""

    method: str
    path: str
    status: int
    code: str | None = None
    body: Body = None
    query: Body = None
    headers: Body = None
    raw: bytes | None = None  # sent as application/octet-stream
    multipart: Callable[[dict], dict] | None = None
    check: Callable[[Any, dict], None] | None = None


def _fill(value, ids):
    return value(ids) if callable(value) else value


def perform(client, call: Call, ids: dict[str, Any]):
    path = call.path.format(**ids)
    headers = {
        f"HTTP_{k.upper().replace('-', '_')}": v
        for k, v in (_fill(call.headers, ids) or {}).items()
    }
    query = _fill(call.query, ids)
    if query:
        path = f"{path}?{httpx.QueryParams(query)}"
    if call.multipart is not None:
        return client.post(path, call.multipart(ids), format="multipart", **headers)
    if call.raw is not None:
        data, content_type = call.raw, "application/octet-stream"
    elif call.body is not None:
        data, content_type = json.dumps(_fill(call.body, ids)), "application/json"
    else:
        data, content_type = b"", "application/json"
    return client.generic(call.method, path, data, content_type=content_type, **headers)


def request_text(call: Call, ids: dict[str, Any]) -> str:
    """Everything B itself sent: the server may echo it, it is no leak."""
    parts = [call.path.format(**ids)]
    for part in (call.body, call.query, call.headers):
        if part is not None:
            parts.append(json.dumps(_fill(part, ids), default=str))
    if call.multipart is not None:
        parts.append(json.dumps({k: v for k, v in call.multipart(ids).items() if k != "file"}))
    return "\n".join(parts)


def assert_no_leak(response, world: World, sent: str, what: str) -> None:
    blob = bytes(response.content) + b"\n" + json.dumps(dict(response.items())).encode()
    text = blob.decode("utf-8", "replace")
    leaked = [token for token in world.forbidden if token in text and token not in sent]
    assert not leaked, f"{what}: A's data in B's answer: {leaked}\n{text[:2000]}"


def error_of(response) -> tuple[str, str] | None:
    """The error's (code, message), after checking it has the error shape."""
    if response.status_code < 400 or response.request["REQUEST_METHOD"] == "HEAD":
        return None
    if response["Content-Type"].startswith("application/vnd.oai.openapi"):
        # The schema view renders everything, its errors too, as OpenAPI YAML.
        body = yaml.safe_load(response.content)
    else:
        body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) >= {"code", "message", "details"}, body
    return body["error"]["code"], body["error"]["message"]


def run_call(world: World, call: Call) -> None:
    ids, ghost = world.ids, world.ghost
    what = f"{call.method} {call.path}"
    response = perform(world.bob_client, call, ids)
    assert_no_leak(response, world, request_text(call, ids), what)
    assert response.status_code == call.status, (
        f"{what}: {response.status_code} {response.content[:500]!r}"
    )
    error = error_of(response)
    if call.code is not None:
        assert error is not None and error[0] == call.code, f"{what}: {response.content[:500]!r}"
    if call.check is not None:
        call.check(response, ids)
    if _uses_ids(call):
        # Indistinguishable from ids nobody holds: same status, same code and message.
        unknown = perform(world.bob_client, call, ghost)
        assert_no_leak(unknown, world, request_text(call, ghost), f"{what} (unknown ids)")
        assert unknown.status_code == response.status_code, (
            f"{what}: A's ids {response.status_code}, unknown ids {unknown.status_code}"
        )
        assert error_of(unknown) == error, f"{what}: {response.content!r} vs {unknown.content!r}"
        if call.check is not None:
            call.check(unknown, ghost)


def _uses_ids(call: Call) -> bool:
    """Whether the call names any of A's ids (else there is nothing to compare)."""
    sent = request_text(call, _PROBE)
    return any(str(value) in sent for key, value in _PROBE.items() if key in _ID_KEYS)


_ID_KEYS = (
    "text",
    "binary",
    "tomb",
    "conflict",
    "auto_conflict",
    "offer",
    "phone",
    "laptop",
    "spare",
    "cursor",
    "offer_cursor",
    "change",
    "email",
)
_PROBE = {key: f"@@{key}@@" for key in _ID_KEYS} | {"text_head": 4, "binary_head": 3}


# -- checks on 2xx answers ------------------------------------------------------------------


def empty_results(response, ids) -> None:
    assert response.json()["results"] == [], response.content
    assert response.json()["next"] is None


def only_bobs_device(response, ids) -> None:
    names = [d["name"] for d in response.json()["results"]]
    assert names == [BOB_DEVICE_NAME], names
    assert response.json()["results"][0]["current"] is True


def no_changes(response, ids) -> None:
    body = response.json()
    assert body["changes"] == [] and body["has_more"] is False, body


def not_behind(response, ids) -> None:
    assert response.json()["behind"] == 0, response.content


def statuses(*expected: tuple[str, str | None]):
    def check(response, ids) -> None:
        results = response.json()["results"]
        got = [(r["status"], (r.get("error") or {}).get("code")) for r in results]
        assert got == list(expected), got

    return check


def bobs_own_item(version: int = 1, *, key: str = "item", sha: str | None = None):
    """B wrote under an id A also holds: a new item of B's own (ids are scoped per user)."""

    def check(response, ids) -> None:
        body = response.json()
        item = body[key] if key else body
        if "results" in body:
            item = body["results"][0]["item"]
        assert item["version"] == version, body
        if sha is not None:
            assert item["sha256"] == sha, body

    return check


def bobs_text(response, ids) -> None:
    assert response.json()["content"] == BOB_TEXT, response.content


def bobs_bytes(response, ids) -> None:
    assert response.content == b"bob's bytes", response.content


def ticket(response, ids) -> None:
    assert response.json()["expires_in"] == 30
    assert response.json()["ticket"]


def mode(expected: str):
    def check(response, ids) -> None:
        assert response.json() == {"handoff_mode": expected}

    return check


def redirect_to(template: str):
    def check(response, ids) -> None:
        assert response["Location"].endswith(template.format(**ids)), response["Location"]

    return check


BOB_SHA = hashlib.sha256(BOB_TEXT.encode()).hexdigest()


def if_match(key: str):
    return lambda i: {"If-Match": f'"v{i[key]}"'}


def _upload(ids) -> dict:
    return {
        "file": SimpleUploadedFile("bob.bin", b"bob's bytes", content_type="application/x-bob"),
        "id": ids["binary"],
    }


# -- the matrix: every /api/ route, every method it accepts ---------------------------------

ITEM = "/api/v1/items/{text}/"
N404 = {"status": 404, "code": "not_found"}


def nf(method: str, path: str, **kwargs) -> Call:
    return Call(method, path, **N404, **kwargs)


MATRIX: dict[str, dict[str, list[Call]]] = {
    "api/v1/info": {"GET": [Call("GET", "/api/v1/info", 200)]},
    "api/v1/auth/token": {
        "POST": [
            Call(
                "POST",
                "/api/v1/auth/token",
                401,
                "invalid_credentials",
                body=lambda i: {
                    "email": i["email"],
                    "password": "not alice's password",
                    "device": {"name": "Bob's idea of a phone", "kind": "phone"},
                },
            )
        ]
    },
    "api/v1/auth/ws-ticket": {"POST": [Call("POST", "/api/v1/auth/ws-ticket", 201, check=ticket)]},
    "api/v1/devices/": {"GET": [Call("GET", "/api/v1/devices/", 200, check=only_bobs_device)]},
    "api/v1/devices/<uuid:device_id>/": {
        "GET": [nf("GET", "/api/v1/devices/{phone}/"), nf("GET", "/api/v1/devices/{laptop}/")],
        "PATCH": [
            nf("PATCH", "/api/v1/devices/{phone}/", body={"name": "pwned"}),
            nf("PATCH", "/api/v1/devices/{spare}/", body={"name": "pwned"}),
        ],
        "DELETE": [
            nf("DELETE", "/api/v1/devices/{phone}/"),
            nf("DELETE", "/api/v1/devices/{laptop}/"),
            nf("DELETE", "/api/v1/devices/{spare}/"),
        ],
    },
    "api/v1/sync/push": {
        "POST": [
            Call(
                "POST",
                "/api/v1/sync/push",
                200,
                body=lambda i: {
                    "changes": [
                        _put(i["text"], "bob was here", base=i["text_head"]),
                        _delete(i["text"], base=i["text_head"]),
                        _delete(i["binary"], base=None),
                        _put(i["binary"], b"bob", base=1, kind="binary"),
                        _delete(i["tomb"], base=2),
                        _put(i["tomb"], "undead", base=2),
                    ]
                },
                check=statuses(
                    ("rejected", "bad_base_version"),
                    ("rejected", "not_found"),
                    ("rejected", "not_found"),
                    ("rejected", "bad_base_version"),
                    ("rejected", "not_found"),
                    ("rejected", "bad_base_version"),
                ),
            ),
            # A's change id and item id: B's own new item, not A's recorded result.
            Call(
                "POST",
                "/api/v1/sync/push",
                200,
                body=lambda i: {
                    "changes": [
                        dict(_put(i["text"], BOB_TEXT, name="bob.txt"), change_id=i["change"])
                    ]
                },
                check=statuses(("applied", None)),
            ),
            Call("GET", ITEM, 200, check=bobs_text),
        ]
    },
    "api/v1/sync/changes": {
        "GET": [
            Call("GET", "/api/v1/sync/changes", 200, query={"since": ""}, check=no_changes),
            Call(
                "GET",
                "/api/v1/sync/changes",
                400,
                "bad_cursor",
                query=lambda i: {"since": i["cursor"]},
            ),
            Call(
                "GET",
                "/api/v1/sync/changes",
                400,
                "bad_cursor",
                query=lambda i: {"since": i["offer_cursor"], "limit": 1},
            ),
        ]
    },
    "api/v1/sync/status": {
        "GET": [
            Call("GET", "/api/v1/sync/status", 200, check=not_behind),
            Call(
                "GET",
                "/api/v1/sync/status",
                400,
                "bad_cursor",
                query=lambda i: {"since": i["cursor"]},
            ),
        ]
    },
    "api/v1/items/": {
        "GET": [
            Call("GET", "/api/v1/items/", 200, check=empty_results),
            Call("GET", "/api/v1/items/", 200, query={"q": "alice"}, check=empty_results),
            Call("GET", "/api/v1/items/", 200, query={"deleted": "all"}, check=empty_results),
            Call("GET", "/api/v1/items/", 200, query={"has_conflict": "true"}, check=empty_results),
            Call("GET", "/api/v1/items/", 200, query={"kind": "binary"}, check=empty_results),
        ],
        "POST": [
            Call(
                "POST",
                "/api/v1/items/",
                201,
                body=lambda i: {"id": i["text"], "kind": "text", "name": "b", "content": BOB_TEXT},
                check=bobs_own_item(key="", sha=BOB_SHA),
            ),
            Call("GET", ITEM, 200, check=bobs_text),
            Call("POST", "/api/v1/items/", 201, multipart=_upload, check=bobs_own_item(key="")),
            Call("GET", "/api/v1/items/{binary}/content", 200, check=bobs_bytes),
        ],
    },
    "api/v1/items/<uuid:item_id>/": {
        "GET": [
            nf("GET", ITEM),
            nf("GET", "/api/v1/items/{binary}/"),
            nf("GET", "/api/v1/items/{tomb}/"),
        ],
        "PUT": [
            nf("PUT", ITEM, body={"content": "mine now"}, headers=if_match("text_head")),
            nf(
                "PUT",
                "/api/v1/items/{binary}/",
                body={"content_b64": "Ym9i"},
                headers=if_match("binary_head"),
            ),
            nf(
                "PUT",
                "/api/v1/items/{tomb}/",
                body={"content": "undead"},
                headers={"If-Match": '"v2"'},
            ),
            # Push semantics: a base version of an item B does not have (docs/api.md: Push).
            Call(
                "PUT",
                ITEM,
                400,
                "bad_base_version",
                body=lambda i: {"content": "mine now", "base_version": i["text_head"]},
            ),
            # Base null: B's own new item under the same id.
            Call(
                "PUT",
                ITEM,
                200,
                body={"content": BOB_TEXT, "base_version": None},
                check=bobs_own_item(sha=BOB_SHA),
            ),
            Call("GET", ITEM, 200, check=bobs_text),
        ],
        "PATCH": [
            nf("PATCH", ITEM, body={"name": "mine now"}, headers=if_match("text_head")),
            nf(
                "PATCH", "/api/v1/items/{binary}/", body={"name": "x"}, headers={"If-Match": '"v1"'}
            ),
            Call(
                "PATCH",
                ITEM,
                400,
                "bad_base_version",
                body=lambda i: {"name": "mine now", "base_version": i["text_head"]},
            ),
        ],
        "DELETE": [
            nf("DELETE", ITEM, headers=if_match("text_head")),
            nf(
                "DELETE",
                "/api/v1/items/{binary}/",
                query=lambda i: {"base_version": i["binary_head"]},
            ),
            nf("DELETE", ITEM, body=lambda i: {"base_version": i["text_head"]}),
            nf("DELETE", "/api/v1/items/{tomb}/", query={"base_version": 2}),
            Call("DELETE", ITEM, 428, "precondition_required"),
        ],
    },
    "api/v1/items/<uuid:item_id>/content": {
        "GET": [
            nf("GET", "/api/v1/items/{text}/content"),
            nf("GET", "/api/v1/items/{binary}/content"),
            nf("GET", "/api/v1/items/{tomb}/content"),
        ],
        "PUT": [
            nf("PUT", "/api/v1/items/{text}/content", raw=b"mine", headers=if_match("text_head")),
            nf(
                "PUT",
                "/api/v1/items/{binary}/content",
                raw=b"mine",
                headers=lambda i: {"X-Base-Version": str(i["binary_head"])},
            ),
            nf("PUT", "/api/v1/items/{text}/content", raw=b"mine", headers={"X-Base-Version": "0"}),
        ],
    },
    "api/v1/items/<uuid:item_id>/restore": {
        "POST": [
            nf(
                "POST",
                "/api/v1/items/{text}/restore",
                body=lambda i: {"version": 1, "base_version": i["text_head"]},
            ),
            nf(
                "POST",
                "/api/v1/items/{binary}/restore",
                body=lambda i: {"version": 1, "base_version": i["binary_head"]},
            ),
            nf("POST", "/api/v1/items/{tomb}/restore", body={"version": 1, "base_version": 2}),
        ]
    },
    "api/v1/items/<uuid:item_id>/versions/": {
        "GET": [
            nf("GET", "/api/v1/items/{text}/versions/"),
            nf("GET", "/api/v1/items/{binary}/versions/"),
            nf("GET", "/api/v1/items/{tomb}/versions/"),
        ]
    },
    "api/v1/items/<uuid:item_id>/versions/<int:number>/": {
        "GET": [
            nf("GET", "/api/v1/items/{text}/versions/1/"),
            nf("GET", "/api/v1/items/{text}/versions/{text_head}/"),
            nf("GET", "/api/v1/items/{binary}/versions/2/"),
            nf("GET", "/api/v1/items/{tomb}/versions/1/"),
        ]
    },
    "api/v1/items/<uuid:item_id>/versions/<int:number>/content": {
        "GET": [
            nf("GET", "/api/v1/items/{text}/versions/1/content"),
            nf("GET", "/api/v1/items/{binary}/versions/{binary_head}/content"),
            nf("GET", "/api/v1/items/{tomb}/versions/1/content"),
        ]
    },
    "api/v1/conflicts/": {
        "GET": [
            Call("GET", "/api/v1/conflicts/", 200, check=empty_results),
            Call("GET", "/api/v1/conflicts/", 200, query={"status": "open"}, check=empty_results),
            Call(
                "GET",
                "/api/v1/conflicts/",
                200,
                query={"status": "auto_resolved"},
                check=empty_results,
            ),
        ]
    },
    "api/v1/conflicts/<uuid:conflict_id>/": {
        "GET": [
            nf("GET", "/api/v1/conflicts/{conflict}/"),
            nf("GET", "/api/v1/conflicts/{auto_conflict}/"),
        ]
    },
    "api/v1/conflicts/<uuid:conflict_id>/resolve": {
        "POST": [
            nf(
                "POST",
                "/api/v1/conflicts/{conflict}/resolve",
                body=lambda i, c=choice: {"choice": c, "base_version": i["text_head"]},
            )
            for choice in ("server", "incoming", "both")
        ]
        + [
            nf(
                "POST",
                "/api/v1/conflicts/{conflict}/resolve",
                body=lambda i: {"choice": "merged", "content": "x", "base_version": i["text_head"]},
            ),
            nf(
                "POST",
                "/api/v1/conflicts/{auto_conflict}/resolve",
                body=lambda i: {"choice": "incoming", "base_version": i["binary_head"]},
            ),
        ]
    },
    "api/v1/handoff/activity": {
        "PUT": [
            nf(
                "PUT",
                "/api/v1/handoff/activity",
                body=lambda i: {"item_id": i["text"], "item_version": i["text_head"], "state": {}},
            ),
            # Above A's head: still not_found, never push_pending_first (which would tell
            # B that the item exists).
            nf(
                "PUT",
                "/api/v1/handoff/activity",
                body=lambda i: {"item_id": i["binary"], "item_version": 999},
            ),
            nf(
                "PUT",
                "/api/v1/handoff/activity",
                body=lambda i: {"item_id": i["tomb"], "item_version": 1},
            ),
        ],
        "DELETE": [Call("DELETE", "/api/v1/handoff/activity", 204)],
    },
    "api/v1/handoff/active": {"POST": [Call("POST", "/api/v1/handoff/active", 204)]},
    "api/v1/handoff/send": {
        "POST": [
            nf("POST", "/api/v1/handoff/send", body=lambda i: {"device_id": i["phone"]}),
            nf("POST", "/api/v1/handoff/send", body=lambda i: {"device_id": i["laptop"]}),
        ]
    },
    "api/v1/handoff/offers/": {
        "GET": [Call("GET", "/api/v1/handoff/offers/", 200, check=empty_results)]
    },
    "api/v1/handoff/offers/<uuid:offer_id>/accept": {
        "POST": [nf("POST", "/api/v1/handoff/offers/{offer}/accept")]
    },
    "api/v1/handoff/offers/<uuid:offer_id>/decline": {
        "POST": [nf("POST", "/api/v1/handoff/offers/{offer}/decline")]
    },
    "api/v1/settings": {
        "GET": [Call("GET", "/api/v1/settings", 200, check=mode("prompt"))],
        "PATCH": [
            Call("PATCH", "/api/v1/settings", 200, body={"handoff_mode": "off"}, check=mode("off")),
            Call("GET", "/api/v1/settings", 200, check=mode("off")),
        ],
    },
    "api/v1/schema/": {"GET": [Call("GET", "/api/v1/schema/", 200)]},
    "api/docs/": {"GET": [Call("GET", "/api/docs/", 200)]},
    # The catch-all: any other /api/ path, whatever ids it carries.
    r"^api/[\s\S]*$": {
        "GET": [
            nf("GET", "/api/v1/items/{text}/nope"),
            nf("GET", "/api/v1/handoff/offers/{offer}/"),
            nf("GET", "/api/v2/items/{text}/"),
            # A GET missing only its trailing slash is redirected, whoever's id it is.
            Call(
                "GET",
                "/api/v1/conflicts/{conflict}",
                301,
                check=redirect_to("/api/v1/conflicts/{conflict}/"),
            ),
        ],
        "POST": [nf("POST", "/api/v1/items/{text}"), nf("POST", "/api/v1/handoff/offers/{offer}/")],
        "PUT": [nf("PUT", "/api/v1/items/{text}/versions/1/nope", body={"content": "x"})],
        "PATCH": [nf("PATCH", "/api/v1/devices/{phone}", body={"name": "x"})],
        "DELETE": [nf("DELETE", "/api/v1/conflicts/{conflict}")],
    },
}

# Known defects, xfail(strict=True) until the server is fixed: (route, method) → reason.
KNOWN_DEFECTS: dict[tuple[str, str], str] = {}


def api_routes() -> dict[str, set[str] | None]:
    """Every resolved route under /api/ → the methods its view implements (None for a
    function view, which takes any)."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern

    routes: dict[str, set[str] | None] = {}
    for route, pattern in walk(get_resolver().url_patterns):
        if not route.lstrip("^").startswith("api/"):
            continue
        view = getattr(pattern.callback, "view_class", None) or getattr(
            pattern.callback, "cls", None
        )
        if view is None:
            routes[route] = None
            continue
        routes[route] = {
            m.upper()
            for m in view.http_method_names
            if m not in ("options", "head") and hasattr(view, m)
        }
    return routes


def _cases():
    for route, methods in MATRIX.items():
        for method in methods:
            marks = []
            if (route, method) in KNOWN_DEFECTS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[(route, method)]))
            yield pytest.param(route, method, id=f"{method} {route}", marks=marks)


# -- the tests ------------------------------------------------------------------------------


def test_the_matrix_covers_every_api_route_and_method():
    routes = api_routes()
    missing = sorted(set(routes) - set(MATRIX))
    assert not missing, f"routes the authorization matrix does not cover: {missing}"
    stale = sorted(set(MATRIX) - set(routes))
    assert not stale, f"routes in the matrix that no longer resolve: {stale}"
    for route, methods in routes.items():
        if methods is None:
            continue
        assert set(MATRIX[route]) == methods, (
            f"{route}: the view takes {sorted(methods)}, the matrix calls {sorted(MATRIX[route])}"
        )
    for route, methods in MATRIX.items():
        for method, calls in methods.items():
            assert calls and calls[0].method == method, (route, method)


@pytest.fixture
def world(db, user, other_user, make_device, client_for) -> World:
    return build_world(user, other_user, make_device, client_for)


@pytest.mark.django_db
@pytest.mark.parametrize("route,method", list(_cases()))
def test_another_users_ids_answer_like_unknown_ones(world, route, method):
    before = snapshot(world.alice)
    for call in MATRIX[route][method]:
        run_call(world, call)
    assert snapshot(world.alice) == before, "B changed A's data"
    # A's apps still work, and A still sees A's own.
    assert (
        world.phone_client.get(f"/api/v1/items/{world.ids['text']}/")
        .json()["content"]
        .startswith(CANARY)
    )


def _sample_call(route: str) -> Call:
    methods = MATRIX[route]
    return (methods.get("GET") or next(iter(methods.values())))[0]


def _other_method_cases():
    """Per route, the methods it does not take (and HEAD, OPTIONS) in one case; a method
    with a known defect in a case of its own, so only it is marked."""
    for route in MATRIX:
        others = [m for m in METHODS if m not in MATRIX[route]]
        healthy = tuple(m for m in others if (route, m) not in KNOWN_DEFECTS)
        yield pytest.param(route, healthy, id=f"{route} {','.join(healthy)}")
        for method in others:
            if (route, method) in KNOWN_DEFECTS:
                mark = pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[(route, method)])
                yield pytest.param(route, (method,), id=f"{route} {method}", marks=mark)


@pytest.mark.django_db
@pytest.mark.parametrize("route,methods", list(_other_method_cases()))
def test_other_methods_answer_alike_for_another_users_ids(world, route, methods):
    """HEAD, OPTIONS and every method a route does not take: the same answer for A's ids
    as for unknown ones (405 `method_not_allowed`, 404 on the catch-all), nothing of A's."""
    before = snapshot(world.alice)
    sample = _sample_call(route)
    accepted = set(MATRIX[route])
    catch_all = api_routes().get(route, set()) is None
    for method in methods:
        if method == "HEAD":
            # No body, so no error code to read: the status must match GET's.
            get = "GET" in accepted or catch_all
            status, code = (sample.status if get else 405), None
        elif catch_all:
            status, code = 404, "not_found"
        elif method == "HEAD":
            status, code = (sample.status, None) if "GET" in accepted else (405, None)
        elif method == "OPTIONS":
            status, code = 200, None
        else:
            status, code = 405, "method_not_allowed"
        call = Call(
            method, sample.path, status, code, body=sample.body if method != "HEAD" else None
        )
        run_call(world, call)
    assert snapshot(world.alice) == before


@pytest.mark.django_db
def test_b_writing_under_as_item_ids_gets_items_of_its_own(world):
    """Where B may write under A's item ids (ids are chosen by clients and scoped per
    user), B gets a separate item: A's stays as it was, and each sees only its own."""
    before = snapshot(world.alice)
    bob = world.bob_client
    made = bob.post(
        "/api/v1/items/",
        {"id": world.ids["text"], "kind": "text", "name": "bob.txt", "content": BOB_TEXT},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert [i["name"] for i in bob.get("/api/v1/items/").json()["results"]] == ["bob.txt"]
    # B's item under the same id has its own history: version 1 only, B's content.
    versions = bob.get(f"/api/v1/items/{world.ids['text']}/versions/").json()["results"]
    assert [v["number"] for v in versions] == [1]
    assert bob.get(f"/api/v1/items/{world.ids['text']}/versions/2/").status_code == 404
    content = bob.get(f"/api/v1/items/{world.ids['text']}/content")
    assert content.content == BOB_TEXT.encode()
    # Publishing an activity on it names B's item, and A's conflict stays out of reach.
    published = bob.put(
        "/api/v1/handoff/activity",
        {"item_id": world.ids["text"], "item_version": 1},
        format="json",
    )
    assert published.status_code == 200
    assert published.json()["item_name"] == "bob.txt"
    assert bob.get(f"/api/v1/conflicts/{world.ids['conflict']}/").status_code == 404
    for response in (made, content, published):
        assert CANARY.encode() not in response.content
    assert snapshot(world.alice) == before
    alice_item = world.phone_client.get(f"/api/v1/items/{world.ids['text']}/").json()
    assert alice_item["version"] == world.ids["text_head"]
    assert alice_item["has_conflict"] is True
    assert alice_item["name"] == TEXT_NAME


# -- the socket on a real daphne ------------------------------------------------------------


class Recorder:
    """A socket that keeps every frame it ever received."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.frames: list[str] = []

    @classmethod
    async def open(cls, url: str, token: str | None = None) -> Recorder:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return cls(await websockets.connect(url, additional_headers=headers))

    async def next(self, timeout: float = 5) -> dict:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        self.frames.append(raw)
        return json.loads(raw)

    async def ask(self, message: dict, timeout: float = 5) -> list[dict]:
        """Send a message, then a ping; everything received before the pong. A socket's
        messages are handled in order, so whatever the first one caused came first."""
        await self.ws.send(json.dumps(message))
        await self.ws.send(json.dumps({"type": "ping"}))
        received = []
        while True:
            message = await self.next(timeout)
            if message["type"] == "pong":
                return received
            if message["type"] != "device":  # presence; checked with every frame at the end
                received.append(message)

    async def expect(self, message_type: str, timeout: float = 5) -> dict:
        while True:
            message = await self.next(timeout)
            if message["type"] == message_type:
                return message

    async def seen(self, predicate: Callable[[dict], bool], timeout: float = 5) -> None:
        """Wait until some frame received so far (or from now on) satisfies predicate."""
        while not any(predicate(json.loads(frame)) for frame in self.frames):
            await self.next(timeout)

    async def drain(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            try:
                await self.next(remaining)
            except TimeoutError:
                return


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
async def test_bobs_socket_never_carries_alices_data(
    live_server_proc, user, other_user, make_device, client_for
):
    world = await database_sync_to_async(build_world)(user, other_user, make_device, client_for)
    ids, ghost = world.ids, world.ghost
    before = await database_sync_to_async(snapshot)(user)
    url = live_server_proc.ws_url

    alice = await Recorder.open(url, world.tokens["phone"])
    assert (await alice.expect("hello"))["device"]["id"] == ids["phone"]
    await alice.ask({"type": "subscribe", "since": ""})

    bob = await Recorder.open(url, world.tokens["bob"])
    hello = await bob.next()
    assert hello["type"] == "hello"
    assert hello["device"]["id"] == str(world.bob_device.id)
    async with httpx.AsyncClient(base_url=live_server_proc.url, timeout=10) as http:
        bob_auth = {"Authorization": f"Bearer {world.tokens['bob']}"}
        issued = await http.post("/api/v1/auth/ws-ticket", headers=bob_auth)
        assert issued.status_code == 201
        bob_ticket = await Recorder.open(f"{url}?ticket={issued.json()['ticket']}")
        assert (await bob_ticket.expect("hello"))["device"]["id"] == str(world.bob_device.id)

        # Every client message type, with A's ids where a message takes them; each answers
        # exactly as it does for ids nobody holds.
        replay = await bob.ask({"type": "subscribe", "since": ""})
        assert [(m["type"], m["changes"], m["has_more"]) for m in replay] == [
            ("changes", [], False)
        ]
        for key in ("cursor", "offer_cursor"):
            for values in (ids, ghost):
                answer = await bob.ask({"type": "subscribe", "since": values[key]})
                assert [(m["type"], m.get("code")) for m in answer] == [("error", "bad_cursor")]
        assert await bob.ask({"type": "active"}) == []
        activities = [
            {"item_id": ids["text"], "item_version": ids["text_head"], "state": {"x": 1}},
            {"item_id": ids["text"], "item_version": 999},
            {"item_id": ids["binary"], "item_version": 1},
            {"item_id": ids["tomb"], "item_version": 1},
            {"item_id": ids["offer"], "item_version": 1},
        ]
        for activity in activities:
            answers = []
            for values in (ids, ghost):
                message = {
                    k: (values[_key_of(ids, v)] if _key_of(ids, v) else v)
                    for k, v in activity.items()
                }
                answers.append(await bob.ask({"type": "activity", **message}))
            assert [[(m["type"], m.get("code"), m.get("message")) for m in a] for a in answers] == [
                [("error", "not_found", "No such item.")]
            ] * 2, answers
        assert await bob.ask({"type": "ping"}) == []
        assert await database_sync_to_async(snapshot)(user) == before, "B's socket changed A's data"

        # A keeps working meanwhile: B's sockets hear none of it, A's do.
        phone_auth = {"Authorization": f"Bearer {world.tokens['phone']}"}
        laptop_auth = {"Authorization": f"Bearer {world.tokens['laptop']}"}
        edited = await http.post(
            "/api/v1/sync/push",
            json={"changes": [_put(ids["text"], BASE_TEXT + "later\n", base=ids["text_head"])]},
            headers=phone_auth,
        )
        assert edited.json()["results"][0]["status"] in ("merged", "applied", "conflict")
        clash = await http.post(
            "/api/v1/sync/push",
            json={
                "changes": [_put(ids["binary"], b"\x09" + CANARY.encode(), base=1, kind="binary")]
            },
            headers=laptop_auth,
        )
        assert clash.json()["results"][0]["status"] == "conflict"
        renamed = await http.patch(
            f"/api/v1/devices/{ids['laptop']}/", json={"name": LAPTOP_NAME}, headers=phone_auth
        )
        assert renamed.status_code == 200
        published = await http.put(
            "/api/v1/handoff/activity",
            json={"item_id": ids["binary"], "item_version": 1, "state": {"tag": CANARY}},
            headers=laptop_auth,
        )
        assert published.status_code == 200, published.content
        offer = await alice.ask({"type": "active"})
        assert "handoff.offer" in [m["type"] for m in offer], offer
        revoked = await http.delete(f"/api/v1/devices/{ids['spare']}/", headers=phone_auth)
        assert revoked.status_code == 204
        # A's own socket hears all of it (so the events really flowed while B listened).
        for message_type in ("conflict", "changes", "handoff.offer"):
            await alice.seen(lambda m, t=message_type: m["type"] == t)
        await alice.seen(
            lambda m: (
                m["type"] == "device"
                and m["device"]["id"] == ids["spare"]
                and m["device"].get("revoked") is True
            )
        )

        # B comes to the foreground now that A's laptop has something fresh: no offer.
        assert await bob.ask({"type": "active"}) == []
        # B's own change still reaches B's socket: the stream is live, only A's is absent.
        own = await http.post(
            "/api/v1/sync/push",
            json={"changes": [_put(uuid.uuid4(), BOB_TEXT, name="bob.txt")]},
            headers=bob_auth,
        )
        assert own.status_code == 200
        streamed = await bob.expect("changes")
        assert [c["content"] for c in streamed["changes"]] == [BOB_TEXT]
        await asyncio.gather(bob.drain(0.5), bob_ticket.drain(0.1))

    for socket in (alice, bob, bob_ticket):
        await socket.ws.close()

    # What A's socket got shows the events really flowed; none reached B's.
    assert any(CANARY in frame for frame in alice.frames)
    # Not even the ids B named itself come back: socket errors do not echo them.
    for frame in bob.frames + bob_ticket.frames:
        leaked = [t for t in world.forbidden if t in frame]
        assert not leaked, f"A's data on B's socket: {leaked}: {frame[:1000]}"
        message = json.loads(frame)
        assert message["type"] in {"hello", "changes", "error", "pong", "device"}, message
        if message["type"] == "device":
            assert message["device"]["id"] == str(world.bob_device.id), message


def _key_of(ids: dict[str, Any], value: Any) -> str | None:
    for key in ("text", "binary", "tomb", "offer"):
        if value == ids[key]:
            return key
    return None
