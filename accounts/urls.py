from django.urls import path

from . import apis

urlpatterns = [
    path("auth/token", apis.TokenCreateApi.as_view(), name="auth-token"),
    path("auth/ws-ticket", apis.WsTicketApi.as_view(), name="auth-ws-ticket"),
    path("devices/", apis.DeviceListApi.as_view(), name="device-list"),
    path("devices/<uuid:device_id>/", apis.DeviceDetailApi.as_view(), name="device-detail"),
]
