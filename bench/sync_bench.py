"""Sync benchmark: push and pull throughput, push latency, three-way merge, and how a pull's
cost depends on the size of the store, on SQLite and on PostgreSQL.

Run from the repository root:

    .venv/bin/python bench/sync_bench.py [--db sqlite|postgres|both] [--quick] [--profile DIR]

Each database is fresh: a temporary SQLite file, or a PostgreSQL database (default
`cloudsaves_bench`, dropped and created with psycopg) migrated with `manage.py migrate`, and
removed afterwards. A real daphne process (`python -m cloudsaves.serve`, as `make run`) serves
it over HTTP on 127.0.0.1 (in-memory channel layer, DJANGO_DEBUG=0 as in production); the
client is an httpx.Client with keep-alive in this process. Times run from sending a request
(body already encoded) to the last byte of the response; decoding the JSON answer on the
client is not included. Order per database: warm-up, pull of the last 100 changes from the
1,000-item store (then the only store), seeding of the 100,000-item store and pulls alternating
between the two, pull throughput, push throughput, request floor, one-change push latency.

Stores are seeded outside the HTTP server, in a child process of this script (Django set up on
the same database), in one of two ways:
- "service": `sync.services.changes_push` in batches of 1,000 (CLOUDSAVES_MAX_BATCH_CHANGES is
  raised to 1,000 for the seeding process only): exactly what a push writes.
- "bulk": rows written with `bulk_create` in the shape `changes_push` gives a new text item
  (an Item at version 1 whose head is a sealed "create" Version, sequence numbers taken from
  the user's SyncState), without push-ledger rows. Used for the 1,000/100,000-item stores,
  whose last 100 items (the ones pulled) are then written with the service.
On PostgreSQL `ANALYZE` runs after seeding (as autovacuum would within a minute).

With --profile DIR, py-spy (`pip install py-spy`) samples the daphne process during each
measured phase and writes collapsed stacks (DIR/<db>-<phase>.txt, for flamegraph tools) and a
summary of the hottest functions; the timings of a profiled run are perturbed and are not
results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: sys.path[0] is bench/, not the repo root
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench._server import Server, server_env, start_server  # noqa: E402

CONTENT_BYTES = 1024  # "1 KB" items: 1,024 ASCII characters
TAIL = 100  # the pull-cost comparison pulls the 100 most recent changes
PULL_PAGE = 500
PUSH_BATCH = 100
SEED_BATCH = 1000
DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_PG_DB = "cloudsaves_bench"
# The server and the seeding process: production-like DEBUG off, no Redis.
BENCH_ENV = {"DJANGO_DEBUG": "0", "LOG_LEVEL": "WARNING"}


@dataclass(frozen=True)
class Sizes:
    push_batches: int  # measured batches of PUSH_BATCH new items (after warm-up)
    push_warmup: int
    latency_requests: int  # measured one-change pushes (after warm-up)
    latency_warmup: int
    pull_store: int  # items in the store paged through for pull throughput
    pull_passes: int  # measured passes over all its pages (after one warm-up pass)
    small_store: int
    large_store: int
    tail_repeats: int  # measured pulls of the last TAIL changes, per store
    merge_runs: dict[int, int] | None


FULL = Sizes(
    push_batches=20,
    push_warmup=2,
    latency_requests=500,
    latency_warmup=20,
    pull_store=10_000,
    pull_passes=2,
    small_store=1_000,
    large_store=100_000,
    tail_repeats=30,
    merge_runs=None,  # merge_bench's defaults: 7 runs at 100 KB, 5 at 1 MB
)
QUICK = Sizes(
    push_batches=5,
    push_warmup=1,
    latency_requests=50,
    latency_warmup=5,
    pull_store=2_000,
    pull_passes=1,
    small_store=1_000,
    large_store=10_000,
    tail_repeats=10,
    merge_runs={100_000: 3, 1_000_000: 1},
)

TARGETS = {
    "push": 2_000.0,  # changes/s, at least (stated for PostgreSQL)
    "pull": 40_000.0,  # changes/s, at least
    "latency_p50": 5.0,  # ms, at most
    "ratio": 2.0,  # at most
}


# -- content -----------------------------------------------------------------------------------

_POOL_RNG = random.Random("sync-bench")
_WORDS = [
    "".join(_POOL_RNG.choices("abcdefghijklmnopqrstuvwxyz", k=_POOL_RNG.randint(2, 9)))
    for _ in range(2000)
]
_POOL = " ".join(_POOL_RNG.choice(_WORDS) for _ in range(20_000))


def note_text(label: str, i: int, size: int = CONTENT_BYTES) -> str:
    """Deterministic, distinct prose-like ASCII text of exactly `size` characters."""
    head = f"{label} note {i}\n"
    start = (i * 7919) % (len(_POOL) - size)
    return (head + _POOL[start : start + size])[:size]


def new_change(label: str, i: int) -> dict:
    return {
        "change_id": str(uuid.uuid4()),
        "item_id": str(uuid.uuid4()),
        "op": "put",
        "base_version": None,
        "kind": "text",
        "name": f"{label} note {i}",
        "content": note_text(label, i),
    }


# -- seeding (child process with Django) -------------------------------------------------------


def _seed_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sync_bench.py _seed")
    parser.add_argument("--label", required=True)
    parser.add_argument("--bulk", type=int, default=0)
    parser.add_argument("--service", type=int, default=0)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsaves.settings")
    import django

    django.setup()
    from django.db import connection

    from accounts.models import User
    from accounts.services import device_register
    from sync.changes import encode_cursor
    from sync.models import SyncState

    user = User.objects.create_user(
        email=f"{args.label}-{uuid.uuid4().hex[:8]}@bench.invalid", password=None
    )
    device, token = device_register(user=user, name=f"bench {args.label}", kind="phone")
    t0 = time.perf_counter()
    if args.bulk:
        _bulk_seed(user, device, args.label, args.bulk)
    t1 = time.perf_counter()
    if args.service:
        _service_seed(user, device, args.label, args.service, start=args.bulk)
    t2 = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    last_seq = SyncState.objects.filter(user=user).values_list("last_seq", flat=True).first() or 0
    print(
        json.dumps(
            {
                "label": args.label,
                "token": token,
                "items": args.bulk + args.service,
                "last_seq": last_seq,
                "tail_cursor": encode_cursor(user.id, max(last_seq - TAIL, 0)),
                "bulk_s": round(t1 - t0, 2),
                "service_s": round(t2 - t1, 2),
            }
        )
    )
    return 0


def _bulk_seed(user, device, label: str, n: int, chunk: int = 2000) -> None:
    """New text items as `changes_push` writes them (Item at version 1, head = a sealed
    "create" Version, next sequence numbers under the SyncState lock), in bulk. The item's
    head and the version's item point at each other: the item goes in first naming its
    version's id, which the deferred foreign-key check accepts at commit."""
    import hashlib

    from django.db import transaction
    from django.utils import timezone

    from sync import crypto, keys
    from sync.models import Item, SyncState, Version

    with transaction.atomic():
        SyncState.objects.get_or_create(user=user)
        key = keys.data_key(user.id, create=True)
    text_type = "text/plain; charset=utf-8"
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        with transaction.atomic():
            state = SyncState.objects.select_for_update().get(user=user)
            now = timezone.now()
            items, versions = [], []
            for j in range(count):
                i = start + j
                content = note_text(label, i).encode()
                sha = hashlib.sha256(content).hexdigest()
                version_id = uuid.uuid4()
                item = Item(
                    user=user,
                    item_id=uuid.uuid4(),
                    kind=Item.Kind.TEXT,
                    name=f"{label} note {i}",
                    content_type=text_type,
                    head_id=version_id,
                    version=1,
                    size=len(content),
                    sha256=sha,
                    modified_at=now,
                    updated_at=now,
                    seq=state.last_seq + j + 1,
                    device=device,
                )
                item.seal_meta(key)
                items.append(item)
                versions.append((version_id, content, sha))
            Item.objects.bulk_create(items, batch_size=500)
            seeded = [
                Version(
                    id=version_id,
                    item=item,
                    number=1,
                    parent=None,
                    origin=Version.Origin.CREATE,
                    name=item.name,
                    content_type=text_type,
                    size=len(content),
                    sha256=sha,
                    sealed=crypto.seal(
                        key,
                        content,
                        keys.content_aad(
                            user_id=user.id, item_id=item.item_id, version_id=version_id
                        ),
                    ),
                    device=device,
                    modified_at=now,
                    created_at=now,
                )
                for item, (version_id, content, sha) in zip(items, versions, strict=True)
            ]
            for version in seeded:
                version.seal_meta(key)
            Version.objects.bulk_create(
                seeded,
                batch_size=500,
            )
            state.last_seq += count
            state.save(update_fields=["last_seq"])


