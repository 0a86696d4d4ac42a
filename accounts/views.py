"""Browser pages of the accounts app, and the decorator every app page uses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import PurePosixPath

from allauth.account import views as allauth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from .adapter import retry_after


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
