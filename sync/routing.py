from django.urls import path

from .consumers import SyncConsumer

websocket_urlpatterns = [path("ws/v1/", SyncConsumer.as_asgi())]
