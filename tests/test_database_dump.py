"""What a copy of the database gives away: the whole database is dumped (`pg_dump` on
PostgreSQL, the file itself on SQLite) after a user stored content, a handoff state and
names, and the dump is searched for them.

Content, handoff state, item and device names and content types are sealed (AES-GCM
under the user's data key) and must not appear, nor a hash that would confirm a guessed
content."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)

CONTENT = "canary-content-7f3a9 the secret plan"
STATE = "canary-state-51c2e"
NAME = "canary-name-b0d4c.txt"
CONTENT_TYPE = "text/x-canary-9e1f"
DEVICE = "canary-device-3a7b"


def _dump() -> bytes:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        connection.close()  # everything is committed and checkpointed into the file
        with open(settings["NAME"], "rb") as db:
            data = db.read()
        wal = f"{settings['NAME']}-wal"
        try:
            with open(wal, "rb") as log:
                data += log.read()
        except FileNotFoundError:
            pass
        return data
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is needed to check what a dump holds (postgresql-client)"
    args = [pg_dump, "--data-only", "-h", settings.get("HOST") or "127.0.0.1"]
    if settings.get("PORT"):
        args += ["-p", str(settings["PORT"])]
    if settings.get("USER"):
        args += ["-U", settings["USER"]]
    env = {"PGPASSWORD": settings.get("PASSWORD") or ""}
    return subprocess.run(
        [*args, settings["NAME"]], capture_output=True, check=True, env=env, timeout=60
    ).stdout


@pytest.fixture
def dump(user, make_device, client_for) -> bytes:
    _, token = make_device(user, name=DEVICE)
    api = client_for(token)
    item_id = str(uuid.uuid4())
    change = {
        "change_id": str(uuid.uuid4()),
        "item_id": item_id,
        "op": "put",
        "kind": "text",
        "name": NAME,
        "content_type": CONTENT_TYPE,
        "content": CONTENT,
        "base_version": None,
    }
    pushed = api.post("/api/v1/sync/push", {"changes": [change]}, format="json")
    assert pushed.json()["results"][0]["status"] == "applied"
    body = {"item_id": item_id, "item_version": 1, "state": {"note": STATE}}
    assert api.put("/api/v1/handoff/activity", body, format="json").status_code == 200
    return _dump()


def test_content_and_handoff_state_are_not_in_a_dump(dump):
    assert len(dump) > 1000  # a real dump, not an empty one
    for canary in (CONTENT, "canary-content-7f3a9", STATE):
        assert canary.encode() not in dump
    assert json.dumps(CONTENT).encode() not in dump


@pytest.mark.parametrize("canary", [NAME, CONTENT_TYPE, DEVICE])
def test_names_and_content_types_are_not_in_a_dump(dump, canary):
    assert canary.encode() not in dump


def test_a_dump_cannot_confirm_a_guessed_content(dump):
    # Neither the content's SHA-256 (items, versions) nor a hash of the change that
    # carried it (the push ledger) is stored in the clear.
    guess = hashlib.sha256(CONTENT.encode()).hexdigest()
    assert guess.encode() not in dump
