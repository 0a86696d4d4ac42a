"""Shared fixtures. Tests run against real parts: the configured database (SQLite by
default, PostgreSQL when DATABASE_URL says so), Redis when REDIS_URL is set, and real
daphne processes. A test that needs a service it cannot reach is skipped with the reason,
and fails instead when CLOUDSAVES_REQUIRE_SERVICES=1 (as in CI)."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from django.conf import settings
from django.test import TransactionTestCase
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from accounts.models import Device, User
from accounts.services import device_register

from .live import LiveServer, start_live_server

PASSWORD = "correct horse battery staple"

# `pytest --hypothesis-profile=long`: many more and longer runs of the property and model
# tests (tests/sync/test_model.py) than the suite's time budget allows.
hypothesis_settings.register_profile(
    "long", max_examples=300, stateful_step_count=100, deadline=None
)


def require_service(available: bool, reason: str) -> None:
    """Skip (or, when services are required, fail) a test whose service is missing."""
    if available:
        return
    if os.environ.get("CLOUDSAVES_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def redis_available() -> bool:
    if not settings.REDIS_URL:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def postgres(db):
    """For tests that prove something about PostgreSQL (row locks, real concurrency)."""
    from django.db import connection

    require_service(connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL")


@pytest.fixture
def redis_url():
    require_service(redis_available(), "needs Redis: set REDIS_URL to a reachable server")
    return settings.REDIS_URL


def _is_deadlock(exc: BaseException | None) -> bool:
    while exc is not None:
        if getattr(exc, "sqlstate", None) == "40P01":  # PostgreSQL: deadlock_detected
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@pytest.fixture(scope="session", autouse=True)
def _flush_survives_live_servers():
    """Transactional tests end with a flush (TRUNCATE on PostgreSQL). A live server may
    still be finishing a closed socket's queries at that moment (removing its presence
    row, announcing the device), and PostgreSQL can pick the TRUNCATE as the victim of
    the resulting lock cycle. The flush runs in one transaction, so trying it again is
    safe."""
    original = TransactionTestCase._fixture_teardown

    def teardown(self):
        for attempt in range(5):
            try:
                return original(self)
            except Exception as exc:
                if attempt == 4 or not _is_deadlock(exc):
                    raise
                time.sleep(0.2 * (attempt + 1))

    TransactionTestCase._fixture_teardown = teardown
    yield
    TransactionTestCase._fixture_teardown = original


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Rate-limit counters live in the cache; give each test its own key space so one
    test's failed sign-ins never throttle the next (the Redis cache outlives tests)."""
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


@pytest.fixture
def make_user(db):
    def _make(email: str | None = None, password: str = PASSWORD) -> User:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        return User.objects.create_user(email=email, password=password)

    return _make


@pytest.fixture
def user(make_user) -> User:
    return make_user("alice@example.com")


@pytest.fixture
def other_user(make_user) -> User:
    return make_user("bob@example.com")


@pytest.fixture
def make_device(db):
    def _make(user: User, name: str = "Phone", kind: str = "phone") -> tuple[Device, str]:
        return device_register(user=user, name=name, kind=kind, platform="test")

    return _make


@pytest.fixture
def device_and_token(user, make_device) -> tuple[Device, str]:
    return make_device(user)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for():
    """An API client authenticated with a device's bearer token."""

    def _client(token: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return _client


@pytest.fixture
def auth_api(device_and_token, client_for) -> APIClient:
    return client_for(device_and_token[1])


@pytest.fixture(scope="session")
def live_server_proc(django_db_setup, django_db_blocker) -> LiveServer:
    """A real daphne process serving the test database."""
    server = start_live_server()
    yield server
    server.stop()
