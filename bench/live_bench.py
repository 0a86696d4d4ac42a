"""Live sync benchmark: push → WebSocket delivery on the product beside a bare Channels app.

For N devices of ONE user (each with its own token and one subscribed socket) it measures,
on a real daphne process with PostgreSQL and the Redis channel layer:

1. push → delivery latency: t0 just before a one-change `POST /api/v1/sync/push` from an
   extra writer device, then the arrival of the `changes` message carrying that item on
   every socket; one sample per (push, socket). Pushes are paced: the next one starts
   `--gap` seconds after every socket received the previous one, so deliveries never
   overlap.
2. deliveries/s: `--burst` pushes back to back (each awaited before the next), total
   (change, socket) deliveries / wall time from the first push to the last arrival.
3. daphne RSS per idle connection: VmRSS after warm-up and before connecting, and after
   the N sockets are subscribed and the server has gone quiet (no frame for 3 s),
   divided by N.

The same three measurements are taken on bench/bare_asgi.py (one group, group messages
forwarded as they are; "push" is a `group_send` of a ~1 KB `changes`-shaped frame from
this process), served by daphne with the same flags and the same channel-layer config.
Every (N, server) pair gets a fresh daphne process, so memory is never inherited from a
previous round. The product runs as in production (DJANGO_DEBUG=0: with DEBUG on, Django
keeps every query in memory) behind `python -m cloudsaves.serve`; the bare app gets the
same daphne flags (cloudsaves.serve.daphne_argv). Both servers' REDIS_URL carries
`?socket_timeout=30` (see --redis-socket-timeout): with redis-py 8's 5 s default, idle
consumers die with "Timeout reading from ..." and nothing is delivered. Sockets are opened
`--concurrency` at a time; an opening daphne refuses (it drops handshakes not accepted
within 5 s) is retried after a second and counted.

    .venv/bin/python bench/live_bench.py                   # N = 10, 100, 500
    .venv/bin/python bench/live_bench.py --quick           # N = 10, 50, fewer pushes
    .venv/bin/python bench/live_bench.py --sizes 10,100 --profile /tmp/live-prof

With --profile DIR, py-spy (`.venv/bin/pip install py-spy`) records daphne during the
connection phase and the push phases of every round (DIR/<kind>-<N>-<phase>.speedscope.json,
idle samples included); a profiled run's numbers are perturbed and are not results.

Needs PostgreSQL (trust auth) and Redis. The database `cloudsaves_livebench` is dropped
and re-created, and the Redis database `--redis-db` (default 5) is flushed at start;
channel names carry a per-run prefix. Results are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
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

# Both servers get the daphne flags the product is served with.
from cloudsaves.serve import daphne_argv  # noqa: E402

LOG_DIR = ROOT / ".local" / "bench-logs"
DB_NAME = "cloudsaves_livebench"
CONTENT_CHARS = 512  # a product `changes` frame with one item is then ~1 KB
OPEN_ATTEMPTS = 10
QUIET_S = 3.0  # "idle": no frame on any socket for this long
IDLE_CPU_WINDOW_S = 5.0
P99_TARGET_N = 100
P99_TARGET_RATIO = 1.5
MEMORY_TARGET_KIB = 64.0
# RSS grows in steps (pymalloc arenas are 1 MiB): below this N one step alone moves the
# per-connection figure by more than 10 KiB, so the memory target is judged from here up.
MEMORY_TARGET_MIN_N = 100

# -- small helpers ----------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


FOREIGN_PATTERNS = ("daphne", "cloudsaves.serve", "pytest", "bench/", "manage.py")


def foreign_processes(own: set[int]) -> set[str]:
    """Other tests, benchmarks or servers running on this machine: they share the two
    cores, so the report says whether any ran alongside."""
    seen = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in argv if a)
        if any(p in line for p in FOREIGN_PATTERNS) and "py-spy" not in line:
            seen.add(f"{entry.name}: {line[:100]}")
    return seen


def ancestors() -> set[int]:
    """This process and the ones that started it (their command lines name this script)."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # inherited by daphne
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- environment: database, Redis, accounts ----------------------------------------------


