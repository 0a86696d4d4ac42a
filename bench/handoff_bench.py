"""Handoff latency: `active` → offer on the socket, and accept → content in hand.

    .venv/bin/python bench/handoff_bench.py [--rounds 200] [--db postgres|sqlite]

A real daphne process serves a fresh database; the client (this process) holds two
devices of one user. Each round the source publishes a new activity (not timed), then:
1. the target sends {"type": "active"} on its socket; timed until `handoff.offer` arrives;
2. the target POSTs .../accept; timed until the JSON with the item's content is parsed.
Prints a markdown table of medians and p99 against the 50 ms target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import types
import uuid
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import start_server  # noqa: E402
from bench.sync_bench import fresh_database  # noqa: E402

TARGET_MS = 50.0
NOTE_BYTES = 10 * 1024


def make_user_and_devices(database_url: str) -> tuple[str, str, str]:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsaves.settings")
    import django

    django.setup()
    from accounts.models import User
    from accounts.services import device_register

    user = User.objects.create_user(email=f"bench-{uuid.uuid4().hex[:8]}@example.com")
    _, source = device_register(user=user, name="Tablet", kind="tablet")
    target, target_token = device_register(user=user, name="Phone", kind="phone")
    return source, target_token, str(target.id)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_rounds(url: str, ws_url: str, source: str, target: str, rounds: int) -> dict:
    src = {"Authorization": f"Bearer {source}"}
    dst = {"Authorization": f"Bearer {target}"}
    item_id = str(uuid.uuid4())
    offers, accepts = [], []
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        text = "x" * NOTE_BYTES
        change = {
            "change_id": str(uuid.uuid4()),
            "item_id": item_id,
            "op": "put",
            "base_version": None,
            "kind": "text",
            "name": "Draft",
            "content": text,
        }
        pushed = await http.post("/api/v1/sync/push", json={"changes": [change]}, headers=src)
        pushed.raise_for_status()
        async with websockets.connect(ws_url, additional_headers=dst) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            for i in range(rounds + 5):  # the first five warm up
                activity = {"item_id": item_id, "item_version": 1, "state": {"caret": i}}
                (
                    await http.put("/api/v1/handoff/activity", json=activity, headers=src)
                ).raise_for_status()
                t0 = time.perf_counter()
                await ws.send('{"type": "active"}')
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == "handoff.offer":
                        break
                t1 = time.perf_counter()
                offer_id = message["offer"]["id"]
                response = await http.post(f"/api/v1/handoff/offers/{offer_id}/accept", headers=dst)
                body = response.json()
                assert len(body["item"]["content"]) == NOTE_BYTES
                assert body["state"] == {"caret": i}
                t2 = time.perf_counter()
                if i >= 5:
                    offers.append((t1 - t0) * 1000)
                    accepts.append((t2 - t1) * 1000)
    return {"offer": offers, "accept": accepts}


def table(results: dict, rounds: int, db: str) -> str:
    rows = [
        "| measurement | rounds | p50 ms | p99 ms | target p99 | met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    names = {"offer": "`active` → offer on the socket", "accept": "accept → content in hand"}
    for key, label in names.items():
        values = results[key]
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        met = "yes" if p99 <= TARGET_MS else f"**no** ({p99 / TARGET_MS:.1f} x the target)"
        rows.append(
            f"| {label} ({db}) | {rounds} | {p50:.1f} | {p99:.1f} | ≤ {TARGET_MS:.0f} | {met} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-db", default="cloudsaves_handoff_bench")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    with fresh_database(args.db, types.SimpleNamespace(**vars(args))) as url:
        source, target, _ = make_user_and_devices(url)
        server = start_server(database_url=url)
        try:
            results = asyncio.run(
                run_rounds(
                    server.url, f"ws://127.0.0.1:{server.port}/ws/v1/", source, target, args.rounds
                )
            )
        finally:
            server.stop()
    print()
    print(table(results, args.rounds, args.db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
