"""Site-level views: the home page, health check, server info and JSON error pages."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import device_list

from .exceptions import json_error

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    context: dict = {}
    if request.user.is_authenticated:
        current = request.get_browser_device()
        if current is None:  # the browser device was revoked: the session has ended
            return render(request, "home.html", {})
        context = {"devices": list(device_list(user=request.user)), "current_device_id": current.id}
    return render(request, "home.html", context)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    if message.get("type") != "health.ping":
        raise RuntimeError("channel layer returned a different message")


async def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    for name, check in (
        ("database", sync_to_async(_check_database, thread_sensitive=True)),
        ("channel_layer", _check_channel_layer),
    ):
        try:
            await asyncio.wait_for(check(), timeout=3)
            checks[name] = "ok"
        except Exception as exc:
            logger.warning("health check %s failed: %s", name, exc)
            checks[name] = "failing"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "failing", "checks": checks}, status=200 if healthy else 503
    )


class InfoApi(APIView):
    """Limits and versions, so clients read them instead of hard-coding them."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "ServerInfo",
            {
                "api_version": serializers.IntegerField(),
                "max_item_bytes": serializers.IntegerField(),
                "max_batch_changes": serializers.IntegerField(),
                "max_request_bytes": serializers.IntegerField(),
                "inline_binary_max": serializers.IntegerField(),
                "handoff_ttl_s": serializers.IntegerField(),
                "handoff_offer_ttl_s": serializers.IntegerField(),
                "server_time": serializers.DateTimeField(),
            },
        ),
        auth=[],
    )
    def get(self, request) -> Response:
        return Response(
            {
                "api_version": 1,
                "max_item_bytes": settings.CLOUDSAVES_MAX_ITEM_BYTES,
                "max_batch_changes": settings.CLOUDSAVES_MAX_BATCH_CHANGES,
                "max_request_bytes": settings.CLOUDSAVES_MAX_REQUEST_BYTES,
                "inline_binary_max": settings.CLOUDSAVES_INLINE_BINARY_MAX,
                "handoff_ttl_s": settings.CLOUDSAVES_HANDOFF_TTL_S,
                "handoff_offer_ttl_s": settings.CLOUDSAVES_HANDOFF_OFFER_TTL_S,
                "server_time": timezone.now(),
            }
        )


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if _is_api(request):
        return json_error(404, "not_found", "Not found.")
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return json_error(500, "server_error", "Internal server error.")
    from django.views.defaults import server_error as default_server_error

    return default_server_error(request)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    if _is_api(request):
        return json_error(400, "bad_request", "The request could not be understood.")
    from django.views.defaults import bad_request as default_bad_request

    return default_bad_request(request, exception)


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    if _is_api(request):
        return json_error(403, "permission_denied", "You may not do that.")
    return render(request, "403.html", status=403)
