"""Sessions ending end their sockets: signing out closes that browser's sockets, and a
password change closes every socket of the user except the browser where it changed."""

from allauth.account.signals import password_changed, password_reset, password_set
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


@receiver(password_changed)
@receiver(password_set)
@receiver(password_reset)
def close_other_sockets_on_password_change(sender, request, user, **kwargs):
    keep = browser_device_id(request) if request is not None else None
    realtime.notify_user(user.id, {"type": "session.ended", "keep_device": keep or ""})
