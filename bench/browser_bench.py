"""The browser client's speed, in Debian's Chromium driven by Playwright.

    .venv/bin/python bench/browser_bench.py [--edits 50] [--db postgres|sqlite]

A real daphne process serves a fresh database; one headless Chromium holds the browsers.
1. Edit → other browser: two browsers of one user have the same note open; each round
   pauses, presses one key in A and times until B's editor shows the new text (p50/p99).
   Both pages run in one browser process, so both read one clock (Date.now()). "After
   the save" is from A's local save to B's screen. Then continuous typing, a key every
   120 ms, where saves are at most every AUTOSAVE_MS: each key's time to B.
2. First load: a browser that already holds 1,000 items in IndexedDB reloads the items
   page; timed from navigation start to all 1,000 rows rendered (median of 5 loads).
3. First full sync: a fresh browser opens the items page of a user with 10,000 notes;
   timed from navigation start to all 10,000 in IndexedDB and the status "Synced"
   (median of 3 fresh browsers).
Prints a markdown table against the targets.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import types
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import start_server  # noqa: E402
from bench.sync_bench import fresh_database  # noqa: E402

PASSWORD = "correct horse battery staple"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AUTOSAVE_MS = 250  # static/js/pages/item.js AUTOSAVE_MS: the least time between saves


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def make_user(database_url: str) -> str:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsaves.settings")
    # Sign-ins are not what this measures: the server checks passwords with the same
    # fast hasher the test suite uses.
    os.environ["CLOUDSAVES_FAST_PASSWORD_HASHER"] = "1"
    import django

    django.setup()
    from accounts.models import User

    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    User.objects.create_user(email=email, password=PASSWORD)
    return email


def api_client(url: str, email: str) -> httpx.Client:
    response = httpx.post(
        f"{url}/api/v1/auth/token",
        json={"email": email, "password": PASSWORD, "device": {"name": "Bench", "kind": "other"}},
        timeout=30,
    )
    response.raise_for_status()
    token = response.json()["token"]
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def seed_notes(api: httpx.Client, count: int, prefix: str) -> list[str]:
    ids = []
    for start in range(0, count, 100):
        changes = []
        for n in range(start, min(count, start + 100)):
            item_id = str(uuid.uuid4())
            ids.append(item_id)
            changes.append(
                {
                    "change_id": str(uuid.uuid4()),
                    "item_id": item_id,
                    "op": "put",
                    "kind": "text",
                    "name": f"{prefix} {n:05d}",
                    "content": f"Note {n}: " + "lorem ipsum dolor sit amet " * 8,
                    "base_version": None,
                }
            )
        api.post("/api/v1/sync/push", json={"changes": changes}).raise_for_status()
    return ids


def signed_in(browser, url: str, email: str):
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.close()
    return context


def open_app(context, path: str):
    page = context.new_page()
    page.goto(path)
    page.locator("body[data-ready='true']").wait_for(state="attached", timeout=120_000)
    return page


def bench_edits(browser, url: str, email: str, api: httpx.Client, edits: int) -> dict:
    [item_id] = seed_notes(api, 1, "Latency")
    a = open_app(signed_in(browser, url, email), f"/items/{item_id}/")
    b = open_app(signed_in(browser, url, email), f"/items/{item_id}/")
    for page in (a, b):
        page.locator("[data-sync-status][data-state='synced']").wait_for(timeout=30_000)
    a.evaluate(
        """() => {
          window.__keys = []; window.__saves = [];
          document.querySelector('[data-text]').addEventListener('keydown', () => window.__keys.push(Date.now()));
          window.cloudsaves.client.addEventListener('items', (e) => { if (e.detail.local) window.__saves.push(Date.now()); });
        }"""
    )
    a.locator("[data-text]").focus()
    a.keyboard.press("Control+End")
    totals, after_save = [], []
    for i in range(edits + 3):  # the first three warm up
        expected = a.locator("[data-text]").input_value() + "x"
        a.evaluate("() => { window.__keys = []; window.__saves = []; }")
        # Armed before the key press; Playwright would wait for a returned promise.
        b.evaluate(
            """expected => { window.__shown = new Promise((resolve, reject) => {
              const until = Date.now() + 15000;
              const check = () => {
                const value = document.querySelector('[data-text]').value;
                if (value === expected) resolve(Date.now());
                else if (Date.now() > until) reject(new Error(`B shows ${JSON.stringify(value.slice(-20))}`));
                else setTimeout(check, 1);
              };
              check();
            }); }""",
            expected,
        )
        a.keyboard.press("x")
        shown = b.evaluate("() => window.__shown")
        key = a.evaluate("() => window.__keys[0]")
        save = a.evaluate("() => window.__saves[0]")
        if i >= 3:
            totals.append(shown - key)
            after_save.append(shown - save)
        # Let A settle and pause longer than the save interval, so each key is the first
        # after a pause (continuous typing is measured below).
        a.locator("[data-sync-status][data-state='synced']").wait_for(timeout=30_000)
        a.wait_for_timeout(AUTOSAVE_MS + 150)
    typing = bench_typing(a, b)
    a.context.close()
    b.context.close()
    print(f"edits: {len(totals)} timed", flush=True)
    return {"total": totals, "after_save": after_save, "typing": typing}


def bench_typing(a, b, keys: int = 60, interval_ms: int = 120) -> list:
    """Continuous typing at `interval_ms` a key (120 ms: about 100 words a minute): for
    each key, from its keydown on A to the first moment B shows at least that much text."""
    start = len(a.locator("[data-text]").input_value())
    a.evaluate("() => { window.__keys = []; }")
    b.evaluate(
        """target => { window.__seen = {}; window.__done = new Promise((resolve) => {
          const until = Date.now() + 30000;
          const check = () => {
            const n = document.querySelector('[data-text]').value.length;
            if (!(n in window.__seen)) window.__seen[n] = Date.now();
            if (n >= target || Date.now() > until) resolve(n); else setTimeout(check, 1);
          };
          check();
        }); }""",
        start + keys,
    )
    a.keyboard.type("y" * keys, delay=interval_ms)
    b.evaluate("() => window.__done")
    pressed = a.evaluate("() => window.__keys")
    seen = {int(k): v for k, v in b.evaluate("() => window.__seen").items()}
    latencies = []
    for i, at in enumerate(pressed[:keys]):
        shown = min(t for n, t in seen.items() if n >= start + i + 1)
        latencies.append(shown - at)
    return latencies


def bench_first_load(browser, url: str, email: str, api: httpx.Client, loads: int = 5) -> list:
    seed_notes(api, 1000, "Item")
    context = signed_in(browser, url, email)
    page = open_app(context, "/items/")
    page.locator("[data-sync-status][data-state='synced']").wait_for(timeout=120_000)
    page.wait_for_function(
        "async () => (await window.cloudsaves.client.items()).length >= 1000", timeout=120_000
    )
    times = []
    for _ in range(loads):
        page.reload()
        elapsed = page.evaluate(
            """() => new Promise((resolve) => {
              const check = () => {
                const rows = document.querySelectorAll('[data-items-root] a[href^="/items/"]');
                if (rows.length >= 1000 && document.body.dataset.ready === 'true') resolve(performance.now());
                else setTimeout(check, 2);
              };
              check();
            })"""
        )
        times.append(elapsed)
    context.close()
    print(f"first load: {len(times)} timed", flush=True)
    return times


def bench_first_sync(browser, url: str, email: str, api: httpx.Client, runs: int = 3) -> list:
    seed_notes(api, 10_000, "Bulk")
    times = []
    for _ in range(runs):
        context = signed_in(browser, url, email)
        page = context.new_page()
        page.goto("/items/")
        elapsed = page.evaluate(
            """() => new Promise((resolve) => {
              const check = async () => {
                const c = window.cloudsaves && window.cloudsaves.client;
                if (c && c.store && c.state === 'synced' && (await c.store.db.count('items')) >= 10000) resolve(performance.now());
                else setTimeout(check, 20);
              };
              check();
            })"""
        )
        times.append(elapsed)
        context.close()
        print(f"first sync: {elapsed / 1000:.2f} s", flush=True)
    return times


def table(edits: dict, first_load: list, first_sync: list) -> str:
    rows = [
        "| measurement | runs | p50 | p99 | target | met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    total, after = edits["total"], edits["after_save"]
    rows.append(
        f"| a key press after a pause → the other browser shows it | {len(total)} | "
        f"{statistics.median(total):.0f} ms | "
        f"{percentile(total, 0.99):.0f} ms | p50 ≤ 100 ms | "
        f"{'yes' if statistics.median(total) <= 100 else '**no**'} |"
    )
    rows.append(
        f"| … of which after the local save (push, live delivery, render) | {len(after)} | "
        f"{statistics.median(after):.0f} ms | {percentile(after, 0.99):.0f} ms | p50 ≤ 100 ms | "
        f"{'yes' if statistics.median(after) <= 100 else '**no**'} |"
    )
    typing = edits["typing"]
    rows.append(
        f"| typing continuously (a key every 120 ms): each key → other browser | "
        f"{len(typing)} | {statistics.median(typing):.0f} ms | "
        f"{percentile(typing, 0.99):.0f} ms | — | — |"
    )
    rows.append(
        f"| items page, 1,000 items from IndexedDB, to all rows shown | {len(first_load)} | "
        f"{statistics.median(first_load):.0f} ms | — | ≤ 300 ms | "
        f"{'yes' if statistics.median(first_load) <= 300 else '**no**'} |"
    )
    rows.append(
        f"| first full sync of 10,000 items into a fresh browser | {len(first_sync)} | "
        f"{statistics.median(first_sync) / 1000:.2f} s | — | ≤ 10 s | "
        f"{'yes' if statistics.median(first_sync) <= 10_000 else '**no**'} |"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-db", default="cloudsaves_browser_bench")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    import logging

    from playwright.sync_api import sync_playwright

    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    with fresh_database(args.db, types.SimpleNamespace(**vars(args))) as url:
        emails = [make_user(url) for _ in range(3)]
        server = start_server(database_url=url, extra_env={"CLOUDSAVES_FAST_PASSWORD_HASHER": "1"})
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                print(f"browser: Chromium {browser.version}", flush=True)
                apis = [api_client(server.url, e) for e in emails]
                started = time.perf_counter()
                edits = bench_edits(browser, server.url, emails[0], apis[0], args.edits)
                first_load = bench_first_load(browser, server.url, emails[1], apis[1])
                first_sync = bench_first_sync(browser, server.url, emails[2], apis[2])
                browser.close()
                print(f"ran in {time.perf_counter() - started:.0f} s")
        finally:
            server.stop()
    print()
    print(table(edits, first_load, first_sync))
    return 0


if __name__ == "__main__":
    sys.exit(main())