def _service_seed(user, device, label: str, n: int, *, start: int = 0) -> None:
    from sync.services import changes_push

    for first in range(start, start + n, SEED_BATCH):
        last = min(first + SEED_BATCH, start + n)
        results, _ = changes_push(
            user=user, device=device, changes=[new_change(label, i) for i in range(first, last)]
        )
        bad = [r for r in results if r["status"] != "applied"]
        if bad:
            raise RuntimeError(f"seeding push not applied: {bad[0]}")


def seed(database_url: str, label: str, *, bulk: int = 0, service: int = 0) -> dict:
    env = server_env(database_url, {**BENCH_ENV, "CLOUDSAVES_MAX_BATCH_CHANGES": str(SEED_BATCH)})
    cmd = [sys.executable, str(Path(__file__).resolve()), "_seed", "--label", label]
    cmd += ["--bulk", str(bulk), "--service", str(service)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"seeding {label} failed:\n{out.stderr}")
    info = json.loads(out.stdout.strip().splitlines()[-1])
    how = ", ".join(
        f"{n:,} by {way} in {info[f'{way}_s']:.1f} s"
        for way, n in (("bulk", bulk), ("service", service))
        if n
    )
    progress(
        f"  seeded '{label}': {info['items']:,} items ({how or 'empty'}); "
        f"{time.perf_counter() - t0:.1f} s with setup"
    )
    return info


