"""The browser client's pages for items, history and conflicts.

Each view renders a shell without user data: the page's script fills it from the
browser's IndexedDB copy, so the service worker can serve the same shell offline, for
any item id. The CSRF cookie is set here for the script's writes."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse

from accounts.views import app_page


@app_page
def items(request: HttpRequest) -> HttpResponse:
    return "sync/items.html", {}


@app_page
def item(request: HttpRequest, item_id: uuid.UUID) -> HttpResponse:
    return "sync/item.html", {}


@app_page
def item_history(request: HttpRequest, item_id: uuid.UUID) -> HttpResponse:
    return "sync/history.html", {}


@app_page
def conflicts(request: HttpRequest) -> HttpResponse:
    return "sync/conflicts.html", {}


@app_page
def conflict(request: HttpRequest, conflict_id: uuid.UUID) -> HttpResponse:
    return "sync/conflict.html", {}
