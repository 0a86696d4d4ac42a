"""The pieces behind the e2e fixtures: what the browser logged, screenshots and axe-core
reports under .local/e2e-artifacts/, an API device talking to the live server, and the
event-loop bookkeeping that lets Playwright's sync API share a thread with Django."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import struct
import uuid
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, Request, WebError

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_ROOT = ROOT / ".local" / "e2e-artifacts"

DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 375, "height": 812}
COLOR_SCHEMES = ("light", "dark")
A11Y_FAILING_IMPACTS = ("serious", "critical")


# -- Playwright's event loop and Django ------------------------------------------------
#
# Playwright's sync API runs an asyncio loop in a greenlet of this thread, and between its
# calls it leaves that loop registered as the thread's running loop (it has to: the loop
# is suspended, not stopped). While it is registered, Django refuses ORM calls
# (SynchronousOnlyOperation), asgiref's async_to_sync refuses to run, and pytest-asyncio
# cannot start a loop. So the loop is registered only while an e2e test runs
# (PlaywrightLoop.enter/leave, called by the fixtures), the e2e tests run with
# DJANGO_ALLOW_ASYNC_UNSAFE so the ORM works in them, and code that needs async_to_sync
# (services that notify sockets) runs inside `outside_browser_loop()`.


class PlaywrightLoop:
    loop: asyncio.AbstractEventLoop | None = None
    in_test = False

    @classmethod
    def adopt(cls) -> None:
        """Remember the loop a Playwright call just registered."""
        cls.loop = asyncio._get_running_loop()

    @classmethod
    def enter(cls) -> None:
        if cls.loop is not None and not cls.loop.is_closed():
            asyncio._set_running_loop(cls.loop)

    @classmethod
    def leave(cls) -> None:
        asyncio._set_running_loop(None)


@contextmanager
def outside_browser_loop() -> Iterator[None]:
    """Run code that needs a thread without a running event loop (async_to_sync, e.g. a
    service that notifies sockets after commit) between browser calls of an e2e test."""
    running = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(running)


# -- What the browser logged -----------------------------------------------------------


@dataclass
class BrowserLog:
    """Console messages, uncaught page errors and failed requests of every page of the
    contexts a test opened, in order."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def watch(self, context: BrowserContext, name: str) -> None:
        def page_url(page: Page | None) -> str | None:
            return page.url if page is not None else None

        def on_console(message: ConsoleMessage) -> None:
            self.entries.append(
                {
                    "context": name,
                    "kind": "console",
                    "type": message.type,
                    "text": message.text,
                    "page": page_url(message.page),
                    "location": message.location,
                }
            )

        def on_error(error: WebError) -> None:
            self.entries.append(
                {
                    "context": name,
                    "kind": "pageerror",
                    "type": "error",
                    "text": error.error.message,
                    "page": page_url(error.page),
                    "stack": error.error.stack,
                }
            )

        def on_request_failed(request: Request) -> None:
            # A service worker's own requests have no frame (Playwright raises on .frame).
            try:
                frame = None if request.service_worker else request.frame
            except Error:
                frame = None
            self.entries.append(
                {
                    "context": name,
                    "kind": "requestfailed",
                    "type": "warning",
                    "text": f"{request.method} {request.url}: {request.failure}",
                    "page": page_url(frame.page) if frame else None,
                }
            )

        context.on("console", on_console)
        context.on("weberror", on_error)
        context.on("requestfailed", on_request_failed)

    def errors(self) -> list[dict[str, Any]]:
        """Console errors and uncaught page errors (failed requests are only logged:
        navigating away aborts requests on purpose)."""
        return [e for e in self.entries if e["kind"] == "pageerror" or e["type"] == "error"]

    def assert_no_errors(self, *, allow: Iterable[str] = ()) -> None:
        """Fail listing every console error and page error whose text matches none of
        the `allow` regular expressions."""
        patterns = [re.compile(p) for p in allow]
        errors = [e for e in self.errors() if not any(p.search(e["text"]) for p in patterns)]
        assert not errors, "the browser reported errors:\n" + "\n".join(
            f"- [{e['context']}] {e['kind']} on {e['page']}: {e['text']}" for e in errors
        )

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.entries, indent=2, default=str) + "\n")


# -- Screenshots and accessibility reports ---------------------------------------------


def artifact_dir_name(module: str, test: str) -> str:
    return re.sub(r"[^\w.-]+", "_", f"{module}.{test}").strip("_")


