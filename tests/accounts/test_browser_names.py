"""A browser device is named for its browser and system, read from the User-Agent with
ua-parser, and never keeps the raw header."""

import pytest

from accounts.models import Device
from accounts.services import device_register_browser
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0"
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
CHROME_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (CHROME_LINUX, "Chrome on Linux"),
        (SAFARI_IPHONE, "Safari on iPhone"),
        (FIREFOX_WINDOWS, "Firefox on Windows"),
        (EDGE_WINDOWS, "Edge on Windows"),
        (CHROME_ANDROID, "Chrome on Android"),
        (SAFARI_MAC, "Safari on macOS"),
        (CHROME_IPAD, "Chrome on iPad"),
    ],
)
def test_browser_device_is_named_for_browser_and_system(user, user_agent, expected):
    device = device_register_browser(user=user, user_agent=user_agent)
    assert device.name == expected
    assert device.platform == expected  # readable, never the raw header


@pytest.mark.parametrize("user_agent", ["", "x" * 5000])
def test_an_unrecognised_browser_is_just_browser(user, user_agent):
    device = device_register_browser(user=user, user_agent=user_agent)
    assert device.name == "Browser"
    assert device.platform == ""


def test_signing_in_names_the_browser_device(client, user):
    client.post(
        "/accounts/login/",
        {"login": user.email, "password": PASSWORD},
        HTTP_USER_AGENT=FIREFOX_WINDOWS,
    )
    client.get("/api/v1/devices/", HTTP_USER_AGENT=FIREFOX_WINDOWS)
    device = Device.objects.get(user=user, kind=Device.Kind.BROWSER)
    assert (device.name, device.platform) == ("Firefox on Windows", "Firefox on Windows")
