"""DRF authentication: apps send `Authorization: Bearer <token>`; browsers use the
session cookie (with CSRF on unsafe methods). Either way `request.auth` is the Device."""

from __future__ import annotations

from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.exceptions import AuthenticationFailed

from .middleware import REVOKED_MESSAGE
from .selectors import device_for_token
from .services import device_touch


class DeviceRevoked(AuthenticationFailed):
    """A browser session whose device was revoked: the session has just been ended."""

    default_detail = f"{REVOKED_MESSAGE} Sign in again to use it."
    default_code = "device_revoked"


class DeviceTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("The token is not valid.") from exc
        device = device_for_token(token=token)
        if device is None:
            raise AuthenticationFailed("The token is not valid or the device was revoked.")
        device_touch(device=device)
        return device.user, device

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class BrowserSessionAuthentication(SessionAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        device = request._request.get_browser_device()
        if device is None:
            if getattr(request._request, "cloudsaves_device_revoked", False):
                raise DeviceRevoked()
            return None
        device_touch(device=device)
        return result[0], device
