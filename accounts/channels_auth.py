"""WebSocket authentication and origin checks.

A socket authenticates with the session cookie (browsers), `Authorization: Bearer`
(apps) or a single-use `?ticket=` (clients that can send neither). A browser always sends
Origin, and a socket whose Origin is not this site (scheme, host and port) is refused
whatever it carries. Native apps send no Origin: they are let through, but then only a token or a
ticket counts; a cookie without an Origin is ignored.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth import SESSION_KEY as USER_SESSION_KEY
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string

from .middleware import SESSION_KEY as DEVICE_SESSION_KEY
from .models import Device
from .selectors import device_for_token
from .services import device_touch, ws_ticket_redeem


def _headers(scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


def _device_from_session(session_key: str) -> tuple[Device | None, str]:
    engine = import_string(settings.SESSION_ENGINE)
    session = engine.SessionStore(session_key)
    user_id = session.get(USER_SESSION_KEY)
    device_id = session.get(DEVICE_SESSION_KEY)
    if not user_id or not device_id:
        return None, ""
    device = (
        Device.objects.select_related("user")
        .filter(id=device_id, user_id=user_id, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if device is None:
        return None, ""
    # Same check as django.contrib.auth.get_user: a password change ends old sessions.
    session_hash = session.get(HASH_SESSION_KEY) or ""
    if not constant_time_compare(session_hash, device.user.get_session_auth_hash()):
        return None, ""
    return device, session_key


@database_sync_to_async
def authenticate_scope(scope) -> tuple[Device | None, str]:
    """Return (device, session key) for the socket, or (None, "")."""
    headers = _headers(scope)
    auth = headers.get(b"authorization", b"").decode("latin1").split()
    if len(auth) == 2 and auth[0].lower() == "bearer":
        device = device_for_token(token=auth[1])
        if device is not None:
            device_touch(device=device)
        return device, ""
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    ticket = (query.get("ticket") or [""])[0]
    if ticket:
        device = ws_ticket_redeem(ticket=ticket)
        if device is not None:
            device_touch(device=device)
        return device, ""
    if b"origin" in headers and b"cookie" in headers:
        cookie = SimpleCookie()
        cookie.load(headers[b"cookie"].decode("latin1"))
        morsel = cookie.get(settings.SESSION_COOKIE_NAME)
        if morsel is not None:
            return _device_from_session(morsel.value)
    return None, ""


class WebSocketAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        device, session_key = await authenticate_scope(scope)
        scope = dict(scope, device=device, session_key=session_key)
        scope["user"] = device.user if device is not None else None
        return await self.inner(scope, receive, send)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_tuple(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL, or None if it is not an http(s) origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def _is_secure(scope, headers: dict[bytes, bytes]) -> bool:
    """As Django's request.is_secure(): TLS here, or a trusted proxy saying it had TLS."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    if settings.SECURE_PROXY_SSL_HEADER:
        name, value = settings.SECURE_PROXY_SSL_HEADER
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin1")
        return headers.get(header, b"").decode("latin1").split(",")[0].strip() == value
    return False


def origin_allowed(origin: str, scope) -> bool:
    """Whether a browser socket's Origin is this site itself (same scheme, host and port
    as the socket was opened at, the host one of ALLOWED_HOSTS) or one of
    CSRF_TRUSTED_ORIGINS. Scheme and port count: `http://host:1` is another origin than
    `https://host`, and a page there must not ride the session cookie."""
    claimed = _origin_tuple(origin)
    if claimed is None:
        return False
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" not in trusted and _origin_tuple(trusted) == claimed:
            return True
    headers = _headers(scope)
    host = headers.get(b"host", b"").decode("latin1")
    scheme = "https" if _is_secure(scope, headers) else "http"
    own = _origin_tuple(f"{scheme}://{host}")
    if own is None or own != claimed:
        return False
    domain, _ = split_domain_port(host)
    return validate_host(domain, settings.ALLOWED_HOSTS)


class SameOriginOrApps:
    """Refuse (403 at the handshake) a socket whose Origin is not this site. A native app
    sends no Origin and passes; WebSocketAuthMiddleware then accepts only a token or a
    ticket from it, never a cookie."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        origin = _headers(scope).get(b"origin")
        if origin is not None and not origin_allowed(origin.decode("latin1"), scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
