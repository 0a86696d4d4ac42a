"""ASGI entry point: HTTP through Django, WebSockets through Channels behind the origin
check and device authentication."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsaves.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from accounts.channels_auth import SameOriginOrApps, WebSocketAuthMiddleware  # noqa: E402
from cloudsaves.limits import BodySizeLimit  # noqa: E402
from sync.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app),
        "websocket": SameOriginOrApps(WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
