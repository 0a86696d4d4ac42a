"""A model of one user's devices syncing, checked against the real API after every step.

Hypothesis drives three devices of one user: offline edits of text and binary items,
deletes, restores, conflict resolutions, pushes, retries of a push with the same change
ids, and pulls in small pages. Each device keeps what a real client keeps (its items, its
pending changes, its cursor). After every step:

- no acknowledged write is lost: what each acknowledged put carried is the content of
  one of the item's versions (a head, the history, or a version kept on a conflict), and
  each acknowledged delete is a deleted version or lost to an edit on a conflict record;
- exactly one version per change id: no two change ids claim the same new version, and a
  retry answers what the first push answered without writing anything;
- cursors only move forward;
- a device reads its own writes;
and at the end of every run, once every device has pushed and pulled, all of them hold
exactly what the server holds.

The default run fits the suite's time budget; `--hypothesis-profile=long` runs many more
and longer sequences (tests/conftest.py). The suite runs this on PostgreSQL and, in
.ci/run, once more on SQLite.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import device_register
from sync import selectors
from sync.changes import decode_cursor
from sync.merging import merge3
from sync.models import Conflict, Item, Version

DEVICES = 3
PAGE_SIZES = st.integers(min_value=1, max_value=4)
# Notes of three lines from a handful of words: edits of different lines merge, edits of
# the same line conflict.
LINES = st.sampled_from(["apples", "bread", "cheese", "dates", "eggs"])
SAVES = st.binary(min_size=1, max_size=24)
CLOCK_START = datetime(2026, 1, 1, tzinfo=UTC)
AGES = st.sampled_from([0, 0, 5, 600, 3600])  # seconds between an edit and its push


def _new_id() -> str:
    return str(uuid.uuid4())


class SimDevice:
    """What a client keeps: its copy of the items, one pending change per item, a cursor."""

    def __init__(self, name: str, token: str) -> None:
        self.name = name
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        self.items: dict[str, dict] = {}  # id -> {"kind", "version", "content", "deleted"}
        self.pending: dict[str, dict] = {}  # id -> the change to push
        self.cursor = ""
        self.seq = 0
        self.last_batch: list[dict] | None = None
        self.last_results: list[dict] | None = None

    def post(self, path: str, body: dict):
        return self.client.post(path, json.dumps(body), content_type="application/json")

    def get(self, path: str, params: dict | None = None):
        return self.client.get(path, params or {})


class SyncModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.user = User.objects.create_user(
            email=f"model-{uuid.uuid4().hex[:12]}@example.com", password="unused password"
        )
        self.devices = []
        for n in range(DEVICES):
            _, token = device_register(user=self.user, name=f"device {n}", kind="desktop")
            self.devices.append(SimDevice(f"device {n}", token))
        self.kinds: dict[str, str] = {}
        self.order: list[str] = []  # item ids as created: ids are random, this order is not
        self.ticks = 0
        # Every acknowledged write, and which version each change id made.
        self.acked_puts: list[tuple[str, bytes]] = []
        self.acked_deletes: list[str] = []
        self.made_version: dict[str, tuple[str, int]] = {}

    # -- offline edits --------------------------------------------------------------------

    @initialize()
    def shared_items(self):
        """A note and a save that every device has, so edits meet from the first step."""
        self._create(self.devices[0], "text")
        self._create(self.devices[0], "binary")
        self._push(self.devices[0])
        for d in range(DEVICES):
            self.pull(d, 500)

    @rule(d=st.integers(0, DEVICES - 1), kind=st.sampled_from(["text", "binary"]))
    def create(self, d, kind):
        self._create(self.devices[d], kind)

    def _create(self, device: SimDevice, kind: str) -> str:
        item_id = _new_id()
        self.kinds[item_id] = kind
        self.order.append(item_id)
        content = "apples\nbread\ncheese\n" if kind == "text" else b"\x00new save"
        device.items[item_id] = {"kind": kind, "version": 0, "content": content, "deleted": False}
        device.pending[item_id] = self._put(item_id, kind, content, base=None)
        return item_id

    def _put(self, item_id: str, kind: str, content, *, base: int | None, ago: int = 0) -> dict:
        change = {
            "change_id": _new_id(),
            "item_id": item_id,
            "op": "put",
            "base_version": base,
            "kind": kind,
            "name": f"{item_id[:8]}.{'txt' if kind == 'text' else 'sav'}",
            # When the edit was made: offline edits reach the server later than they
            # were made, so an older edit can arrive after a newer one.
            "modified_at": self._clock(ago),
        }
        if kind == "text":
            change["content"] = content
        else:
            change["content_b64"] = base64.b64encode(content).decode()
        return change

    def _clock(self, ago: int) -> str:
        """A model time for an edit made `ago` seconds before its step: one step is a
        minute, all in the past, so runs repeat exactly (no wall clock, no clamping)."""
        self.ticks += 1
        return (CLOCK_START + timedelta(minutes=self.ticks, seconds=-ago)).isoformat()

    def _base(self, device: SimDevice, item_id: str) -> int | None:
        """The version an edit starts from: the pending change's base, if one is queued."""
        if item_id in device.pending:
            return device.pending[item_id]["base_version"]
        return device.items[item_id]["version"] or None

    def _pick(self, d: int, kind: str | None = None, *, pushed: bool = False):
        """Device d's `d`-th live item (of a kind, or already on the server), if any."""
        device = self.devices[d % DEVICES]
        choices = [
            item_id
            for item_id in self.order
            if (local := device.items.get(item_id)) is not None
            and not local["deleted"]
            and (kind is None or local["kind"] == kind)
            and (not pushed or local["version"])
        ]
        if not choices:
            return device, None, None
        item = choices[(d // DEVICES) % len(choices)]
        return device, item, device.items[item]

    def _has(self, kind: str | None = None, *, pushed: bool = False) -> bool:
        return any(
            not v["deleted"]
            and (kind is None or v["kind"] == kind)
            and (not pushed or v["version"])
            for device in self.devices
            for v in device.items.values()
        )

    @precondition(lambda self: self._has("text"))
    @rule(d=st.integers(0, 60), line=st.integers(0, 2), word=LINES, ago=AGES)
    def edit_text(self, d, line, word, ago):
        device, item, local = self._pick(d, "text")
        if item is None:
            return
        lines = local["content"].split("\n")[:3]
        lines += [""] * (3 - len(lines))
        lines[line] = word
        content = "\n".join(lines) + "\n"
        base = self._base(device, item)
        local["content"] = content
        device.pending[item] = self._put(item, "text", content, base=base, ago=ago)

    @precondition(lambda self: self._has("binary"))
    @rule(d=st.integers(0, 60), data=SAVES, ago=AGES)
    def edit_binary(self, d, data, ago):
        device, item, local = self._pick(d, "binary")
        if item is None:
            return
        base = self._base(device, item)
        local["content"] = data
        device.pending[item] = self._put(item, "binary", data, base=base, ago=ago)

    @precondition(lambda self: self._has(pushed=True))
    @rule(d=st.integers(0, 60))
    def delete(self, d):
        device, item, local = self._pick(d, pushed=True)  # on the server, so deletable
        if item is None:
            return
        base = self._base(device, item)
        local["deleted"] = True
        device.pending[item] = {
            "change_id": _new_id(),
            "item_id": item,
            "op": "delete",
            "base_version": base,
        }

    # -- talking to the server ------------------------------------------------------------

    def _subsumed(self, device: SimDevice, change: dict, raw: bytes) -> None:
        """An `unchanged` text edit stores nothing of its own: what it changed from its
        base must already be in the head, i.e. merging it into the head gives the head."""
        item_id = change["item_id"]
        head = device.get(f"/api/v1/items/{item_id}/").json()["content"]
        base = ""
        if change["base_version"]:
            base = device.get(f"/api/v1/items/{item_id}/versions/{change['base_version']}/").json()[
                "content"
            ]
        merged = merge3(base, head, raw.decode())
        assert merged.clean and merged.text == head, (change, base, head)

    def _made(self, key: str, result: dict) -> None:
        """A write that made a new head: no other write may claim the same version."""
        if result["status"] in ("applied", "merged"):
            made = (result["item"]["id"], result["item"]["version"])
            assert made not in self.made_version.values(), (key, result)
            self.made_version[key] = made

    @precondition(lambda self: any(device.pending for device in self.devices))
    @rule(d=st.integers(0, DEVICES - 1))
    def push(self, d):
        device = self.devices[d]
        if not device.pending:
            device = next(dev for dev in self.devices if dev.pending)
        self._push(device)

    def _push(self, device: SimDevice) -> None:
        if not device.pending:
            return
        batch = list(device.pending.values())
        response = device.post("/api/v1/sync/push", {"changes": batch})
        assert response.status_code == 200, response.content
        body = response.json()
        results = body["results"]
        assert [r["change_id"] for r in results] == [c["change_id"] for c in batch]
        for change, result in zip(batch, results, strict=True):
            assert result["status"] != "rejected", (change, result)
            self._acknowledge(device, change, result)
            del device.pending[change["item_id"]]
            # Read your own writes: the server shows at least what it acknowledged.
            read = device.get(f"/api/v1/items/{change['item_id']}/")
            assert read.status_code == 200, read.content
            assert read.json()["version"] >= result["item"]["version"]
        # The push's cursor is where the server is now; the device's own cursor moves only
        # by pulling, or it would skip what others wrote before this push.
        assert decode_cursor(self.user.id, body["cursor"]) >= device.seq
        device.last_batch, device.last_results = batch, results

    def _acknowledge(self, device: SimDevice, change: dict, result: dict) -> None:
        item_id = change["item_id"]
        if change["op"] == "put":
            raw = (
                change["content"].encode()
                if "content" in change
                else base64.b64decode(change["content_b64"])
            )
            if result["status"] == "unchanged" and change["kind"] == "text":
                self._subsumed(device, change, raw)
            else:
                self.acked_puts.append((item_id, raw))
        else:
            self.acked_deletes.append(item_id)
        self._made(change["change_id"], result)
        local = device.items[item_id]
        if result["status"] == "applied":
            local["version"] = result["item"]["version"]
        elif result["item"]["version"] != local["version"]:
            # Merged, or decided against this device: the head is not what it holds. A
            # head that did not move (the incoming side kept aside) never comes back in
            # the stream, so the client reads it now, as a real one must.
            read = device.get(f"/api/v1/items/{item_id}/")
            assert read.status_code == 200, read.content
            self._store(device, read.json())

    @precondition(lambda self: any(dev.last_batch for dev in self.devices))
    @rule(d=st.integers(0, DEVICES - 1))
    def retry_last_push(self, d):
        """A reply lost on the way back: the same changes again, the same answers."""
        device = self.devices[d]
        if not device.last_batch:
            device = next(dev for dev in self.devices if dev.last_batch)
        before = Version.objects.filter(item__user=self.user).count()
        response = device.post("/api/v1/sync/push", {"changes": device.last_batch})
        assert response.status_code == 200, response.content
        assert response.json()["results"] == device.last_results
        assert Version.objects.filter(item__user=self.user).count() == before

    @rule(d=st.integers(0, DEVICES - 1), limit=PAGE_SIZES)
    def pull(self, d, limit):
        device = self.devices[d]
        while True:
            response = device.get("/api/v1/sync/changes", {"since": device.cursor, "limit": limit})
            assert response.status_code == 200, response.content
            page = response.json()
            assert len(page["changes"]) <= limit
            for entry in page["changes"]:
                self._take(device, entry)
            self._advance(device, page["cursor"])
            if not page["has_more"]:
                break
        # The last page said there is no more: nothing is left after its cursor.
        status = device.get("/api/v1/sync/status", {"since": device.cursor})
        assert status.json()["behind"] == 0, (device.name, status.json())

    def _take(self, device: SimDevice, entry: dict) -> None:
        item_id = entry["id"]
        if item_id not in self.kinds:  # a copy made by a resolve with `both`
            self.kinds[item_id] = entry["kind"]
            self.order.append(item_id)
        if item_id in device.pending:
            return  # a local edit waits to be pushed: the server merges it on arrival
        self._store(device, entry)

    def _store(self, device: SimDevice, entry: dict) -> None:
        item_id = entry["id"]
        if entry["deleted"]:
            content = None
        elif entry["kind"] == "text":
            content = entry["content"]
        else:
            assert "content_b64" in entry, entry  # test saves are far below inline_binary_max
            content = base64.b64decode(entry["content_b64"])
        device.items[item_id] = {
            "kind": entry["kind"],
            "version": entry["version"],
            "content": content,
            "deleted": entry["deleted"],
        }

    def _advance(self, device: SimDevice, cursor: str) -> None:
        seq = decode_cursor(self.user.id, cursor)
        assert seq >= device.seq, (device.name, seq, device.seq)
        device.seq, device.cursor = seq, cursor

    @rule(
        d=st.integers(0, DEVICES - 1),
        choice=st.sampled_from(["server", "incoming", "both"]),
        pick=st.integers(0, 10),
    )
    def resolve(self, d, choice, pick):
        device = self.devices[d]
        listed = device.get("/api/v1/conflicts/", {"status": "open"})
        assert listed.status_code == 200
        # Listed newest first; ordered here by item and age so that runs repeat exactly.
        conflicts = sorted(
            listed.json()["results"],
            key=lambda c: (self.order.index(c["item_id"]), c["created_at"]),
        )
        if not conflicts:
            return
        conflict = conflicts[pick % len(conflicts)]
        detail = device.get(f"/api/v1/conflicts/{conflict['id']}/").json()
        response = device.post(
            f"/api/v1/conflicts/{conflict['id']}/resolve",
            {"choice": choice, "base_version": detail["head_version"]},
        )
        if choice == "both" and response.status_code == 400:
            # Nothing to copy: the side the decision left out is a delete, or is the head.
            assert response.json()["error"]["code"] == "invalid", response.content
            return
        assert response.status_code == 200, response.content
        self._made(f"resolve {conflict['id']}", response.json())

    @rule(d=st.integers(0, 60))
    def restore_first_version(self, d):
        device, item, local = self._pick(d, pushed=True)
        if item is None or local["version"] < 2 or item in device.pending:
            return
        response = device.post(
            f"/api/v1/items/{item}/restore", {"version": 1, "base_version": local["version"]}
        )
        if response.status_code == 409:  # the head moved on since this device's last pull
            assert response.json()["error"]["code"] == "stale"
            return
        assert response.status_code == 200, response.content
        self._made(f"restore {_new_id()}", response.json())

    # -- what must always hold ------------------------------------------------------------

    @invariant()
    def nothing_acknowledged_is_lost(self):
        key_items = {str(item.item_id): item for item in Item.objects.filter(user=self.user)}
        contents: dict[str, set[bytes]] = {}
        deleted_versions: set[str] = set()
        for version in Version.objects.filter(item__user=self.user).select_related("item"):
            item_id = str(version.item.item_id)
            if version.deleted:
                deleted_versions.add(item_id)
                continue
            data = selectors.version_content(
                user=self.user, item=key_items[item_id], version=version
            )
            contents.setdefault(item_id, set()).add(data)
        for item_id, data in self.acked_puts:
            assert data in contents.get(item_id, set()), (item_id, data)
        lost_to_an_edit = {
            str(c.item.item_id)
            for c in Conflict.objects.filter(
                user=self.user, reason=Conflict.Reason.EDIT_WINS_OVER_DELETE
            ).select_related("item")
        }
        for item_id in self.acked_deletes:
            assert item_id in deleted_versions | lost_to_an_edit, item_id

    @invariant()
    def each_version_made_once(self):
        numbered = set(
            Version.objects.filter(item__user=self.user, number__isnull=False).values_list(
                "item__item_id", "number"
            )
        )
        for item_id, number in self.made_version.values():
            assert (uuid.UUID(item_id), number) in numbered

    def teardown(self):
        """Everyone pushes and pulls until nothing is pending: all hold the server's copy."""
        for _ in range(4):
            for device in self.devices:
                self._push(device)
            for d in range(DEVICES):
                self.pull(d, 500)
            if not any(device.pending for device in self.devices):
                break
        assert not any(device.pending for device in self.devices)
        server = {}
        for item in Item.objects.filter(user=self.user).select_related("head"):
            if item.deleted:
                continue
            data = selectors.version_content(user=self.user, item=item, version=item.head)
            server[str(item.item_id)] = data.decode() if item.kind == "text" else data
        for device in self.devices:
            held = {i: v["content"] for i, v in device.items.items() if not v["deleted"]}
            assert held == server, device.name


def _settings() -> settings:
    """The suite's run, unless a longer profile is loaded (--hypothesis-profile=long)."""
    current = settings()
    if current.max_examples >= 200:
        return settings(current, deadline=None)
    return settings(
        max_examples=15,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


@pytest.mark.django_db
def test_devices_of_one_user_never_lose_an_acknowledged_write():
    run_state_machine_as_test(SyncModel, settings=_settings())
