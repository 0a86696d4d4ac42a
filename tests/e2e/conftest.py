"""End-to-end fixtures: Debian's Chromium, driven with Playwright's sync API, against a real
daphne process serving the test database.

- `e2e_server`: the live server (session); `.url`, `.ws_url`, `.log()`.
- `browser`: one headless Chromium for the session; every test gets contexts of its own.
- `new_context(*, viewport=None, name="anonymous", **options)`: a signed-out context.
- `signed_in_context(user, *, viewport=None, name="browser", password=PASSWORD,
  **options)`: a context signed in through the real login page, so the browser is
  registered as a device the way a person's browser is. No page is left open.
- `api_device(user, *, name="Phone", kind="phone", platform="e2e", password=PASSWORD)`:
  an httpx client with a new app device's bearer token (`.device`, `.id`, `.token`,
  `.ws_url`), signed in through POST /api/v1/auth/token on the live server.
- `artifacts`, and its methods as fixtures `shot(page, name)`, `shoot_all(page, name)`,
  `check_a11y(page, name, *, color_schemes=("light", "dark"), ignore=())`: files in
  .local/e2e-artifacts/<module>.<test>/.
- `browser_log`: console messages, page errors and failed requests of every context the
  test opened (written to browser-log.json); `browser_log.assert_no_errors()`. Any
  Content-Security-Policy violation fails the test at teardown.

Every test here is marked `e2e` and `live` and runs with `transactional_db`: the server
is another process, so the data a test creates must be committed for it to see.
Contexts default to 1280x800, light colour scheme, reduced motion, en-US and UTC; when a
test fails, its open pages are photographed (failure-<context>-<n>.png). The server's
log is in .local/live-logs/daphne-<port>.log.

Tests are sync functions. Between browser calls Playwright leaves its event loop
registered as this thread's running loop, so the tests run with
DJANGO_ALLOW_ASYNC_UNSAFE=true (the ORM works as usual; a live server started inside a
test body would inherit it); code that needs async_to_sync, such as a service that
notifies sockets after commit, goes inside `with helpers.outside_browser_loop():`.
`helpers.wait_for_app(page)` waits until the browser client has started on an app page.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Browser, BrowserContext, Error, sync_playwright

from accounts.middleware import COOKIE_NAME
from tests.conftest import PASSWORD, require_service
from tests.live import LiveServer, start_live_server

from .helpers import (
    ARTIFACTS_ROOT,
    DESKTOP,
    ApiDevice,
    Artifacts,
    BrowserLog,
    PlaywrightLoop,
    artifact_dir_name,
    register_api_device,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the suite runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Fail fast: a missing element is a failure, not a reason to wait Playwright's 30 s.
ACTION_TIMEOUT_MS = 10_000

HERE = Path(__file__).resolve().parent


CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember whether the test itself failed, for the screenshots taken at teardown."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.live)


@pytest.fixture(scope="session")
def e2e_server(django_db_setup, django_db_blocker) -> LiveServer:
    """A real daphne process serving the test database (and Redis when REDIS_URL is set)."""
    server = start_live_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not os.access(CHROMIUM, os.X_OK):
        require_service(False, "needs Debian's chromium: apt-get install chromium")
    manager = sync_playwright()
    playwright = manager.start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
    except Error as exc:
        playwright.stop()
        PlaywrightLoop.leave()
        pytest.fail(f"Chromium did not start: {exc}", pytrace=False)
    PlaywrightLoop.adopt()
    if not PlaywrightLoop.in_test:
        PlaywrightLoop.leave()
    yield browser
    PlaywrightLoop.enter()
    try:
        browser.close()
    finally:
        playwright.stop()
        PlaywrightLoop.leave()
        PlaywrightLoop.loop = None


@pytest.fixture(autouse=True)
def _e2e_test(transactional_db, monkeypatch):
    """Each e2e test runs with Playwright's loop registered and the ORM allowed beside it,
    and leaves the thread without a running loop for the flush and the next tests."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    PlaywrightLoop.in_test = True
    PlaywrightLoop.enter()
    yield
    # While a loop is registered, Django keeps this thread's connections apart from the
    # ones it uses otherwise. Close them while they are still in sight: left open, they
    # stay checked out of the PostgreSQL pool and the test database cannot be dropped.
    connections.close_all()
    PlaywrightLoop.in_test = False
    PlaywrightLoop.leave()