# -- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(kind: str, args) -> Iterator[str]:
    """A new, migrated database; removed afterwards."""
    if kind == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="cloudsaves-bench-"))
        url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        try:
            migrate(url)
            yield url
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    import psycopg
    from psycopg import sql

    name = sql.Identifier(args.pg_db)

    def admin(statement) -> None:
        with psycopg.connect(args.pg_admin_url, autocommit=True) as conn:
            conn.execute(statement)

    admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    admin(sql.SQL("CREATE DATABASE {}").format(name))
    info = psycopg.conninfo.conninfo_to_dict(args.pg_admin_url)
    url = (
        f"postgres://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/{args.pg_db}"
    )
    try:
        migrate(url)
        yield url
    finally:
        admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=server_env(url, BENCH_ENV),
        check=True,
    )


def postgres_version(admin_url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]
    except Exception as exc:  # reported, not fatal: --db sqlite needs no PostgreSQL
        return f"unavailable ({type(exc).__name__})"


# -- profiling ---------------------------------------------------------------------------------


class Profiler:
    """py-spy on the daphne process, one recording per measured phase."""

    def __init__(self, out_dir: Path | None) -> None:
        self.out_dir = out_dir
        self.summaries: list[str] = []

    @contextlib.contextmanager
    def phase(self, server: Server, name: str) -> Iterator[None]:
        if self.out_dir is None:
            yield
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        out = self.out_dir / f"{name}.txt"
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        cmd = [py_spy, "record", "--pid", str(server.pid), "--format", "raw", "--rate", "250"]
        cmd += ["--idle", "--threads", "-o", str(out)]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # let py-spy attach
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            if out.exists():
                self.summaries.append(profile_summary(out, name))
            else:
                self.summaries.append(f"{name}: py-spy wrote nothing ({proc.stderr.read()[-500:]})")


# The frame under which a request is served: the views and middleware are sync, so Django's
# ASGI handler runs them in asgiref's sync thread (the event loop thread only parses HTTP and
# waits; it shows up here as idle).
_REQUEST_MARKERS = ("thread_handler (asgiref/sync.py",)


# Frames of the project (and the DRF view/response plumbing around it) that the summary shows.
_PROJECT = ("(sync/", "(accounts/", "(cloudsaves/", "(handoff/", "(rest_framework/views.py")
_PROJECT += ("(rest_framework/response.py",)


