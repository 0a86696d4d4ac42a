"""Load across server processes: many users' devices, live, for a bounded time.

For each process count (default: 1, then 2) it starts `bench/cluster.sh` — N daphne
processes behind HAProxy, sharing PostgreSQL and Redis — and, all through the proxy:

1. opens one subscribed WebSocket per device: `--devices` (2,000) over `--users` (500),
   most users with 2-5 devices;
2. pushes at a steady offered rate (`--rate` pushes/s, open loop) for `--duration` s,
   each push from a random device of a random user, mixed: 60 % one text edit (or a new
   note), 20 % a batch of five, 15 % a 2 KB binary save, 5 % a delete. `--slow` devices
   stop reading for `--slow-pause` s in the middle of it (a phone in a tunnel);
3. measures pushes/s sustained, push latency, push → delivery latency (every socket of
   the writer's user, the writer's own included, slow readers left out of the latency
   but not of the checks), 5xx and transport errors, and every daphne's RSS;
4. drops every socket at once and lets them reconnect (a reconnect storm) while the
   pushes go on, and reports how long until every socket is subscribed again;
5. stops pushing, waits for the sockets to go quiet, and checks every device against the
   server: each item at the server's version and hash, the device's cursor equal to the
   server's, no (item, version) delivered twice to any socket.

A device is a real client: it reconnects from its own cursor with backoff and jitter,
and keeps items by version. Nothing here is a pass/fail test: it prints a table
(docs/benchmarks.md has the results with the machine and commit).

    .venv/bin/python bench/load_bench.py                                # 1 and 2 processes
    .venv/bin/python bench/load_bench.py --processes 2 --duration 20    # a quick look

Needs PostgreSQL (trust auth), Redis and HAProxy. The database `cloudsaves_loadbench` is
dropped and re-created, the Redis database `--redis-db` (default 6) flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.live_bench import (  # noqa: E402
    Env,
    ancestors,
    foreign_processes,
    log,
    machine_summary,
    percentile,
    raise_open_files_limit,
    rss_kib,
)

DB_NAME = "cloudsaves_loadbench"
CLUSTER = ROOT / "bench" / "cluster.sh"
QUIET_S = 3.0


# -- accounts ---------------------------------------------------------------------------


def device_counts(users: int, devices: int, rng: random.Random) -> list[int]:
    """2-5 devices each (most people have a phone, a laptop and one or two more), summing
    to `devices` exactly."""
    counts = [rng.choices([2, 3, 4, 5], weights=[15, 20, 15, 50])[0] for _ in range(users)]
    while sum(counts) != devices:
        i = rng.randrange(users)
        if sum(counts) < devices and counts[i] < 5:
            counts[i] += 1
        elif sum(counts) > devices and counts[i] > 2:
            counts[i] -= 1
    return counts


def prepare(args: argparse.Namespace) -> tuple[Env, list[list[str]]]:
    env = Env(
        pg_admin_url=args.pg,
        database_url=args.pg.rsplit("/", 1)[0] + f"/{DB_NAME}",
        redis_url=f"{args.redis.rstrip('/')}/{args.redis_db}",
        prefix=f"loadbench{os.getpid()}",
    )
    log(f"re-creating database {DB_NAME}, flushing {env.redis_url}")
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    redis.Redis.from_url(env.redis_url).flushdb()
    child = cluster_env(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=child,
        check=True,
    )
    for key in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
        os.environ[key] = child[key]
    os.environ.setdefault("CLOUDSAVES_FAST_PASSWORD_HASHER", "1")
    import django

    django.setup()
    from django.db import connections

    from accounts.models import User
    from accounts.services import device_register

    counts = device_counts(args.users, args.devices, random.Random(args.seed))
    log(f"creating {args.users} users with {sum(counts)} devices")
    kinds = ["phone", "desktop", "laptop", "tablet", "other"]
    tokens = []
    for u, count in enumerate(counts):
        user = User.objects.create_user(email=f"u{u}@loadbench.invalid", password="x" * 12)
        tokens.append(
            [
                device_register(user=user, name=f"device {d}", kind=kinds[d % len(kinds)])[1]
                for d in range(count)
            ]
        )
    connections.close_all()
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return env, tokens


def cluster_env(env: Env) -> dict[str, str]:
    child = dict(os.environ)
    child.update(
        DATABASE_URL=env.database_url,
        REDIS_URL=env.redis_url,
        DJANGO_SETTINGS_MODULE="cloudsaves.settings",
        CLOUDSAVES_CHANNEL_PREFIX=env.prefix,
        CLOUDSAVES_CACHE_PREFIX=env.prefix,
        DJANGO_DEBUG="0",  # as in production: with DEBUG on Django keeps every query
        LOG_LEVEL="WARNING",
        PYTHON=sys.executable,
        PYTHONUNBUFFERED="1",
    )
    return child


# -- the cluster --------------------------------------------------------------------------


@dataclass
class Cluster:
    port: int
    processes: int
    directory: Path
    env: dict[str, str]

    def _run(self, *args: str) -> None:
        subprocess.run(
            ["bash", str(CLUSTER), *args, "-p", str(self.port)],
            env={**self.env, "CLUSTER_DIR": str(self.directory), "CLUSTER_SKIP_MIGRATE": "1"},
            check=True,
            timeout=180,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._run("start", "-n", str(self.processes))

    def stop(self) -> None:
        self._run("stop")

    @property
    def pids(self) -> list[int]:
        return [
            int((self.directory / f"process-{i}.pid").read_text())
            for i in range(1, self.processes + 1)
        ]

    def rss_mib(self) -> list[float]:
        return [rss_kib(pid) / 1024 for pid in self.pids]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# -- devices ------------------------------------------------------------------------------


@dataclass
class Expectation:
    version: int
    started: float
    pending: set[int]


class Hub:
    """What was pushed and is still to arrive, and what arrived. A delivery may beat the
    push's own answer to the client, so arrivals are kept per item and socket and an
    expectation set afterwards counts what already came."""

    def __init__(self) -> None:
        self.expecting: dict[str, Expectation] = {}
        self.latest: dict[str, dict[int, tuple[int, float]]] = {}  # item → sid → (ver, t)
        self.delivery_ms: list[float] = []
        self.measuring = False
        self.last_frame = time.perf_counter()
        self.slow: set[int] = set()

    def _record(self, sid: int, started: float, now: float) -> None:
        if self.measuring and sid not in self.slow:
            self.delivery_ms.append((now - started) * 1000)

    def expect(self, item_id: str, version: int, sids: list[int], started: float) -> None:
        pending = set(sids)
        for sid, (seen, at) in self.latest.get(item_id, {}).items():
            if sid in pending and seen >= version:
                pending.discard(sid)
                self._record(sid, started, at)
        if pending:
            self.expecting[item_id] = Expectation(version, started, pending)
        else:
            self.expecting.pop(item_id, None)

    def arrived(self, sid: int, item_id: str, version: int, now: float) -> None:
        per_socket = self.latest.setdefault(item_id, {})
        if version > per_socket.get(sid, (0, 0.0))[0]:
            per_socket[sid] = (version, now)
        expectation = self.expecting.get(item_id)
        if expectation is None or version < expectation.version or sid not in expectation.pending:
            return
        expectation.pending.discard(sid)
        self._record(sid, expectation.started, now)
        if not expectation.pending:
            del self.expecting[item_id]


class Device:
    def __init__(self, sid: int, user: int, token: str, url: str, hub: Hub) -> None:
        self.sid, self.user, self.token, self.hub = sid, user, token, hub
        self.url = url.replace("http://", "ws://") + "/ws/v1/"
        self.cursor = ""
        self.items: dict[str, tuple[int, str | None, bool]] = {}
        self.delivered: Counter = Counter()  # (item, version) → times
        self.subscribed = asyncio.Event()
        self.subscribed_at = 0.0
        self.ws = None
        self.drops = 0
        self.failed_opens = 0
        self.paused_until = 0.0
        self.stopping = False

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            try:
                async with ws_connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    compression=None,
                    ping_interval=None,  # daphne pings; answering is automatic
                    open_timeout=30,
                    close_timeout=1,
                    max_size=2**22,
                ) as ws:
                    self.ws = ws
                    hello = json.loads(await ws.recv())
                    assert hello["type"] == "hello", hello
                    await ws.send(json.dumps({"type": "subscribe", "since": self.cursor}))
                    failures = 0
                    async for raw in ws:
                        self.on_frame(raw)
                        if self.paused_until > time.monotonic():
                            await asyncio.sleep(self.paused_until - time.monotonic())
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                if self.ws is None:
                    self.failed_opens += 1
            finally:
                if self.ws is not None:
                    self.drops += 1
                self.ws = None
                self.subscribed.clear()
            if self.stopping:
                return
            # Back off only after failures, with jitter, as a client should.
            if failures:
                await asyncio.sleep(random.uniform(0.5, 1.5) * min(8.0, 0.25 * 2**failures))
            failures += 1

    def on_frame(self, raw: str | bytes) -> None:
        now = time.perf_counter()
        self.hub.last_frame = now
        message = json.loads(raw)
        if message.get("type") != "changes":
            return
        for change in message["changes"]:
            key = (change["id"], change["version"])
            self.delivered[key] += 1
            held = self.items.get(change["id"])
            if held is None or change["version"] > held[0]:
                self.items[change["id"]] = (
                    change["version"],
                    change.get("sha256"),
                    change["deleted"],
                )
            self.hub.arrived(self.sid, change["id"], change["version"], now)
        self.cursor = message["cursor"]
        if not message["has_more"] and not self.subscribed.is_set():
            self.subscribed_at = now
            self.subscribed.set()

    def drop(self) -> None:
        if self.ws is not None:
            self.ws.transport.abort()


# -- pushes -------------------------------------------------------------------------------


@dataclass
class Stats:
    push_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    results: Counter = field(default_factory=Counter)
    transport_errors: Counter = field(default_factory=Counter)
    pushed: int = 0
    skipped: int = 0


class Pusher:
    """Open-loop pushes at `rate`/s; an item is not edited again while its last change is
    still in flight (so every push applies: there is no conflict to measure here)."""

    def __init__(self, url, tokens, devices_of, hub, rng, max_in_flight=200) -> None:
        self.http = httpx.AsyncClient(
            base_url=url,
            timeout=60,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )
        self.tokens, self.devices_of, self.hub, self.rng = tokens, devices_of, hub, rng
        self.items: list[dict[str, tuple[int, str]]] = [{} for _ in tokens]  # id → (ver, kind)
        self.busy: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = max_in_flight
        self.stats = Stats()
        self.tasks: set[asyncio.Task] = set()

    def _pick_existing(self, user: int, kind: str) -> tuple[str, int] | None:
        candidates = [
            (item_id, version)
            for item_id, (version, k) in self.items[user].items()
            if k == kind and item_id not in self.busy
        ]
        return self.rng.choice(candidates) if candidates else None

    def _put_text(self, user: int) -> dict:
        existing = self._pick_existing(user, "text") if self.rng.random() < 0.7 else None
        item_id, base = existing or (str(uuid.uuid4()), None)
        words = " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(30, 150)))
        return {
            "change_id": str(uuid.uuid4()),
            "item_id": item_id,
            "op": "put",
            "base_version": base,
            "kind": "text",
            "name": "note.md",
            "content": words,
        }

    def _put_binary(self, user: int) -> dict:
        existing = self._pick_existing(user, "binary") if self.rng.random() < 0.7 else None
        item_id, base = existing or (str(uuid.uuid4()), None)
        return {
            "change_id": str(uuid.uuid4()),
            "item_id": item_id,
            "op": "put",
            "base_version": base,
            "kind": "binary",
            "name": "slot1.sav",
            "content_b64": base64.b64encode(self.rng.randbytes(2048)).decode(),
        }

    def _changes(self, user: int) -> list[dict]:
        roll = self.rng.random()
        if roll < 0.60:
            return [self._put_text(user)]
        if roll < 0.80:
            batch = []
            for _ in range(5):
                change = self._put_text(user)
                if all(c["item_id"] != change["item_id"] for c in batch):
                    batch.append(change)
            return batch
        if roll < 0.95:
            return [self._put_binary(user)]
        existing = self._pick_existing(user, "text")
        if existing is None:
            return [self._put_text(user)]
        return [
            {
                "change_id": str(uuid.uuid4()),
                "item_id": existing[0],
                "op": "delete",
                "base_version": existing[1],
            }
        ]

    def fire(self) -> None:
        if self.in_flight >= self.max_in_flight:
            self.stats.skipped += 1
            return
        user = self.rng.randrange(len(self.tokens))
        token = self.rng.choice(self.tokens[user])
        changes = self._changes(user)
        for change in changes:
            self.busy.add(change["item_id"])
        task = asyncio.create_task(self._push(user, token, changes))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _push(self, user: int, token: str, changes: list[dict]) -> None:
        self.in_flight += 1
        started = time.perf_counter()
        try:
            response = await self.http.post(
                "/api/v1/sync/push",
                json={"changes": changes},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.TransportError as exc:
            self.stats.transport_errors[type(exc).__name__] += 1
            return
        finally:
            self.in_flight -= 1
            for change in changes:
                self.busy.discard(change["item_id"])
        elapsed = time.perf_counter() - started
        self.stats.statuses[response.status_code] += 1
        if response.status_code != 200:
            return
        self.stats.pushed += 1
        if self.hub.measuring:
            self.stats.push_ms.append(elapsed * 1000)
        for result in response.json()["results"]:
            self.stats.results[result["status"]] += 1
            item = result.get("item")
            if item is None:
                continue
            if item["deleted"]:
                self.items[user].pop(item["id"], None)
            else:
                self.items[user][item["id"]] = (item["version"], item["kind"])
            self.hub.expect(item["id"], item["version"], self.devices_of[user], started)

    async def run_for(self, seconds: float, rate: float, stop: asyncio.Event | None = None):
        """Fire at `rate`/s by the clock (a slow answer never slows the offered rate)."""
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds and not (stop and stop.is_set()):
            n += 1
            self.fire()
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.http.aclose()


WORDS = [
    "save",
    "level",
    "checkpoint",
    "quest",
    "inventory",
    "map",
    "boss",
    "gold",
    "sword",
    "shield",
    "potion",
    "note",
    "idea",
    "today",
    "tomorrow",
    "meeting",
    "list",
    "buy",
    "milk",
    "bread",
    "call",
    "mum",
    "draft",
    "chapter",
    "scene",
    "plot",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "it",
    "that",
    "was",
    "for",
    "on",
    "with",
    "as",
    "at",
    "by",
    "from",
]


# -- one round ------------------------------------------------------------------------------


@dataclass
class Round:
    processes: int
    devices: int
    users: int
    rate: float
    duration: float
    connect_s: float = 0.0
    sustained: float = 0.0
    push_p50: float = 0.0
    push_p99: float = 0.0
    delivery_p50: float = 0.0
    delivery_p99: float = 0.0
    server_errors: int = 0
    transport_errors: int = 0
    other_statuses: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    skipped: int = 0
    rss_start: list[float] = field(default_factory=list)
    rss_end: list[float] = field(default_factory=list)
    rss_after_storm: list[float] = field(default_factory=list)
    storm_settle_s: float = 0.0
    storm_median_s: float = 0.0
    storm_failed_opens: int = 0
    undelivered: int = 0
    duplicates: int = 0
    diverged: int = 0
    cursor_mismatch: int = 0
    slow_converged: str = ""
    client_cpu: float = 0.0


async def server_truth(url: str, tokens: list[list[str]]) -> tuple[list[dict], list[str]]:
    """Every user's items as the server has them, and each user's final cursor."""
    truths: list[dict] = [{} for _ in tokens]
    cursors = [""] * len(tokens)
    semaphore = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def one(u: int) -> None:
            async with semaphore:
                cursor = ""
                while True:
                    page = await http.get(
                        "/api/v1/sync/changes",
                        params={"since": cursor, "limit": 500},
                        headers={"Authorization": f"Bearer {tokens[u][0]}"},
                    )
                    page.raise_for_status()
                    body = page.json()
                    for change in body["changes"]:
                        truths[u][change["id"]] = (
                            change["version"],
                            change.get("sha256"),
                            change["deleted"],
                        )
                    cursor = body["cursor"]
                    if not body["has_more"]:
                        cursors[u] = cursor
                        return

        await asyncio.gather(*(one(u) for u in range(len(tokens))))
    return truths, cursors


async def wait_until(predicate, timeout: float, step: float = 0.1) -> float:
    start = time.perf_counter()
    while not predicate() and time.perf_counter() - start < timeout:
        await asyncio.sleep(step)
    return time.perf_counter() - start


async def run_round(processes: int, env: Env, tokens: list[list[str]], args) -> Round:
    directory = ROOT / ".local" / f"loadbench-{processes}"
    cluster = Cluster(args.port, processes, directory, cluster_env(env))
    log(f"[{processes} process(es)] starting the cluster")
    cluster.start()
    rng = random.Random(args.seed + processes)
    hub = Hub()
    devices: list[Device] = []
    devices_of: list[list[int]] = []
    for u, user_tokens in enumerate(tokens):
        devices_of.append([])
        for token in user_tokens:
            devices_of[u].append(len(devices))
            devices.append(Device(len(devices), u, token, cluster.url, hub))
    result = Round(processes, len(devices), len(tokens), args.rate, args.duration)
    pusher = Pusher(cluster.url, tokens, devices_of, hub, rng)
    tasks: list[asyncio.Task] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        log(f"  opening {len(devices)} sockets")
        started = time.perf_counter()
        for i in range(0, len(devices), args.open_batch):
            batch = devices[i : i + args.open_batch]
            tasks += [asyncio.create_task(d.run()) for d in batch]
            await asyncio.gather(*(d.subscribed.wait() for d in batch))
        result.connect_s = time.perf_counter() - started
        await asyncio.sleep(2)
        result.rss_start = cluster.rss_mib()

        log(f"  pushing {args.rate:g}/s for {args.duration:g} s")
        slow = rng.sample(range(len(devices)), args.slow)
        hub.slow = set(slow)

        async def slow_readers() -> None:
            await asyncio.sleep(args.duration / 3)
            for sid in slow:
                devices[sid].paused_until = time.monotonic() + args.slow_pause

        hub.measuring = True
        steady_start = time.perf_counter()
        pushed_before = pusher.stats.pushed
        pauser = asyncio.create_task(slow_readers())
        await pusher.run_for(args.duration, args.rate)
        await pusher.drain()
        result.sustained = (pusher.stats.pushed - pushed_before) / (
            time.perf_counter() - steady_start
        )
        hub.measuring = False
        await pauser
        result.rss_end = cluster.rss_mib()

        log("  reconnect storm: every socket drops at once")
        storm_stop = asyncio.Event()
        storm_pushes = asyncio.create_task(pusher.run_for(600, args.rate, storm_stop))
        opens_before = sum(d.failed_opens for d in devices)
        storm_at = time.perf_counter()
        for device in devices:
            device.subscribed.clear()
            device.drop()
        await wait_until(lambda: all(d.subscribed.is_set() for d in devices), timeout=300)
        settled = [d.subscribed_at - storm_at for d in devices if d.subscribed.is_set()]
        result.storm_settle_s = max(settled)
        result.storm_median_s = percentile(settled, 50)
        result.storm_failed_opens = sum(d.failed_opens for d in devices) - opens_before
        storm_stop.set()
        await storm_pushes
        await pusher.drain()
        result.rss_after_storm = cluster.rss_mib()

        log("  waiting for the sockets to go quiet, then checking every device")
        await wait_until(lambda: not hub.expecting, timeout=120)
        await wait_until(lambda: time.perf_counter() - hub.last_frame > QUIET_S, timeout=60)
        truths, cursors = await server_truth(cluster.url, tokens)
        stats = pusher.stats
        result.undelivered = sum(len(e.pending) for e in hub.expecting.values())
        result.duplicates = sum(n - 1 for d in devices for n in d.delivered.values() if n > 1)
        result.diverged = sum(1 for d in devices if d.items != truths[d.user])
        result.cursor_mismatch = sum(1 for d in devices if d.cursor != cursors[d.user])
        slow_ok = sum(1 for sid in slow if devices[sid].items == truths[devices[sid].user])
        result.slow_converged = f"{slow_ok}/{len(slow)}"
        result.push_p50 = percentile(stats.push_ms, 50)
        result.push_p99 = percentile(stats.push_ms, 99)
        result.delivery_p50 = percentile(hub.delivery_ms, 50)
        result.delivery_p99 = percentile(hub.delivery_ms, 99)
        result.server_errors = sum(n for s, n in stats.statuses.items() if s >= 500)
        result.other_statuses = {s: n for s, n in stats.statuses.items() if s != 200}
        result.transport_errors = sum(stats.transport_errors.values())
        result.results = dict(stats.results)
        result.skipped = stats.skipped
        result.client_cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        log(f"  {result}")
    finally:
        for device in devices:
            device.stopping = True
            device.drop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pusher.close()
        cluster.stop()
    return result


# -- report -------------------------------------------------------------------------------


def _mib(values: list[float]) -> str:
    return f"{sum(values):.0f} ({' + '.join(f'{v:.0f}' for v in values)})"


def table(rounds: list[Round]) -> list[str]:
    head = ["measure", *(f"{r.processes} process{'es' if r.processes > 1 else ''}" for r in rounds)]
    ratio = len(rounds) > 1
    if ratio:
        head.append(f"{rounds[-1].processes} / {rounds[0].processes}")
    rows = [
        ("devices (sockets) / users", lambda r: f"{r.devices} / {r.users}", None),
        ("sockets opened and subscribed in", lambda r: f"{r.connect_s:.1f} s", None),
        ("offered push rate", lambda r: f"{r.rate:g}/s for {r.duration:g} s", None),
        ("pushes/s sustained", lambda r: f"{r.sustained:.1f}", lambda r: r.sustained),
        (
            "push p50 / p99 (ms)",
            lambda r: f"{r.push_p50:.1f} / {r.push_p99:.1f}",
            lambda r: r.push_p50,
        ),
        (
            "push → delivery p50 / p99 (ms)",
            lambda r: f"{r.delivery_p50:.1f} / {r.delivery_p99:.1f}",
            lambda r: r.delivery_p50,
        ),
        ("5xx answers", lambda r: str(r.server_errors), None),
        (
            "other non-200 / transport errors",
            lambda r: f"{r.other_statuses or 0} / {r.transport_errors}",
            None,
        ),
        ("pushes not sent (client at 200 in flight)", lambda r: str(r.skipped), None),
        (
            "change results",
            lambda r: ", ".join(f"{k} {v}" for k, v in sorted(r.results.items())),
            None,
        ),
        ("deliveries never made", lambda r: str(r.undelivered), None),
        ("(item, version) delivered twice", lambda r: str(r.duplicates), None),
        ("devices differing from the server", lambda r: str(r.diverged), None),
        ("device cursor ≠ server cursor", lambda r: str(r.cursor_mismatch), None),
        ("slow readers converged", lambda r: r.slow_converged, None),
        (
            "reconnect storm: resubscribed, median / last",
            lambda r: f"{r.storm_median_s:.2f} s / {r.storm_settle_s:.2f} s",
            None,
        ),
        ("storm: refused openings, retried", lambda r: str(r.storm_failed_opens), None),
        ("daphne RSS MiB at start", lambda r: _mib(r.rss_start), None),
        ("daphne RSS MiB after the pushes", lambda r: _mib(r.rss_end), None),
        ("daphne RSS MiB after the storm", lambda r: _mib(r.rss_after_storm), None),
        ("load client CPU (of one core)", lambda r: f"{r.client_cpu * 100:.0f} %", None),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, show, number in rows:
        cells = [name, *(show(r) for r in rounds)]
        if ratio:
            cells.append(
                f"{number(rounds[-1]) / number(rounds[0]):.2f}x"
                if number and number(rounds[0])
                else ""
            )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=6)
    parser.add_argument("--processes", default="1,2", help="process counts, e.g. 1,2")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50, help="offered pushes/s")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--slow", type=int, default=20, help="devices that stop reading")
    parser.add_argument("--slow-pause", type=float, default=20)
    parser.add_argument("--open-batch", type=int, default=100)
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    limit = raise_open_files_limit()
    if limit < args.devices * 3:
        sys.exit(f"open-files limit {limit} is too low for {args.devices} sockets")
    env, tokens = prepare(args)
    own = ancestors()
    rounds = []
    for processes in [int(p) for p in args.processes.split(",")]:
        rounds.append(asyncio.run(run_round(processes, env, tokens, args)))
    others = foreign_processes(own | {os.getpid()})
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"\n### Load across processes (bench/load_bench.py), commit {commit}{' +changes' if dirty else ''}"
    )
    print()
    print("\n".join(machine_summary(env)))
    print(f"- HAProxy in front, `{' '.join(sys.argv[1:]) or 'defaults'}`")
    if others:
        print(f"- other processes ran alongside: {len(others)}")
    print()
    print("\n".join(table(rounds)))


if __name__ == "__main__":
    main()