class Artifacts:
    """Files a test leaves in .local/e2e-artifacts/<module>.<test>/: screenshots, axe
    reports and browser-log.json. The folder is emptied when the test starts."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / name

    def shot(self, page: Page, name: str) -> Path:
        """A full-page screenshot of the page as it is now, saved as <name>.png."""
        path = self.path(f"{name}.png")
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    def shoot_all(self, page: Page, name: str) -> list[Path]:
        """Screenshots at 1280x800 and 375x812, each in the light and the dark colour
        scheme: <name>-desktop-light.png ... <name>-mobile-dark.png. The page's viewport
        and colour scheme are put back afterwards."""
        viewport = page.viewport_size
        scheme = current_color_scheme(page)
        paths = []
        try:
            for label, size in (("desktop", DESKTOP), ("mobile", MOBILE)):
                page.set_viewport_size(size)
                for color_scheme in COLOR_SCHEMES:
                    page.emulate_media(color_scheme=color_scheme)
                    paths.append(self.shot(page, f"{name}-{label}-{color_scheme}"))
        finally:
            if viewport:
                page.set_viewport_size(viewport)
            page.emulate_media(color_scheme=scheme)
        return paths

    def check_a11y(
        self,
        page: Page,
        name: str,
        *,
        color_schemes: Iterable[str] = COLOR_SCHEMES,
        ignore: Iterable[str] = (),
        context: str | list | dict | None = None,
    ) -> list[dict]:
        """Run axe-core on the page in each colour scheme (contrast differs between
        them), save <name>-<scheme>.axe.json and .axe.txt, and fail listing every
        "serious" or "critical" violation whose rule id is not in `ignore`. Returns all
        violations found (any impact), each with the scheme it was found in."""
        scheme = current_color_scheme(page)
        ignored = set(ignore)
        found: list[dict] = []
        try:
            for color_scheme in color_schemes:
                page.emulate_media(color_scheme=color_scheme)
                results = Axe().run(page, context=context)
                response = results.response
                stem = f"{name}-{color_scheme}"
                report = {
                    "url": response.get("url"),
                    "color_scheme": color_scheme,
                    "testEngine": response.get("testEngine"),
                    "violations": response["violations"],
                    "incomplete": response.get("incomplete", []),
                }
                self.path(f"{stem}.axe.json").write_text(json.dumps(report, indent=2) + "\n")
                self.path(f"{stem}.axe.txt").write_text(results.generate_report())
                found += [dict(v, color_scheme=color_scheme) for v in response["violations"]]
        finally:
            page.emulate_media(color_scheme=scheme)
        failing = [
            v for v in found if v["impact"] in A11Y_FAILING_IMPACTS and v["id"] not in ignored
        ]
        assert not failing, (
            f"axe-core found serious or critical accessibility violations on {page.url} "
            f"(reports in {self.dir}):\n" + "\n".join(describe_violation(v) for v in failing)
        )
        return found


def describe_violation(violation: dict, targets: int = 3) -> str:
    nodes = violation.get("nodes", [])
    shown = ", ".join(" ".join(map(str, n["target"])) for n in nodes[:targets])
    more = f" and {len(nodes) - targets} more" if len(nodes) > targets else ""
    return (
        f"- {violation['id']} ({violation['impact']}, {violation.get('color_scheme', '?')}): "
        f"{violation['help']} -- {shown}{more}"
    )


def current_color_scheme(page: Page) -> str:
    dark = page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
    return "dark" if dark else "light"


def png(width: int, height: int, pixels: bytes) -> bytes:
    """An RGB PNG of `width` x `height` from raw pixel bytes (3 a pixel, rows top down)."""
    row = width * 3
    raw = b"".join(b"\x00" + pixels[y * row : (y + 1) * row] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def open_app(context: BrowserContext, path: str) -> Page:
    """A new page of the context at `path`, once the browser client has started there."""
    page = context.new_page()
    page.goto(path)
    wait_for_app(page)
    return page


def put_text(item_id: str, name: str, content: str, base: int | None = None) -> dict:
    """A push change that writes a text item."""
    return {
        "change_id": str(uuid.uuid4()),
        "item_id": item_id,
        "op": "put",
        "kind": "text",
        "name": name,
        "content": content,
        "base_version": base,
    }


def push(device: httpx.Client, *changes: dict) -> list[dict]:
    """Push changes as an app does; the results, in order."""
    response = device.post("/api/v1/sync/push", json={"changes": list(changes)})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def wait_for_app(page: Page, timeout: float | None = None) -> None:
    """Wait until the browser client has started on an app page: static/js/main.js sets
    body[data-ready="true"] once the sync client and the page's module are mounted."""
    page.locator("body[data-ready='true']").wait_for(state="attached", timeout=timeout)


# -- An app device on the live server --------------------------------------------------


class ApiDevice(httpx.Client):
    """An httpx client for the live server that sends a device's bearer token, created
    the way an app signs in (POST /api/v1/auth/token)."""

    device: dict
    token: str
    ws_url: str

    @property
    def id(self) -> str:
        return self.device["id"]


def register_api_device(
    base_url: str, ws_url: str, *, email: str, password: str, name: str, kind: str, platform: str
) -> ApiDevice:
    response = httpx.post(
        f"{base_url}/api/v1/auth/token",
        json={
            "email": email,
            "password": password,
            "device": {"name": name, "kind": kind, "platform": platform},
        },
        timeout=10,
    )
    assert response.status_code == 201, f"signing {email} in from an app: {response.text}"
    data = response.json()
    client = ApiDevice(
        base_url=base_url, headers={"Authorization": f"Bearer {data['token']}"}, timeout=10
    )
    client.device = data["device"]
    client.token = data["token"]
    client.ws_url = ws_url
    return client
