"""Site-level views: the home page, health check, server info and JSON error pages."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from pathlib import Path
from urllib.parse import urljoin

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .exceptions import json_error

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    """The product's front page; a signed-in browser goes straight to its notes and files."""
    if request.user.is_authenticated and request.get_browser_device() is not None:
        return redirect("items")
    return render(request, "home.html")


# The app shell pages the service worker keeps for offline use, one per kind of page.
# Item and conflict pages are the same for every id, so one placeholder id stands for all.
_SHELL_ID = "00000000-0000-0000-0000-000000000000"
SHELL_PAGES = (
    ("items", ()),
    ("item", (_SHELL_ID,)),
    ("item-history", (_SHELL_ID,)),
    ("conflicts", ()),
    ("conflict", (_SHELL_ID,)),
    ("devices", ()),
)
_ASSET_DIRS = ("css", "js", "vendor", "img")
_ASSET_SUFFIXES = (".js", ".css", ".svg", ".png")


def _offline_assets() -> tuple[list[str], str]:
    # Read once in production; in development every request sees the files as they are.
    return _scan_assets() if settings.DEBUG else _scan_assets_once()


def _scan_assets() -> tuple[list[str], str]:
    """Every static file the app shell needs, as served URLs, and a version that changes
    whenever any of them (or the worker itself) does, so browsers pick up a new release."""
    root = Path(settings.BASE_DIR) / "static"
    digest = hashlib.sha256()
    urls = []
    for folder in _ASSET_DIRS:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in _ASSET_SUFFIXES and path.is_file():
                relative = path.relative_to(root).as_posix()
                urls.append(static(relative))
                digest.update(relative.encode())
                digest.update(path.read_bytes())
    digest.update((Path(settings.BASE_DIR) / "templates" / "sw.js").read_bytes())
    return urls, digest.hexdigest()[:16]


_scan_assets_once = functools.cache(_scan_assets)


def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served from the root so its scope is the whole app."""
    assets, version = _offline_assets()
    shells = [reverse(name, args=args) for name, args in SHELL_PAGES]
    body = render_to_string(
        "sw.js",
        {
            "version": version,
            "assets": json.dumps(assets),
            "shells": json.dumps(shells),
            "fallback": json.dumps(reverse("items")),
        },
    )
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


def manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest: the app can be installed and opens on the items page."""
    response = JsonResponse(
        {
            "name": settings.CLOUDSAVES_SITE_NAME,
            "short_name": settings.CLOUDSAVES_SITE_NAME,
            "description": "Your notes and files, in step on every device.",
            "id": "/",
            "start_url": reverse("items"),
            "scope": "/",
            "display": "standalone",
            "background_color": "#f5f7fa",
            "theme_color": "#2f5fe0",
            "icons": [
                {"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png"},
                {"src": static("img/icon-512.png"), "sizes": "512x512", "type": "image/png"},
                {
                    "src": static("img/icon-maskable-512.png"),
                    "sizes": "512x512",
                    "type": "image/png",
                    "purpose": "maskable",
                },
                {"src": static("img/favicon.svg"), "sizes": "any", "type": "image/svg+xml"},
            ],
        }
    )
    response["Content-Type"] = "application/manifest+json"
    return response


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


@csrf_exempt  # a 404 for every method: the CSRF check would turn a POST into a 403 page
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Every /api/ path no API route matched (the last route). In the API's error shape
    even with DEBUG on, where Django shows its technical page instead of handler404.
    A GET missing only the trailing slash is redirected, as CommonMiddleware would."""
    path = request.path_info
    if settings.APPEND_SLASH and not path.endswith("/") and request.method in ("GET", "HEAD"):
        match = _resolve_or_none(path + "/")
        if match is not None and match.url_name != "api-not-found":
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return json_error(404, "not_found", "No such API endpoint.")


def _resolve_or_none(path: str):
    try:
        return resolve(path)
    except Resolver404:
        return None


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says. The unhashed static name
    stays valid across deploys, so the redirect can be permanent."""
    return HttpResponsePermanentRedirect(urljoin(settings.STATIC_URL, "img/favicon.svg"))


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


class ApiDocsView(SpectacularSwaggerSplitView):
    """The API docs page. OPTIONS, other methods and errors answer JSON like the rest of
    the API, not through the page's HTML renderer (which has no template for them)."""

    def options(self, request, *args, **kwargs):
        return JsonResponse(self.metadata_class().determine_metadata(request, self))

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        plain = JsonResponse(response.data, status=response.status_code)
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length"):
                plain[header] = value
        return plain