def profile_summary(path: Path, name: str, threshold: float = 2.0, depth: int = 10) -> str:
    """Where the serving thread's wall time went (DB waits included): a tree of project frames
    with line numbers, each path ending in the first library call it makes, as shares of
    the request samples; paths under `threshold` percent are left out."""
    paths: Counter[tuple[str, ...]] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if not any(m in f for f in frames for m in _REQUEST_MARKERS):
            continue
        n = int(count)
        total += n
        marks = [i for i, f in enumerate(frames) if any(p in f for p in _PROJECT)]
        chain = [_short(frames[i]) for i in marks]
        after = (marks[-1] + 1) if marks else None
        if after is not None and after < len(frames):
            chain.append("-> " + frames[after].split(" (")[0])
        elif not marks:
            chain.append("(outside project code) " + frames[-1].split(" (")[0])
        chain = chain[:depth]
        for k in range(1, len(chain) + 1):
            paths[tuple(chain[:k])] += n
    if not total:
        return f"### {name}: no request samples"
    lines = [f"### {name}: {total} samples of the serving thread (wall time, DB waits included)"]
    for key in sorted(paths):
        share = 100 * paths[key] / total
        if share >= threshold and not key[-1].startswith(("BrowserDevice", "View.as_view")):
            lines.append(f"{share:5.1f}%  {'  ' * (len(key) - 1)}{key[-1]}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    """'name (/abs/path/to/app/file.py:123)' -> 'name (app/file.py:123)'."""
    return frame.replace(str(ROOT) + "/", "")


# -- measurements ------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(message, flush=True)


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:500]}")
    return response


def _post_json(client: httpx.Client, path: str, body: bytes) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    elapsed = time.perf_counter() - t0
    return elapsed, _check(response)


def _get(client: httpx.Client, path: str, params: dict) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = time.perf_counter() - t0
    return elapsed, _check(response)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _batch_body(label: str, first: int, count: int) -> bytes:
    changes = [new_change(label, i) for i in range(first, first + count)]
    return json.dumps({"changes": changes}).encode()


def _expect_applied(response: httpx.Response, count: int) -> None:
    results = response.json()["results"]
    if len(results) != count or any(r["status"] != "applied" for r in results):
        raise RuntimeError(f"push not applied: {results[:1]}")


def measure_push(client: httpx.Client, token: str, sizes: Sizes) -> dict:
    client.headers.update(_auth(token))
    times = []
    for b in range(sizes.push_warmup + sizes.push_batches):
        body = _batch_body("push", b * PUSH_BATCH, PUSH_BATCH)
        elapsed, response = _post_json(client, "/api/v1/sync/push", body)
        _expect_applied(response, PUSH_BATCH)
        if b >= sizes.push_warmup:
            times.append(elapsed)
    median = statistics.median(times)
    return {
        "rate": PUSH_BATCH / median,
        "batch_ms": 1000 * median,
        "aggregate": PUSH_BATCH * len(times) / sum(times),
        "batches": len(times),
    }


def measure_latency(client: httpx.Client, token: str, sizes: Sizes) -> dict:
    client.headers.update(_auth(token))
    times = []
    for n in range(sizes.latency_warmup + sizes.latency_requests):
        body = _batch_body("single", n, 1)
        elapsed, response = _post_json(client, "/api/v1/sync/push", body)
        _expect_applied(response, 1)
        if n >= sizes.latency_warmup:
            times.append(1000 * elapsed)
    times.sort()
    return {
        "p50": statistics.median(times),
        "p99": times[max(0, math.ceil(0.99 * len(times)) - 1)],
        "max": times[-1],
        "requests": len(times),
    }


def _pull_pass(client: httpx.Client, expected: int) -> list[tuple[float, int]]:
    pages: list[tuple[float, int]] = []
    cursor = ""
    seen = 0
    while True:
        elapsed, response = _get(
            client, "/api/v1/sync/changes", {"since": cursor, "limit": PULL_PAGE}
        )
        data = response.json()
        changes = data["changes"]
        if changes and len(changes[-1].get("content", "")) != CONTENT_BYTES:
            raise RuntimeError("pulled content is not the 1 KB that was pushed")
        pages.append((elapsed, len(changes)))
        seen += len(changes)
        cursor = data["cursor"]
        if not data["has_more"]:
            break
    if seen != expected:
        raise RuntimeError(f"pulled {seen} changes, expected {expected}")
    return pages


def measure_pull(client: httpx.Client, info: dict, sizes: Sizes) -> dict:
    client.headers.update(_auth(info["token"]))
    _pull_pass(client, info["items"])  # warm-up
    pages = []
    for _ in range(sizes.pull_passes):
        pages += _pull_pass(client, info["items"])
    full = [(t, n) for t, n in pages if n == PULL_PAGE] or pages
    rates = [n / t for t, n in full]
    times = [t for t, _ in full]
    return {
        "rate": statistics.median(rates),
        "page_ms": 1000 * statistics.median(times),
        "pages": len(full),
        "aggregate": sum(n for _, n in pages) / sum(t for t, _ in pages),
    }


def measure_tails(client: httpx.Client, stores: list[dict], repeats: int) -> list[dict]:
    """Pull the TAIL most recent changes of each store (a cursor just before them, default
    page size); with several stores the requests alternate between them, round by round."""
    times: list[list[float]] = [[] for _ in stores]
    for n in range(3 + repeats):
        for i, info in enumerate(stores):
            client.headers.update(_auth(info["token"]))
            elapsed, response = _get(client, "/api/v1/sync/changes", {"since": info["tail_cursor"]})
            data = response.json()
            if len(data["changes"]) != TAIL or data["has_more"]:
                raise RuntimeError(f"tail pull returned {len(data['changes'])} changes")
            if n >= 3:
                times[i].append(1000 * elapsed)
    return [{"median_ms": statistics.median(t), "repeats": len(t)} for t in times]


def warm_up(client: httpx.Client, info: dict, requests: int = 100) -> None:
    """The first requests after a start are slower (lazy imports, caches): not measured."""
    for _ in range(requests):
        _get(client, "/api/v1/info", {})
    measure_tails(client, [info], 20)


def measure_floor(client: httpx.Client, repeats: int) -> dict:
    """GET /api/v1/info: no authentication, no database; what any request costs here."""
    times = []
    for n in range(10 + repeats):
        elapsed, _ = _get(client, "/api/v1/info", {})
        if n >= 10:
            times.append(1000 * elapsed)
    return {"median_ms": statistics.median(times), "repeats": len(times)}


def bench_database(kind: str, sizes: Sizes, args, profiler: Profiler) -> dict:
    progress(f"\n## {kind}: preparing")
    t_start = time.perf_counter()
    with fresh_database(kind, args) as url:
        server = start_server(database_url=url, extra_env=BENCH_ENV)
        progress(f"  daphne pid {server.pid} at {server.url}, log {server.log_path}")
        try:
            with httpx.Client(base_url=server.url, timeout=300) as client:
                small = seed(url, "small", bulk=sizes.small_store - TAIL, service=TAIL)
                warm_up(client, small)
                with profiler.phase(server, f"{kind}-tail-small"):
                    (tail_small,) = measure_tails(client, [small], sizes.tail_repeats)
                large = seed(url, "large", bulk=sizes.large_store - TAIL, service=TAIL)
                with profiler.phase(server, f"{kind}-tail-both"):
                    tail_large, tail_small_again = measure_tails(
                        client, [large, small], sizes.tail_repeats
                    )
                progress(
                    f"  pull {TAIL}: {tail_small['median_ms']:.1f} ms "
                    f"({sizes.small_store:,}-item store alone), then alternating: "
                    f"{tail_large['median_ms']:.1f} ms ({sizes.large_store:,}) and "
                    f"{tail_small_again['median_ms']:.1f} ms ({sizes.small_store:,})"
                )

                pull_user = seed(url, "pull", service=sizes.pull_store)
                with profiler.phase(server, f"{kind}-pull"):
                    pull = measure_pull(client, pull_user, sizes)
                progress(f"  pull: {pull['rate']:,.0f} changes/s ({pull['page_ms']:.1f} ms/page)")

                push_user = seed(url, "push")
                with profiler.phase(server, f"{kind}-push"):
                    push = measure_push(client, push_user["token"], sizes)
                progress(f"  push: {push['rate']:,.0f} changes/s ({push['batch_ms']:.1f} ms/batch)")
                floor = measure_floor(client, sizes.latency_requests)
                progress(f"  request floor (GET /api/v1/info): {floor['median_ms']:.2f} ms")
                with profiler.phase(server, f"{kind}-latency"):
                    latency = measure_latency(client, push_user["token"], sizes)
                progress(
                    f"  one-change push: p50 {latency['p50']:.2f} ms, p99 {latency['p99']:.2f}"
                )
        finally:
            server.stop()
    return {
        "floor": floor,
        "push": push,
        "pull": pull,
        "latency": latency,
        "tail_small": tail_small,
        "tail_large": tail_large,
        "tail_small_again": tail_small_again,
        "seconds": time.perf_counter() - t_start,
    }


# -- report ------------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def _missed(value: float, target: float, *, higher_is_better: bool) -> str:
    if higher_is_better:
        return f"MISSED: reaches {100 * value / target:.0f}% of the target"
    return f"MISSED: {value / target:.1f}x the limit"


def database_table(kind: str, r: dict, sizes: Sizes) -> tuple[str, bool]:
    """The markdown table of one database's results, and whether every target was met."""
    push, pull, lat = r["push"], r["pull"], r["latency"]
    small, large = r["tail_small"]["median_ms"], r["tail_large"]["median_ms"]
    again = r["tail_small_again"]["median_ms"]
    ratio = large / small
    rows = []
    all_met = True

    def row(metric, result, target, ok, note):
        nonlocal all_met
        all_met = all_met and ok is not False
        met = "-" if ok is None else _met(ok)
        rows.append(f"| {metric} | {result} | {target} | {met} | {note} |")

    ok = push["rate"] >= TARGETS["push"]
    note = f"median of {push['batches']} batches, {push['batch_ms']:.1f} ms per batch"
    if kind == "sqlite":
        note += "; target stated for PostgreSQL"
    row(
        f"push throughput ({PUSH_BATCH} new 1 KB items per request)",
        f"{push['rate']:,.0f} changes/s",
        f">= {TARGETS['push']:,.0f} changes/s",
        ok,
        note if ok else f"{_missed(push['rate'], TARGETS['push'], higher_is_better=True)}; {note}",
    )
    ok = pull["rate"] >= TARGETS["pull"]
    note = (
        f"median of {pull['pages']} pages of {PULL_PAGE}, {pull['page_ms']:.1f} ms per page, "
        f"{r['pull_items']:,}-item store"
    )
    row(
        "pull throughput (pages of 500, 1 KB items)",
        f"{pull['rate']:,.0f} changes/s",
        f">= {TARGETS['pull']:,.0f} changes/s",
        ok,
        note if ok else f"{_missed(pull['rate'], TARGETS['pull'], higher_is_better=True)}; {note}",
    )
    ok = lat["p50"] <= TARGETS["latency_p50"]
    note = f"{lat['requests']} sequential requests, 1 new 1 KB item each"
    row(
        "one-change push latency p50",
        f"{lat['p50']:.2f} ms",
        f"<= {TARGETS['latency_p50']:g} ms",
        ok,
        note
        if ok
        else f"{_missed(lat['p50'], TARGETS['latency_p50'], higher_is_better=False)}; {note}",
    )
    row(
        "one-change push latency p99", f"{lat['p99']:.2f} ms", "-", None, f"max {lat['max']:.1f} ms"
    )
    row(
        "request floor: GET /api/v1/info (no auth, no database)",
        f"{r['floor']['median_ms']:.2f} ms",
        "-",
        None,
        f"median of {r['floor']['repeats']}; what any request costs on this server",
    )
    row(
        f"pull {TAIL} latest changes, {sizes.small_store:,}-item store",
        f"{small:.2f} ms",
        "-",
        None,
        f"median of {r['tail_small']['repeats']}; the only store in the database then",
    )
    row(
        f"pull {TAIL} latest changes, {sizes.large_store:,}-item store",
        f"{large:.2f} ms",
        "-",
        None,
        f"median of {r['tail_large']['repeats']}, alternating with the "
        f"{sizes.small_store:,}-item store, which then took {again:.2f} ms",
    )
    ok = ratio <= TARGETS["ratio"]
    row(
        f"ratio {sizes.large_store // 1000}k / {sizes.small_store // 1000}k store",
        f"{ratio:.2f}x",
        f"<= {TARGETS['ratio']:g}x",
        ok,
        (
            f"{sizes.large_store:,} over {sizes.small_store:,} alone; "
            f"{large / again:.2f}x over the alternating {sizes.small_store:,}"
        )
        if ok
        else f"{_missed(ratio, TARGETS['ratio'], higher_is_better=False)}; "
        f"{large / again:.2f}x over the alternating {sizes.small_store:,}",
    )
    header = [
        f"### {'SQLite' if kind == 'sqlite' else 'PostgreSQL'}",
        "",
        "| metric | result | target | met? | notes |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(header + rows), all_met


def merge_table(rows: list[dict]) -> str:
    lines = [
        "### Three-way merge (database-independent, bench/merge_bench.run)",
        "",
        "| metric | result | target | met? | notes |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        label = f"{r['size'] // 1000} KB" if r["size"] < 1_000_000 else f"{r['size'] // 10**6} MB"
        target = r["target_ms"]
        note = (
            f"median of {r['runs']}, max {r['max_ms']:.1f} ms, "
            f"{r['edits_per_side']} edits per side (~1%)"
        )
        if r["met"] is False:
            note = f"{_missed(r['median_ms'], target, higher_is_better=False)}; {note}"
        lines.append(
            f"| merge3 {label} | {r['median_ms']:.1f} ms | <= {target:g} ms | "
            f"{'-' if r['met'] is None else _met(r['met'])} | {note} |"
        )
    return "\n".join(lines)


def machine_summary(args) -> str:
    import django

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pg = postgres_version(args.pg_admin_url) if args.db in ("postgres", "both") else "not used"
    return (
        f"nproc {os.cpu_count()} ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"PostgreSQL {pg}, SQLite {sqlite3.sqlite_version}"
    )


def _commit() -> str:
    """The checked-out commit, read from .git without running git (the working tree may
    also hold uncommitted changes)."""
    git = ROOT / ".git"
    with contextlib.suppress(OSError):
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:10]
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:10]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:10]
    return "unknown"


def _loadavg() -> str:
    """1/5/15-minute load: other work on the machine skews every number above."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_seed":
        return _seed_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    parser.add_argument("--pg-db", default=DEFAULT_PG_DB, help="created and dropped")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="py-spy the server during each phase"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()

    python = os.path.relpath(sys.executable, Path.cwd())
    script = os.path.relpath(Path(__file__).resolve(), Path.cwd())
    print(f"command: {' '.join([python, script, *argv])}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}, code at commit {_commit()}")
    print(f"machine: {machine_summary(args)}")
    print(
        "setup: daphne + httpx client on this machine over 127.0.0.1, keep-alive; "
        "in-memory channel layer; DJANGO_DEBUG=0"
    )
    print(f"load average at start: {_loadavg()}")
    if args.profile:
        print(f"PROFILED RUN (py-spy into {args.profile}): timings are perturbed")

    from bench.merge_bench import run as merge_run

    progress("\n## merge")
    merge_rows = merge_run(runs=sizes.merge_runs)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    profiler = Profiler(args.profile)
    results = {}
    for kind in kinds:
        results[kind] = bench_database(kind, sizes, args, profiler)
        results[kind]["pull_items"] = sizes.pull_store
        progress(f"  {kind} done in {results[kind]['seconds']:.0f} s")

    print("\n## Results\n")
    print(merge_table(merge_rows))
    all_met = all(r["met"] is not False for r in merge_rows)
    for kind in kinds:
        table, met = database_table(kind, results[kind], sizes)
        all_met = all_met and met
        print()
        print(table)
    if profiler.summaries:
        print("\n## Server profiles (py-spy)\n")
        print("\n\n".join(profiler.summaries))
    print(f"\nload average at end: {_loadavg()}")
    print(f"total runtime: {time.perf_counter() - started:.0f} s")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
