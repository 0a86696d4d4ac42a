"""The audit trail: security events recorded as they happen, append-only.

`audit_record()` is called by the services that do the audited thing (device rename and
revoke, token issue, conflict resolve, handoff accept, key rotation); sign-ins, failed
sign-ins, sign-outs, sign-ups, and password and email changes are recorded from Django's
and allauth's signals below. The request being served — its client address (from the
trusted proxy hop, cloudsaves/clientip.py), user agent and device — comes from
`AuditContextMiddleware`, so services need not pass it down.

What is never recorded: content, names of items, passwords, tokens, or an email typed
at a failed sign-in (only a keyed hash of it, to group attempts on one address).
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from typing import Any

from allauth.account import signals as allauth_signals
from django.conf import settings
from django.contrib.auth import signals as auth_signals
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from cloudsaves.clientip import client_ip

from .middleware import browser_device_id
from .models import AuditEvent, User

logger = logging.getLogger(__name__)
Kind = AuditEvent.Kind

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "audit_request", default=None
)


class AuditContextMiddleware:
    """Makes the request being served known to `audit_record`. Sync-only, like the
    middleware beside it, so the view runs in the same context."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def email_hash(email: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _request_device_id(request: HttpRequest) -> uuid.UUID | None:
    """The device making the request, without side effects: an app's token device, or
    the browser device its session names (never registering or signing anything out)."""
    device = getattr(request, "auth", None)  # DRF: the device of a bearer token
    if getattr(device, "id", None):
        return device.id
    try:
        return uuid.UUID(str(browser_device_id(request)))
    except ValueError:
        return None


def audit_record(
    kind: str,
    *,
    user: User | None,
    device: Any = None,
    target_device: Any = None,
    request: HttpRequest | None = None,
    email: str = "",
    **details: Any,
) -> AuditEvent | None:
    """Record one event. `details` must hold ids and counts only, never content."""
    request = request or _request.get()
    fields: dict[str, Any] = {
        "kind": kind,
        "user": user if user is not None and user.pk else None,
        "email_hash": email_hash(email) if email else "",
        "device_id": getattr(device, "id", device),
        "target_device_id": getattr(target_device, "id", target_device),
        "details": {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in details.items()},
    }
    if request is not None:
        fields["ip"] = client_ip(request.META)
        fields["user_agent"] = request.META.get("HTTP_USER_AGENT", "")[:200]
        same_user = getattr(getattr(request, "user", None), "pk", None) == getattr(user, "pk", 0)
        if fields["device_id"] is None and same_user:
            # A staff member acting in the admin is not the user's device.
            fields["device_id"] = _request_device_id(request)
    try:
        return AuditEvent.objects.create(**fields)
    except Exception:
        # The event is lost, not the user's action: say so loudly in the log.
        logger.exception("could not record audit event %s", kind)
        return None


def events_for(user: User, *, limit: int = 200):
    return AuditEvent.objects.filter(user=user).order_by("-at", "-id")[:limit]


# -- from signals ----------------------------------------------------------------------------


@receiver(auth_signals.user_logged_in)
def _signed_in(sender, request, user, **kwargs):
    audit_record(Kind.SIGN_IN, user=user, request=request)


@receiver(auth_signals.user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(Kind.SIGNED_OUT, user=user, request=request)


@receiver(auth_signals.user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    email = str(credentials.get("email") or credentials.get("username") or "")
    user = User.objects.filter(email__iexact=email).first() if email else None
    audit_record(Kind.SIGN_IN_FAILED, user=user, request=request, email=email)


@receiver(allauth_signals.user_signed_up)
def _signed_up(sender, request, user, **kwargs):
    audit_record(Kind.SIGNED_UP, user=user, request=request)


@receiver(allauth_signals.password_changed)
@receiver(allauth_signals.password_set)
def _password_changed(sender, request, user, **kwargs):
    audit_record(Kind.PASSWORD_CHANGED, user=user, request=request)


@receiver(allauth_signals.password_reset)
def _password_reset(sender, request, user, **kwargs):
    audit_record(Kind.PASSWORD_RESET, user=user, request=request)


def _email_signal(change: str):
    def handler(sender, request, user, **kwargs):
        audit_record(Kind.EMAIL_CHANGED, user=user, request=request, change=change)

    return handler


for _signal, _change in (
    (allauth_signals.email_added, "added"),
    (allauth_signals.email_removed, "removed"),
    (allauth_signals.email_changed, "primary"),
):
    _signal.connect(_email_signal(_change), weak=False, dispatch_uid=f"audit-email-{_change}")
