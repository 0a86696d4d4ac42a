"""Domain errors. Services raise these; `cloudsaves.exceptions.exception_handler` turns
each into the protocol's `{"error": {"code", "message", "details"}}` body."""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError

# Seconds a client is asked to wait when the database cannot be reached.
DATABASE_RETRY_AFTER_S = 5


def is_database_unavailable(exc: BaseException | None) -> bool:
    """The database went away or refused us (restart, failover, pool exhausted): the
    request did nothing and may be retried, so it is a 503 and not a bug."""
    return isinstance(exc, OperationalError | InterfaceError)


class ApplicationError(Exception):
    status_code = 400
    code = "invalid"
    default_message = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)


class InvalidInput(ApplicationError):
    code = "invalid"


class NotFound(ApplicationError):
    """Also what another user's ids answer: indistinguishable from ids that do not exist."""

    status_code = 404
    code = "not_found"
    default_message = "Not found."


class InvalidCredentials(ApplicationError):
    status_code = 401
    code = "invalid_credentials"
    default_message = "The email or password is not correct."


class TooManyAttempts(ApplicationError):
    status_code = 429
    code = "too_many_attempts"
    default_message = "Too many failed attempts. Try again in a minute."


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "too_large"
    default_message = "The request is too large."
