"""Crash injection for tests that kill a real daphne process at a chosen moment.

Only tests/crash/settings.py installs this; the service itself never loads it. A request
asks for its own crash with the `X-Test-Crash` header:

- `after-commit`: the view has run and its transaction committed; the process is killed
  (SIGKILL) before the reply is written.
- `during-write:N`: the process is killed just before the N-th SQL statement that writes
  to `sync_version`, in the middle of the request's transaction.
"""

from __future__ import annotations

import os
import signal

from django.db import connection


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class CrashMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        plan = request.headers.get("X-Test-Crash", "")
        if plan.startswith("during-write:"):
            remaining = [int(plan.split(":", 1)[1])]

            def wrapper(execute, sql, params, many, context):
                text = sql if isinstance(sql, str) else str(sql)
                if "sync_version" in text and text.lstrip().upper().startswith("INSERT"):
                    remaining[0] -= 1
                    if remaining[0] <= 0:
                        _die()
                return execute(sql, params, many, context)

            with connection.execute_wrapper(wrapper):
                return self.get_response(request)
        response = self.get_response(request)
        if plan == "after-commit":
            _die()
        return response
