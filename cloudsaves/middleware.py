"""A database that cannot be reached answers 503, not a 500 page.

While PostgreSQL restarts or fails over, every view that touches it raises
OperationalError. That is no bug and the request did nothing, so the client is told to
come back (`Retry-After`) — in the API's error shape under /api/, as a standalone page
elsewhere. DRF views answer the same from `cloudsaves.exceptions.exception_handler`."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from .errors import DATABASE_RETRY_AFTER_S, is_database_unavailable
from .exceptions import DATABASE_UNAVAILABLE_MESSAGE, error_body

logger = logging.getLogger(__name__)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            error_body(
                "service_unavailable",
                DATABASE_UNAVAILABLE_MESSAGE,
                {"retry_after": DATABASE_RETRY_AFTER_S},
            ),
            status=503,
        )
    else:
        # Standalone like 500.html: context processors would need the database.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


class DatabaseUnavailableMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_database_unavailable(exception):
            return None
        logger.error("database unavailable for %s %s: %s", request.method, request.path, exception)
        return database_unavailable(request)
