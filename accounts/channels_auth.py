"""WebSocket authentication and origin checks.

A socket authenticates with the session cookie (browsers), `Authorization: Bearer`
(apps) or a single-use `?ticket=` (clients that can send neither). A browser always sends
Origin, and a socket whose Origin is not one of the allowed hosts is refused whatever it
carries. Native apps send no Origin: they are let through, but then only a token or a
ticket counts; a cookie without an Origin is ignored.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth import SESSION_KEY as USER_SESSION_KEY
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


class _AppOrAllowedOriginValidator(OriginValidator):
    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def AllowedOriginsOrApps(application):
    """Channels' allowed-hosts origin check, except that a missing Origin (a native app)
    passes; WebSocketAuthMiddleware then accepts only a token or ticket from it."""
    return _AppOrAllowedOriginValidator(application, settings.ALLOWED_HOSTS)
