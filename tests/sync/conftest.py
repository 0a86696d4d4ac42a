import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest


def new_id() -> str:
    return str(uuid.uuid4())


def put(item_id, content=None, *, base=None, kind="text", name="note.txt", **extra):
    change = {
        "change_id": new_id(),
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


def delete(item_id, *, base):
    return {"change_id": new_id(), "item_id": str(item_id), "op": "delete", "base_version": base}


def at(seconds_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()


class Device:
    """A test client for one device of a user."""

    def __init__(self, client):
        self.client = client

    def push(self, *changes, expect=200):
        # Encoded here with ASCII escapes so tests can send what a JSON text can carry but a
        # UTF-8 encoder refuses (lone surrogates).
        body = json.dumps({"changes": list(changes)})
        response = self.client.post("/api/v1/sync/push", body, content_type="application/json")
        assert response.status_code == expect, response.content
        return response.json()

    def push_one(self, change):
        body = self.push(change)
        assert len(body["results"]) == 1
        return body["results"][0]

    def pull(self, since="", limit=500, expect=200):
        response = self.client.get("/api/v1/sync/changes", {"since": since, "limit": limit})
        assert response.status_code == expect, response.content
        return response.json()

    def pull_all(self, since=""):
        changes, cursor = [], since
        while True:
            page = self.pull(cursor)
            changes.extend(page["changes"])
            cursor = page["cursor"]
            if not page["has_more"]:
                return changes, cursor


@pytest.fixture
def phone(user, make_device, client_for):
    return Device(client_for(make_device(user, name="Phone", kind="phone")[1]))


@pytest.fixture
def laptop(user, make_device, client_for):
    return Device(client_for(make_device(user, name="Laptop", kind="desktop")[1]))


@pytest.fixture
def stranger(other_user, make_device, client_for):
    return Device(client_for(make_device(other_user, name="Stranger")[1]))