@pytest.fixture
def browser_log() -> BrowserLog:
    """Also makes every browser test a test of the Content-Security-Policy: a page that
    broke it (an inline script or style, a foreign connection) fails the test."""
    log = BrowserLog()
    yield log
    violations = [e for e in log.entries if "Content Security Policy" in (e.get("text") or "")]
    assert not violations, f"pages broke the Content-Security-Policy: {violations}"


@pytest.fixture
def artifacts(request, browser_log) -> Artifacts:
    module = Path(request.node.path).stem
    artifacts = Artifacts(ARTIFACTS_ROOT / artifact_dir_name(module, request.node.name))
    yield artifacts
    if browser_log.entries:
        browser_log.write(artifacts.path("browser-log.json"))


@pytest.fixture
def shot(artifacts):
    return artifacts.shot


@pytest.fixture
def shoot_all(artifacts):
    return artifacts.shoot_all


@pytest.fixture
def check_a11y(artifacts):
    return artifacts.check_a11y


@pytest.fixture
def new_context(request, browser, e2e_server, browser_log, artifacts):
    """Factory: a new signed-out BrowserContext on the live server, watched by
    browser_log and closed when the test ends. When the test failed, every page still
    open is photographed first (failure-<context name>-<n>.png)."""
    contexts: list[tuple[BrowserContext, str]] = []

    def _new(*, viewport: dict | None = None, name: str = "anonymous", **options) -> BrowserContext:
        settings = {
            "base_url": e2e_server.url,
            "viewport": viewport or DESKTOP,
            "color_scheme": "light",
            "reduced_motion": "reduce",
            "locale": "en-US",
            "timezone_id": "UTC",
        }
        settings.update(options)
        context = browser.new_context(**settings)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        browser_log.watch(context, name)
        contexts.append((context, name))
        return context

    yield _new
    failed = request.node.stash.get(CALL_FAILED, False)
    for context, name in contexts:
        if failed:
            for number, page in enumerate(context.pages, start=1):
                with contextlib.suppress(Error):  # a crashed page leaves no picture
                    artifacts.shot(page, f"failure-{name}-{number}")
        context.close()


@pytest.fixture
def signed_in_context(new_context):
    """Factory: a BrowserContext signed in as `user` through the login page (email and
    password), that has opened a signed-in page, so this browser is registered as one of
    the user's devices. The page used to sign in is closed again."""

    def _signed_in(
        user,
        *,
        viewport: dict | None = None,
        name: str = "browser",
        password: str = PASSWORD,
        **options,
    ) -> BrowserContext:
        context = new_context(viewport=viewport, name=name, **options)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password", exact=True).fill(password)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        if "/accounts/login/" in page.url:
            errors = page.locator(".form-errors, .field-errors").all_inner_texts()
            raise AssertionError(f"signing in as {user.email} failed: {errors}")
        if not any(c["name"] == COOKIE_NAME for c in context.cookies()):
            page.goto("/")  # any signed-in page registers the browser; sign-in may not
        cookies = {c["name"] for c in context.cookies()}
        assert COOKIE_NAME in cookies, (
            f"signed in as {user.email}, but the browser was not registered as a device "
            f"(at {page.url}, cookies {sorted(cookies)})"
        )
        page.close()
        return context

    return _signed_in


@pytest.fixture
def api_device(e2e_server):
    """Factory: an httpx client for the live server with a new app device's bearer
    token, signed in the way an app signs in."""
    clients: list[ApiDevice] = []

    def _api_device(
        user,
        *,
        name: str = "Phone",
        kind: str = "phone",
        platform: str = "e2e",
        password: str = PASSWORD,
    ) -> ApiDevice:
        client = register_api_device(
            e2e_server.url,
            e2e_server.ws_url,
            email=user.email,
            password=password,
            name=name,
            kind=kind,
            platform=platform,
        )
        clients.append(client)
        return client

    yield _api_device
    for client in clients:
        client.close()
