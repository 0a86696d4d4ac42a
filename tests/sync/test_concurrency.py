"""Concurrent writers on PostgreSQL: the cursor never skips a slow transaction, and a
change pushed twice at the same moment is applied once."""

import random
import threading
import time

import pytest
from django.db import connection

from accounts.services import device_register
from sync.models import PushRecord, Version
from sync.selectors import changes_since
from sync.services import changes_push

from .conftest import new_id, put

pytestmark = [pytest.mark.django_db(transaction=True)]

WRITERS = 8
CHANGES_PER_WRITER = 60


def run_threads(targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # reported below, with the thread's traceback
                errors.append(exc)
                raise
            finally:
                connection.close()

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    return threads, errors


def test_reader_sees_every_committed_change_exactly_once(postgres, user):
    devices = [device_register(user=user, name=f"w{i}", kind="other")[0] for i in range(WRITERS)]
    applied: list[str] = []
    applied_lock = threading.Lock()
    writers_done = threading.Event()

    def writer(device, seed):
        rng = random.Random(seed)
        remaining = CHANGES_PER_WRITER
        while remaining:
            size = min(remaining, rng.randint(1, 5))
            batch = [put(new_id(), f"{device.name}-{rng.random()}") for _ in range(size)]
            results, _ = changes_push(user=user, device=device, changes=batch)
            assert all(r["status"] == "applied" for r in results)
            with applied_lock:
                applied.extend(r["item"]["id"] for r in results)
            remaining -= size
            time.sleep(rng.random() * 0.003)

    seen: list[str] = []
    pages = 0

    def reader():
        nonlocal pages
        cursor = ""
        while True:
            done = writers_done.is_set()  # read before paging: a final full pass follows
            while True:
                page = changes_since(user=user, since=cursor, limit=7)
                seen.extend(c["id"] for c in page["changes"])
                cursor = page["cursor"]
                pages += 1
                if not page["has_more"]:
                    break
            if done:
                return

    writer_threads, errors = run_threads(
        [lambda d=d, i=i: writer(d, i) for i, d in enumerate(devices)]
    )
    reader_threads, reader_errors = run_threads([reader])
    for t in writer_threads:
        t.join(timeout=120)
    writers_done.set()
    for t in reader_threads:
        t.join(timeout=120)
    assert not errors and not reader_errors, errors + reader_errors

    assert len(applied) == WRITERS * CHANGES_PER_WRITER
    assert len(seen) == len(set(seen)), "an item was delivered twice"
    assert set(seen) == set(applied), f"{len(set(applied) - set(seen))} committed changes missed"
    assert pages > 20  # the reader really paged while the writers were writing


def test_the_same_change_pushed_twice_at_once_is_applied_once(postgres, user):
    device, _ = device_register(user=user, name="flaky network", kind="phone")
    for _ in range(5):
        change = put(new_id(), "exactly once")
        results = []
        barrier = threading.Barrier(4)

        def push(change=change, barrier=barrier, results=results):
            barrier.wait()
            results.append(changes_push(user=user, device=device, changes=[change])[0][0])

        threads, errors = run_threads([push] * 4)
        for t in threads:
            t.join(timeout=30)
        assert not errors
        assert len(results) == 4
        assert all(r == results[0] for r in results)
        assert PushRecord.objects.filter(change_id=change["change_id"]).count() == 1
    assert Version.objects.count() == 5
