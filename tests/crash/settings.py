"""The service's settings plus crash injection (tests/crash/__init__.py), for the daphne
processes that crash tests start and kill."""

from cloudsaves.settings import *  # noqa: F403
from cloudsaves.settings import MIDDLEWARE

MIDDLEWARE = [*MIDDLEWARE, "tests.crash.CrashMiddleware"]
