"""Browser pages of the accounts app, and the decorator every app page uses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import PurePosixPath

from allauth.account import views as allauth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from . import audit
from .adapter import retry_after
from .models import Device
from .services import describe_browser

SECURITY_EVENTS_SHOWN = 200


def app_page(view: Callable[..., tuple[str, dict]]) -> Callable[..., HttpResponse]:
    """A page of the browser client: signed in, registered as this browser's device
    (a revoked browser is signed out here and sent to sign in), CSRF cookie set.
    The wrapped view returns (template, context); the template's name is the page's
    name, which picks its script (static/js/pages/<page>.js)."""

    @functools.wraps(view)
    @ensure_csrf_cookie
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated or request.get_browser_device() is None:
            return redirect_to_login(request.get_full_path())
        template, context = view(request, *args, **kwargs)
        context = {"page": PurePosixPath(template).stem, **context}
        response = render(request, template, context)
        # Shells hold no user data, but a signed-out browser must not be shown one
        # from the HTTP cache: the service worker keeps the offline copies.
        response["Cache-Control"] = "no-cache, private"
        return response

    return wrapper


@app_page
def devices(request: HttpRequest) -> HttpResponse:
    return "accounts/devices.html", {}


class LoginView(allauth_views.LoginView):
    """allauth's login page, answering 429 with Retry-After when a sign-in limit refused
    the attempt (the form still says why, and lets the person try again later)."""

    def form_invalid(self, form):
        response = super().form_invalid(form)
        wait = retry_after(self.request)
        if wait is not None:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response


login = LoginView.as_view()


@login_required
def security_activity(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own audit trail: sign-ins (and failed ones), apps signed in,
    devices renamed or revoked, password and email changes, resolved conflicts and
    accepted handoffs, newest first."""
    events = list(audit.events_for(request.user, limit=SECURITY_EVENTS_SHOWN))
    devices = {d.id: d for d in Device.objects.filter(user=request.user)}
    current = request.get_browser_device()
    rows = [
        {
            "event": event,
            "device": devices.get(event.device_id),
            "target": devices.get(event.target_device_id),
            "this_browser": current is not None and event.device_id == current.id,
            "browser": describe_browser(event.user_agent),
        }
        for event in events
    ]
    response = render(
        request,
        "account/security.html",
        {"rows": rows, "shown": SECURITY_EVENTS_SHOWN, "failed_kind": audit.Kind.SIGN_IN_FAILED},
    )
    response["Cache-Control"] = "no-store"
    return response
