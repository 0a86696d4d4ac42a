"""The account pages say "Sign in", "Sign out" and "Create account" as the rest of the
site does: allauth's own "Sign In" / "Log in" wording never shows through, whether a page
is one we restyled or one allauth renders into our layout."""

import re

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from allauth.urls import urlpatterns as allauth_urlpatterns

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = re.compile(r"Sign In|Sign Out|Sign Up|Signup|Log In|Log in|Login|Log Out|Log out|Logout")


def visible_text(html: str) -> str:
    """The page title and what a reader sees: markup, scripts and styles removed."""
    html = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def allauth_url_names(patterns=allauth_urlpatterns) -> set[str]:
    names = set()
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            names |= allauth_url_names(pattern.url_patterns)
        elif pattern.name:
            names.add(pattern.name)
    return names


def pages(user) -> dict[str, str]:
    uid, key = user_pk_to_url_str(user), default_token_generator.make_token(user)
    return {
        "account_login": "/accounts/login/",
        "account_logout": "/accounts/logout/",
        "account_signup": "/accounts/signup/",
        "account_inactive": "/accounts/inactive/",
        "account_reauthenticate": "/accounts/reauthenticate/",
        "account_email": "/accounts/email/",
        "account_email_verification_sent": "/accounts/confirm-email/",
        "account_confirm_email": "/accounts/confirm-email/not-a-key/",
        "account_change_password": "/accounts/password/change/",
        "account_set_password": "/accounts/password/set/",
        "account_reset_password": "/accounts/password/reset/",
        "account_reset_password_done": "/accounts/password/reset/done/",
        "account_reset_password_from_key": f"/accounts/password/reset/key/{uid}-{key}/",
        "account_reset_password_from_key_done": "/accounts/password/reset/key/done/",
        "account_confirm_login_code": "/accounts/login/code/confirm/",
    }


def check(client, path: str, seen: list[str]) -> None:
    response = client.get(path)
    while response.status_code == 302 and response["Location"].startswith("/accounts/"):
        path = response["Location"]
        response = client.get(path)
    if response.status_code == 302:
        return  # off to the app: not an account page
    assert response.status_code == 200, path
    text = visible_text(response.content.decode())
    assert not WRONG.findall(text), (path, WRONG.findall(text))
    seen.append(path)


def test_every_account_page_says_sign_in_the_same_way(client, user):
    urls = pages(user)
    # A new allauth page (an upgrade) must be added here, so it is checked too.
    assert set(urls) == allauth_url_names()
    seen: list[str] = []
    for path in urls.values():
        check(client, path, seen)
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    for path in [*urls.values(), "/accounts/password/reset/key/1-not-a-key/"]:
        check(client, path, seen)
    # Both signed out and signed in, the pages that matter were really rendered.
    for path in ("/accounts/login/", "/accounts/email/", "/accounts/password/change/"):
        assert path in seen
    assert seen.count("/accounts/logout/") == 1  # signed in: the "Sign out?" page


def test_sign_in_and_sign_out_are_worded_like_the_site(client, user):
    login = client.get("/accounts/login/").content.decode()
    assert "<title>Sign in · Cloud-Saves</title>" in login
    assert re.search(r"<button[^>]*>\s*Sign in\s*</button>", login)
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    logout = client.get("/accounts/logout/").content.decode()
    assert "<title>Sign out · Cloud-Saves</title>" in logout
    assert re.search(r"<button[^>]*>\s*Sign out\s*</button>", logout)


def test_closed_sign_up_page(client, settings):
    settings.CLOUDSAVES_OPEN_SIGNUP = False
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    text = visible_text(page.content.decode())
    assert "New accounts are closed" in text
    assert not WRONG.findall(text)
