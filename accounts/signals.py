"""Signing out of a browser ends that browser device's live sockets."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from . import realtime
from .middleware import browser_device_id


@receiver(user_logged_out)
def close_sockets_on_logout(sender, request, user, **kwargs):
    device_id = browser_device_id(request) if request is not None else None
    if device_id:
        realtime.notify_device(
            device_id, {"type": "session.ended", "session_key": request.session.session_key or ""}
        )
