"""A browser session is a device too: the first time a signed-in browser uses the app it
registers a `browser` device, remembered for that browser by a signed cookie, so signing
out and in again on the same browser keeps the same device."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout

from .models import Device
from .services import device_register_browser

SESSION_KEY = "cloudsaves_device_id"
COOKIE_NAME = "cloudsaves_device"
COOKIE_SALT = "cloudsaves.browser-device"
COOKIE_MAX_AGE = 400 * 24 * 3600
REVOKED_MESSAGE = (
    "This browser was removed from your account on another device, so it was signed out."
)


def browser_device_id(request) -> str | None:
    session = getattr(request, "session", None)
    return session.get(SESSION_KEY) if session is not None else None


def _resolve(request) -> Device | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    device_id = request.session.get(SESSION_KEY)
    if device_id:
        device = Device.objects.filter(id=device_id, user=user).first()
        if device is not None and not device.is_revoked:
            return device
        if device is not None:
            # The device was revoked elsewhere: this browser session ends with it, and
            # the next page it shows says why (the message outlives the flushed session:
            # it travels in the messages cookie). An API request answers device_revoked.
            logout(request)
            request.cloudsaves_device_revoked = True
            messages.warning(request, REVOKED_MESSAGE, fail_silently=True)
            return None
    remembered = request.get_signed_cookie(COOKIE_NAME, default=None, salt=COOKIE_SALT)
    device = None
    if remembered:
        device = Device.objects.filter(
            id=remembered, user=user, kind=Device.Kind.BROWSER, revoked_at__isnull=True
        ).first()
    if device is None:
        device = device_register_browser(
            user=user, user_agent=request.headers.get("User-Agent", "")
        )
    request.session[SESSION_KEY] = str(device.id)
    request._cloudsaves_set_device_cookie = str(device.id)
    return device


def _signed_out_here(request, response) -> bool:
    match = getattr(request, "resolver_match", None)
    return (
        request.method == "POST"
        and match is not None
        and match.url_name == "account_logout"
        and response.status_code in (200, 302, 303)
        and not request.user.is_authenticated
    )


class BrowserDeviceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        cache: dict[str, Device | None] = {}

        def get_browser_device() -> Device | None:
            if "device" not in cache:
                cache["device"] = _resolve(request)
            return cache["device"]

        request.get_browser_device = get_browser_device
        response = self.get_response(request)
        if _signed_out_here(request, response):
            # The browser keeps nothing of the account after signing out: its copy of the
            # notes and files (IndexedDB) and the service worker's cached pages go too.
            # The sign-out page warns first when changes have not reached the server.
            response["Clear-Site-Data"] = '"cache", "storage"'
        device_id = getattr(request, "_cloudsaves_set_device_cookie", None)
        if device_id:
            response.set_signed_cookie(
                COOKIE_NAME,
                device_id,
                salt=COOKIE_SALT,
                max_age=COOKIE_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response