@dataclass
class Env:
    pg_admin_url: str
    database_url: str
    redis_url: str
    prefix: str
    layer_config: dict = field(default_factory=dict)
    warm_tokens: list[str] = field(default_factory=list)
    # N → (writer token, reader tokens)
    accounts: dict[int, tuple[str, list[str]]] = field(default_factory=dict)

    def server_env(self, kind: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CLOUDSAVES_CHANNEL_PREFIX=self.prefix,
            PYTHONUNBUFFERED="1",
        )
        if kind == "product":
            env["DJANGO_SETTINGS_MODULE"] = "cloudsaves.settings"
            env.update(DJANGO_DEBUG="0", LOG_LEVEL="WARNING")  # as in production
        else:
            env["DJANGO_SETTINGS_MODULE"] = "bench.bare_settings"
            env["BENCH_CHANNEL_LAYER_CONFIG"] = json.dumps(self.layer_config)
        return env


def prepare(args: argparse.Namespace, sizes: list[int]) -> Env:
    env = Env(
        pg_admin_url=args.pg,
        database_url=args.pg.rsplit("/", 1)[0] + f"/{DB_NAME}",
        redis_url=f"{args.redis.rstrip('/')}/{args.redis_db}",
        prefix=f"livebench{os.getpid()}",
    )
    flush_url = env.redis_url
    if args.redis_socket_timeout > 0:
        # redis-py 8 reads with a 5 s socket timeout by default, the same as channels_redis'
        # blocking BZPOPMIN: every idle socket's consumer then dies with "Timeout reading
        # from ..." (django/channels_redis#422). The URL option fixes it for both servers
        # without touching settings (channels_redis and Django's cache use from_url).
        env.redis_url += f"?socket_timeout={args.redis_socket_timeout:g}"
    log(f"re-creating database {DB_NAME}")
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    log(f"flushing {flush_url}")
    redis.Redis.from_url(flush_url).flushdb()
    child_env = env.server_env("product")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=child_env,
        check=True,
    )
    # Accounts are created here, before any event loop runs (the ORM is synchronous).
    for key in ("DATABASE_URL", "REDIS_URL", "CLOUDSAVES_CHANNEL_PREFIX", "DJANGO_SETTINGS_MODULE"):
        os.environ[key] = child_env[key]
    os.environ.setdefault("CLOUDSAVES_FAST_PASSWORD_HASHER", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    from accounts.models import User
    from accounts.services import device_register

    layer = settings.CHANNEL_LAYERS["default"]
    if layer["BACKEND"] != "channels_redis.core.RedisChannelLayer":
        raise RuntimeError(f"expected the Redis channel layer, got {layer['BACKEND']}")
    env.layer_config = dict(layer["CONFIG"])
    log(f"creating accounts for N = {sizes}")
    warm = User.objects.create_user(email="warm@livebench.invalid", password="livebench-pass")
    env.warm_tokens = [
        device_register(user=warm, name=f"warm {i}", kind="phone")[1] for i in range(2)
    ]
    for n in sizes:
        user = User.objects.create_user(email=f"n{n}@livebench.invalid", password="livebench-pass")
        writer = device_register(user=user, name="writer", kind="desktop")[1]
        readers = [device_register(user=user, name=f"phone {i}", kind="phone")[1] for i in range(n)]
        env.accounts[n] = (writer, readers)
    connections.close_all()
    for name in ("httpx", "httpcore"):  # Django's LOGGING would print every push
        logging.getLogger(name).setLevel(logging.WARNING)
    return env


APP_PACKAGES = ("accounts", "cloudsaves", "handoff", "sync")


def code_fingerprint() -> str:
    """A hash of the application's Python files: others edit the code while benchmarks
    run, and every round starts a fresh daphne that loads whatever is there then."""
    digest = hashlib.sha256()
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def machine_summary(env: Env) -> list[str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with psycopg.connect(env.pg_admin_url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    redis_version = redis.Redis.from_url(env.redis_url).info("server")["redis_version"]
    packages = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("Django", "channels", "channels-redis", "daphne", "Twisted", "websockets")
    )
    return [
        f"- machine: {os.cpu_count()} CPU (nproc), {cpu}, {mem_gib:.0f} GiB RAM, "
        f"Linux {platform.release()}",
        f"- Python {platform.python_version()}, PostgreSQL {pg}, Redis {redis_version}",
        f"- {packages}",
    ]


# -- servers ----------------------------------------------------------------------------


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        path = "/ws/v1/" if self.kind == "product" else "/ws/"
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def start_server(kind: str, env: Env) -> Server:
    port = free_port()
    if kind == "product":
        argv = [
            sys.executable,
            "-m",
            "cloudsaves.serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    else:
        flags = daphne_argv("127.0.0.1", port)
        if flags[-1] != "cloudsaves.asgi:application":
            raise RuntimeError(f"unexpected daphne argv from cloudsaves.serve: {flags}")
        argv = [sys.executable, "-m", "daphne", *flags[:-1], "bench.bare_asgi:application"]
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"live-{kind}-{port}.log"
    with log_path.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env.server_env(kind), stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(kind=kind, port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{kind} daphne exited early; see {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{server.http_url}/healthz")).status_code == 200:
                    return server
            await asyncio.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{kind} daphne did not become healthy; see {log_path}")


class Profiler:
    """py-spy record of the daphne process for one phase (only with --profile)."""

    def __init__(self, directory: Path | None, pid: int, name: str):
        self.directory, self.pid, self.name = directory, pid, name
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Profiler:
        if self.directory is not None:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            out = self.directory / f"{self.name}.speedscope.json"
            self.process = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(self.pid),
                    "--format",
                    "speedscope",
                    "--rate",
                    "100",
                    "--idle",  # waits count: what serializes on one thread is wall time
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- client side: one asyncio process, one coroutine per socket --------------------------

CHANGES_PREFIX = '{"type": "changes"'


class Tracker:
    """Arrivals of one pushed item: socket index → arrival time."""

    __slots__ = ("arrivals", "done", "expected")

    def __init__(self, expected: int):
        self.expected = expected
        self.arrivals: dict[int, float] = {}
        self.done = asyncio.get_running_loop().create_future()


class Hub:
    def __init__(self) -> None:
        self.tracking: dict[str, Tracker] = {}
        self.last_frame = time.perf_counter()
        self.frames = 0
        self.change_frames = 0
        self.duplicates = 0
        self.frame_bytes: list[int] = []
        self.refused: list[str] = []  # failed opening attempts (retried)

    def expect(self, item_id: str, sockets: int) -> Tracker:
        tracker = self.tracking[item_id] = Tracker(sockets)
        return tracker

    def on_frame(self, sid: int, raw: str | bytes, now: float) -> None:
        self.frames += 1
        self.last_frame = now
        if not isinstance(raw, str) or not raw.startswith(CHANGES_PREFIX):
            return  # `device` and other messages
        self.change_frames += 1
        hit = False
        for change in json.loads(raw)["changes"]:
            tracker = self.tracking.get(change.get("id"))
            if tracker is None:
                continue
            hit = True
            if sid in tracker.arrivals:
                self.duplicates += 1
                continue
            tracker.arrivals[sid] = now
            if len(tracker.arrivals) >= tracker.expected and not tracker.done.done():
                tracker.done.set_result(None)
        if hit and len(self.frame_bytes) < 1000:
            self.frame_bytes.append(len(raw.encode()))


async def _reader(ws, sid: int, hub: Hub) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            hub.on_frame(sid, raw, time.perf_counter())


async def open_socket(server: Server, sid: int, token: str | None, hub: Hub):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    ws = await ws_connect(
        server.ws_url,
        additional_headers=headers,
        compression=None,
        ping_interval=None,  # daphne pings every client; answering is automatic
        open_timeout=900,
        close_timeout=1,
        max_size=2**22,
    )
    if server.kind == "product":
        try:
            async with asyncio.timeout(900):
                hello = json.loads(await ws.recv())
                if hello.get("type") != "hello":
                    raise RuntimeError(f"expected hello, got {hello}")
                await ws.send(json.dumps({"type": "subscribe", "since": ""}))
                while True:  # the replay ends with one `changes` whose has_more is false
                    message = json.loads(await ws.recv())
                    if message.get("type") == "error":
                        raise RuntimeError(f"subscribe failed: {message}")
                    if message.get("type") == "changes" and not message["has_more"]:
                        break
        except BaseException:
            ws.transport.abort()
            raise
    return ws, asyncio.create_task(_reader(ws, sid, hub))


async def open_all(server: Server, tokens: list[str | None], hub: Hub, concurrency: int):
    """Open and subscribe every socket, `concurrency` at a time. A refused or dropped
    opening is retried after a second, as a client would (daphne drops a handshake the
    application has not accepted within 5 s); the failures are counted in hub.refused."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(sid: int, token: str | None):
        for attempt in range(OPEN_ATTEMPTS):
            async with semaphore:
                try:
                    return await open_socket(server, sid, token, hub)
                except (InvalidHandshake, ConnectionClosed, TimeoutError, OSError) as exc:
                    hub.refused.append(type(exc).__name__)
                    if attempt == OPEN_ATTEMPTS - 1:
                        raise
            await asyncio.sleep(1)
        raise AssertionError("unreachable")

    return await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))


async def close_all(sockets) -> None:
    for _, task in sockets:
        task.cancel()
    for ws, _ in sockets:
        with contextlib.suppress(Exception):
            ws.transport.abort()


async def wait_quiet(hub: Hub, limit_s: float = 1800) -> float:
    """Wait until no socket got a frame for QUIET_S; returns how long that took."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        idle_for = time.perf_counter() - hub.last_frame
        if idle_for >= QUIET_S:
            return time.perf_counter() - start
        await asyncio.sleep(QUIET_S - idle_for + 0.05)
    log(f"  server still sending after {limit_s:.0f} s; measuring anyway")
    return time.perf_counter() - start


# -- the two kinds of "push" ---------------------------------------------------------------


def _content(label: str) -> str:
    return (label + " ").ljust(CONTENT_CHARS, "x")


class ProductPusher:
    def __init__(self, server: Server, token: str):
        self.client = httpx.AsyncClient(
            base_url=server.http_url, headers={"Authorization": f"Bearer {token}"}, timeout=300
        )

    async def push(self, item_id: str, label: str) -> None:
        change = {
            "change_id": str(uuid.uuid4()),
            "item_id": item_id,
            "op": "put",
            "base_version": None,
            "kind": "text",
            "name": label,
            "content": _content(label),
        }
        response = await self.client.post("/api/v1/sync/push", json={"changes": [change]})
        if response.status_code != 200:
            raise RuntimeError(f"push failed: {response.status_code} {response.text[:300]}")
        status = response.json()["results"][0]["status"]
        if status != "applied":
            raise RuntimeError(f"push not applied: {response.text[:300]}")

    async def close(self) -> None:
        await self.client.aclose()


class BarePusher:
    """`group_send` of a frame shaped like the product's one-item `changes` message."""

    def __init__(self, env: Env, frame_bytes: float):
        from channels_redis.core import RedisChannelLayer

        self.layer = RedisChannelLayer(**env.layer_config)
        self.frame_bytes = 0 if math.isnan(frame_bytes) else int(frame_bytes)

    async def push(self, item_id: str, label: str) -> None:
        now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        item = {
            "id": item_id,
            "kind": "text",
            "name": label,
            "content_type": "text/plain; charset=utf-8",
            "version": 1,
            "size": CONTENT_CHARS,
            "sha256": "0" * 64,
            "modified_at": now,
            "updated_at": now,
            "deleted": False,
            "has_conflict": False,
            "seq": "c1.AAAAAAAAAAAAAAAAAAAAAA",
            "device_id": str(uuid.uuid4()),
            "content": _content(label),
        }
        frame = {"type": "changes", "changes": [item], "cursor": item["seq"], "has_more": False}
        text = json.dumps(frame)
        if len(text) < self.frame_bytes:  # as large as the product's frame
            item["content"] += "x" * (self.frame_bytes - len(text))
            text = json.dumps(frame)
        await self.layer.group_send("bench", {"type": "bench.msg", "text": text})

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.layer.flush()


# -- one round: one server kind, one N ------------------------------------------------------


@dataclass
class Round:
    kind: str
    n: int
    latencies_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)  # per push: first socket served
    last_ms: list[float] = field(default_factory=list)  # per push: last socket served
    push_ms: list[float] = field(default_factory=list)  # per push: the push call itself
    missing: int = 0
    duplicates: int = 0
    deliveries_per_s: float = math.nan
    burst_frames: int = 0
    kib_per_conn: float = math.nan
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    setup_s: float = math.nan
    refused: int = 0
    settle_s: float = math.nan
    idle_cpu_pct: float = math.nan
    frame_bytes: float = math.nan


async def warm_up(kind: str, server: Server, env: Env, pusher, writer_pushes) -> None:
    """Exercise every code path once (imports, first queries, the data key) so that
    one-time costs are not counted per connection."""
    hub = Hub()
    if kind == "product":
        tokens: list[str | None] = env.warm_tokens[:1]
        warm_pusher = ProductPusher(server, env.warm_tokens[1])
    else:
        tokens, warm_pusher = [None], pusher
    sockets = await open_all(server, tokens, hub, 1)
    for i in range(3):
        item_id = str(uuid.uuid4())
        tracker = hub.expect(item_id, 1)
        await warm_pusher.push(item_id, f"warm-up {i}")
        await asyncio.wait_for(tracker.done, 60)
    if kind == "product":
        await warm_pusher.close()
        await writer_pushes()  # the measured user's first write creates its data key
    for ws, task in sockets:
        await ws.close()
        task.cancel()
    await asyncio.sleep(1.5)


async def run_round(
    kind: str, n: int, env: Env, args: argparse.Namespace, frame_bytes: float = math.nan
) -> Round:
    result = Round(kind=kind, n=n)
    server = await start_server(kind, env)
    log(f"{kind} N={n}: daphne pid {server.pid} on port {server.port}")
    sockets = []
    writer, readers = env.accounts[n]
    pusher = ProductPusher(server, writer) if kind == "product" else BarePusher(env, frame_bytes)
    profile_dir = args.profile
    try:

        async def seed() -> None:
            await pusher.push(str(uuid.uuid4()), "seed")

        await warm_up(kind, server, env, pusher, seed)
        result.rss_before_kib = rss_kib(server.pid)

        hub = Hub()
        tokens: list[str | None] = list(readers) if kind == "product" else [None] * n
        start = time.perf_counter()
        with Profiler(profile_dir, server.pid, f"{kind}-{n}-setup"):
            sockets = await open_all(server, tokens, hub, args.concurrency)
            result.setup_s = time.perf_counter() - start
            result.refused = len(hub.refused)
            log(
                f"  {n} sockets open and subscribed in {result.setup_s:.1f} s "
                f"({result.refused} openings refused and retried); waiting for quiet"
            )
            await wait_quiet(hub)
        result.settle_s = time.perf_counter() - start
        cpu0 = cpu_seconds(server.pid)
        await asyncio.sleep(IDLE_CPU_WINDOW_S)
        result.idle_cpu_pct = 100 * (cpu_seconds(server.pid) - cpu0) / IDLE_CPU_WINDOW_S
        result.rss_after_kib = rss_kib(server.pid)
        result.kib_per_conn = (result.rss_after_kib - result.rss_before_kib) / n
        log(
            f"  quiet after {result.settle_s:.1f} s; RSS {result.rss_before_kib} → "
            f"{result.rss_after_kib} KiB ({result.kib_per_conn:.1f} KiB/conn), "
            f"idle CPU {result.idle_cpu_pct:.1f} %"
        )

        with Profiler(profile_dir, server.pid, f"{kind}-{n}-pushes"):
            # 1. paced pushes: one at a time, the next after every socket got this one
            for i in range(args.pushes):
                item_id = str(uuid.uuid4())
                tracker = hub.expect(item_id, n)
                t0 = time.perf_counter()
                await pusher.push(item_id, f"live {i}")
                result.push_ms.append((time.perf_counter() - t0) * 1000)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(tracker.done), args.timeout)
                arrivals = [(t - t0) * 1000 for t in tracker.arrivals.values()]
                result.latencies_ms.extend(arrivals)
                if arrivals:
                    result.first_ms.append(min(arrivals))
                    result.last_ms.append(max(arrivals))
                result.missing += n - len(tracker.arrivals)
                del hub.tracking[item_id]
                await asyncio.sleep(args.gap)
            log(
                f"  latency over {args.pushes} pushes: p50 "
                f"{percentile(result.latencies_ms, 50):.1f} ms, p99 "
                f"{percentile(result.latencies_ms, 99):.1f} ms, missing {result.missing}"
            )
            await asyncio.sleep(1)

            # 2. a burst: pushes back to back, until every socket has every change
            ids = [str(uuid.uuid4()) for _ in range(args.burst)]
            trackers = [hub.expect(item_id, n) for item_id in ids]
            frames0 = hub.change_frames
            t0 = time.perf_counter()
            for i, item_id in enumerate(ids):
                await pusher.push(item_id, f"burst {i}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(asyncio.shield(t.done) for t in trackers)), args.timeout * 5
                )
            delivered = sum(len(t.arrivals) for t in trackers)
            last = max((max(t.arrivals.values()) for t in trackers if t.arrivals), default=t0)
            result.deliveries_per_s = delivered / (last - t0) if last > t0 else math.nan
            result.burst_frames = hub.change_frames - frames0
            result.missing += n * args.burst - delivered
            log(
                f"  burst of {args.burst}: {delivered} deliveries in {last - t0:.2f} s = "
                f"{result.deliveries_per_s:.0f}/s in {result.burst_frames} frames"
            )
        result.duplicates = hub.duplicates
        if hub.frame_bytes:
            result.frame_bytes = sum(hub.frame_bytes) / len(hub.frame_bytes)
    finally:
        server.stop()
        await close_all(sockets)
        await pusher.close()
    return result


# -- report -------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 1) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def table(rounds: dict[tuple[str, int], Round], sizes: list[int], args) -> list[str]:
    lines = [
        "| N | metric | product | bare | ratio | target | met? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n in sizes:
        p, b = rounds[("product", n)], rounds[("bare", n)]
        rows = [
            ("p50 push → delivery (ms)", percentile(p.latencies_ms, 50),
             percentile(b.latencies_ms, 50), None),
            ("p99 push → delivery (ms)", percentile(p.latencies_ms, 99),
             percentile(b.latencies_ms, 99), "p99"),
            (f"deliveries/s (burst of {args.burst})", p.deliveries_per_s, b.deliveries_per_s, None),
            ("daphne RSS per idle connection (KiB)", p.kib_per_conn, b.kib_per_conn, "mem"),
            (f"open + subscribe {n} sockets (s)", p.setup_s, b.setup_s, None),
            ("openings refused by daphne, retried", p.refused, b.refused, None),
            ("connect until quiet (s)", p.settle_s, b.settle_s, None),
            ("daphne CPU while idle (%)", p.idle_cpu_pct, b.idle_cpu_pct, None),
        ]  # fmt: skip
        for metric, pv, bv, target in rows:
            ratio = pv / bv if bv and not math.isnan(bv) and not math.isnan(pv) else math.nan
            goal, met = "—", "—"
            if target == "p99" and n == P99_TARGET_N:
                goal = f"≤ {P99_TARGET_RATIO:g}x bare"
                met = "yes" if ratio <= P99_TARGET_RATIO else "**no**"
            elif target == "mem" and n >= MEMORY_TARGET_MIN_N:
                goal = f"≤ {MEMORY_TARGET_KIB:g} KiB"
                met = "yes" if pv <= MEMORY_TARGET_KIB else "**no**"
            elif target == "mem":
                goal = f"(≤ {MEMORY_TARGET_KIB:g} KiB from N={MEMORY_TARGET_MIN_N})"
            digits = 0 if "deliveries" in metric or "refused" in metric else 1
            lines.append(
                f"| {n} | {metric} | {_fmt(pv, digits)} | {_fmt(bv, digits)} | "
                f"{_fmt(ratio, 2)} | {goal} | {met} |"
            )
    return lines


def notes(rounds: dict[tuple[str, int], Round], sizes: list[int]) -> list[str]:
    out = []
    for n in sizes:
        for kind in ("product", "bare"):
            r = rounds[(kind, n)]
            out.append(
                f"- {kind} N={n}: {len(r.latencies_ms)} latency samples; per push, p50/p99: "
                f"push call {_fmt(percentile(r.push_ms, 50))}/{_fmt(percentile(r.push_ms, 99))}"
                f" ms, first socket {_fmt(percentile(r.first_ms, 50))}/"
                f"{_fmt(percentile(r.first_ms, 99))} ms, last socket "
                f"{_fmt(percentile(r.last_ms, 50))}/{_fmt(percentile(r.last_ms, 99))} ms; missing deliveries "
                f"{r.missing}, duplicates {r.duplicates}, burst frames {r.burst_frames}, "
                f"mean frame {_fmt(r.frame_bytes, 0)} B, RSS {r.rss_before_kib:,} → "
                f"{r.rss_after_kib:,} KiB"
            )
    return out


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated N (default 10,100,500)")
    parser.add_argument("--quick", action="store_true", help="N = 10,50, fewer pushes")
    parser.add_argument("--pushes", type=int, help="paced pushes per round (default 100)")
    parser.add_argument("--burst", type=int, help="back-to-back pushes (default 20)")
    parser.add_argument("--gap", type=float, default=0.1, help="s between paced pushes")
    parser.add_argument("--timeout", type=float, default=120, help="s to wait for one push")
    parser.add_argument("--concurrency", type=int, default=20, help="sockets opened at once")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=5)
    parser.add_argument(
        "--redis-socket-timeout",
        type=float,
        default=30,
        help="socket_timeout option added to REDIS_URL (0: none, redis-py's 5 s default)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy speedscope files of daphne here")
    args = parser.parse_args(argv)
    default_sizes = "10,50" if args.quick else "10,100,500"
    args.sizes = sorted({int(s) for s in (args.sizes or default_sizes).split(",") if s.strip()})
    args.pushes = args.pushes or (15 if args.quick else 100)
    args.burst = args.burst or (10 if args.quick else 20)
    return args


async def run_all(env: Env, args: argparse.Namespace) -> dict[tuple[str, int], Round]:
    rounds = {}
    for n in args.sizes:
        for kind in ("product", "bare"):
            args.foreign |= foreign_processes(args.own_pids)
            product = rounds.get(("product", n))
            frame_bytes = product.frame_bytes if product else math.nan
            rounds[(kind, n)] = await run_round(kind, n, env, args, frame_bytes)
    return rounds


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    command = " ".join([".venv/bin/python", "bench/live_bench.py", *(argv or sys.argv[1:])])
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    nofile = raise_open_files_limit()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    env = prepare(args, args.sizes)
    summary = machine_summary(env)
    code_before = code_fingerprint()
    args.own_pids = ancestors()
    args.foreign = foreign_processes(args.own_pids)
    rounds = asyncio.run(run_all(env, args))
    args.foreign |= foreign_processes(args.own_pids)
    code_after = code_fingerprint()
    total = time.perf_counter() - started
    code = f"- application code (sha256 of {', '.join(APP_PACKAGES)} *.py): {code_before}"
    if code_after != code_before:
        code += f", **changed during the run** to {code_after}: rounds may differ in code"
    out = [
        "## Live sync (bench/live_bench.py)",
        "",
        f"- command: `{command}`",
        f"- date: {date}",
        *summary,
        code,
        f"- {args.pushes} paced pushes per round (next push {args.gap:g} s after every "
        f"socket got the previous one), burst of {args.burst} back-to-back pushes, sockets "
        f"opened {args.concurrency} at a time, open-files limit {nofile}",
        f"- REDIS_URL `{env.redis_url}` for both servers"
        + (
            " (the socket_timeout option works around redis-py 8's 5 s default read "
            "timeout, which kills idle Channels consumers: django/channels_redis#422)"
            if args.redis_socket_timeout > 0
            else ""
        ),
        "- other tests/benchmarks/servers seen on the machine during the run: "
        + ("; ".join(sorted(args.foreign)) if args.foreign else "none"),
        f"- total runtime {total:.0f} s" + (" (profiled with py-spy)" if args.profile else ""),
        "",
        *table(rounds, args.sizes, args),
        "",
        f"Targets: p99 at N={P99_TARGET_N} ≤ {P99_TARGET_RATIO:g}x the bare p99; RSS per idle "
        f"connection ≤ {MEMORY_TARGET_KIB:g} KiB, judged for N ≥ {MEMORY_TARGET_MIN_N} (RSS "
        "grows in 1 MiB pymalloc arenas: at N=10 one arena is ~100 KiB per connection).",
        "",
        *notes(rounds, args.sizes),
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
