"""A backup restored, as docs/operations.md describes it: `pg_dump`, a new database from
the dump, a server on it, and the clients. A device whose cursor is at or behind the
backup resumes by cursor; one that had pulled further gets 409 `resync_required`, pulls
from scratch, and pushes again what the backup lost, under the same change ids."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid

import httpx
import pytest
from django.db import connection

from accounts.services import device_register

from .conftest import require_service
from .live import start_live_server

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _put(name: str) -> dict:
    return {
        "change_id": str(uuid.uuid4()),
        "item_id": str(uuid.uuid4()),
        "op": "put",
        "base_version": None,
        "kind": "binary",
        "name": name,
        "content_b64": base64.b64encode(name.encode()).decode(),
    }


def _pg(tool: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    conf = connection.settings_dict
    path = shutil.which(tool)
    assert path, f"{tool} is needed (postgresql-client)"
    base = [path, "-h", conf.get("HOST") or "127.0.0.1", "-p", str(conf.get("PORT") or 5432)]
    base += ["-U", conf.get("USER") or "postgres"]
    return subprocess.run([*base, *args], check=True, capture_output=True, timeout=120, **kwargs)


@pytest.fixture
def restored_database(tmp_path):
    """Where the restore goes, dropped afterwards."""
    require_service(connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL")
    name = f"cloudsaves_restore_{uuid.uuid4().hex[:8]}"
    yield name
    _pg("dropdb", "--if-exists", name)


def test_a_restored_backup_and_the_clients_that_are_ahead_of_it(
    restored_database, live_server_proc, tmp_path, user
):
    _, phone = device_register(user=user, name="Phone", kind="phone")
    _, laptop = device_register(user=user, name="Laptop", kind="desktop")

    def call(server, token, method, path, **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=10, **kwargs)

    def pull_all(server, token, cursor=""):
        items = {}
        while True:
            page = call(server, token, "GET", "/api/v1/sync/changes", params={"since": cursor})
            if page.status_code != 200:
                return page, items, cursor
            for entry in page.json()["changes"]:
                items[entry["id"]] = entry
            cursor = page.json()["cursor"]
            if not page.json()["has_more"]:
                return page, items, cursor

    live = live_server_proc
    before = [_put(f"before backup {i}") for i in range(3)]
    assert call(live, phone, "POST", "/api/v1/sync/push", json={"changes": before}).is_success
    _, _, laptop_cursor = pull_all(live, laptop)

    # The nightly backup.
    dump = tmp_path / "cloudsaves.dump"
    _pg("pg_dump", "--format=custom", "--file", str(dump), connection.settings_dict["NAME"])

    # After it, the phone writes more and pulls everything: its cursor is past the backup.
    after = [_put(f"after backup {i}") for i in range(2)]
    assert call(live, phone, "POST", "/api/v1/sync/push", json={"changes": after}).is_success
    _, _, phone_cursor = pull_all(live, phone)

    # The database is lost; a new one is made from the backup and a server started on it.
    _pg("createdb", restored_database)
    _pg("pg_restore", "--no-owner", "--dbname", restored_database, str(dump))
    conf = connection.settings_dict
    url = (
        f"postgres://{conf.get('USER') or 'postgres'}@{conf.get('HOST') or '127.0.0.1'}:"
        f"{conf.get('PORT') or 5432}/{restored_database}"
    )
    server = start_live_server(extra_env={"DATABASE_URL": url})
    try:
        # The laptop's cursor is the backup's own point: it resumes, nothing to fetch.
        page, items, _ = pull_all(server, laptop, laptop_cursor)
        assert page.status_code == 200 and items == {}
        # The phone had seen writes the backup does not hold: the server says so.
        ahead, _, _ = pull_all(server, phone, phone_cursor)
        assert ahead.status_code == 409
        assert ahead.json()["error"]["code"] == "resync_required"
        # It pulls from scratch, finds what the backup holds, and pushes again what it
        # has that the server lost, with the same change ids.
        page, items, _ = pull_all(server, phone)
        assert page.status_code == 200
        assert {i["name"] for i in items.values()} == {c["name"] for c in before}
        missing = [c for c in after if c["item_id"] not in items]
        assert missing == after
        again = call(server, phone, "POST", "/api/v1/sync/push", json={"changes": missing})
        assert [r["status"] for r in again.json()["results"]] == ["applied", "applied"]
        _, items, _ = pull_all(server, laptop, laptop_cursor)
        assert {i["name"] for i in items.values()} == {c["name"] for c in after}
    finally:
        server.stop()
