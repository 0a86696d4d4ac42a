"""The one DRF exception handler: every error leaves the API as
`{"error": {"code": "snake_case", "message": "...", "details": {...}}}`."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from sync.crypto import CryptoError

from .errors import DATABASE_RETRY_AFTER_S, ApplicationError, is_database_unavailable

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE_MESSAGE = (
    "The database cannot be reached; nothing was changed. Try again shortly."
)

_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.ParseError: "malformed_request",
    drf.AuthenticationFailed: "not_authenticated",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "throttled",
    drf.ValidationError: "invalid",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _message_of(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail:
        return _message_of(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        inner = _message_of(value)
        return inner if key == "non_field_errors" else f"{key}: {inner}"
    return "The request is invalid."


def _code_of(exc: drf.APIException) -> str:
    """The nearest class's code: ours for DRF's exceptions, and a subclass's own
    `default_code` when it declares one (e.g. `device_revoked`, an AuthenticationFailed)."""
    for cls in type(exc).__mro__:
        if cls in _DRF_CODES:
            return _DRF_CODES[cls]
        own = vars(cls).get("default_code")
        if isinstance(own, str):
            return own
    return "error"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(
            error_body(exc.code, exc.message, exc.details),
            status=exc.status_code,
            headers=exc.headers or None,
        )
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        set_rollback()
        return Response(
            error_body("too_large", "The request body is larger than the server accepts."),
            status=413,
        )
    if isinstance(exc, drf.APIException):
        set_rollback()
        code = _code_of(exc)
        details: dict[str, Any] = {}
        if isinstance(exc, drf.ValidationError):
            details = {"fields": exc.detail} if isinstance(exc.detail, dict) else {}
            message = _message_of(exc.detail)
        else:
            message = str(exc.detail)
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))
            details["retry_after"] = int(exc.wait)
        return Response(error_body(code, message, details), status=exc.status_code, headers=headers)
    if isinstance(exc, CryptoError):
        # Stored content that does not decrypt: tampering, a swapped row, or a missing
        # encryption key. Never served as anything but an error; loudly logged.
        logger.error("content failed to decrypt in %s: %s", context.get("view"), exc)
        set_rollback()
        return Response(
            error_body("content_unreadable", f"Stored content could not be decrypted: {exc}"),
            status=500,
        )
    if is_database_unavailable(exc):
        view = context.get("view")
        logger.error("database unavailable in %s: %s", type(view).__name__, exc)
        set_rollback()
        return database_unavailable_response()
    # Anything else is a bug: log it with its traceback and answer in the same shape.
    logger.exception("Unhandled error in %s", context.get("view"))
    set_rollback()
    return Response(error_body("server_error", "Internal server error."), status=500)


def json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def database_unavailable_response() -> Response:
    return Response(
        error_body(
            "service_unavailable",
            DATABASE_UNAVAILABLE_MESSAGE,
            {"retry_after": DATABASE_RETRY_AFTER_S},
        ),
        status=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )
