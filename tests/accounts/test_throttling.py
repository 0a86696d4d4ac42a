"""More than 10 failed sign-ins a minute for one account or one IP answer 429; the token
endpoint and the login page share the count; successful sign-ins are not limited."""

import pytest

from tests.accounts.test_tokens import TOKEN_URL
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def attempt(api, email, password, ip="10.0.0.1"):
    body = {"email": email, "password": password, "device": {"name": "x", "kind": "other"}}
    return api.post(TOKEN_URL, body, format="json", REMOTE_ADDR=ip)


def test_eleventh_failure_for_one_account_is_429_from_any_ip(api, user):
    statuses = [attempt(api, user.email, "wrong", ip=f"10.0.1.{i}").status_code for i in range(10)]
    assert statuses == [401] * 10
    response = attempt(api, user.email, "wrong", ip="10.0.2.1")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_attempts"
    assert response["Retry-After"] == "60"
    # Even the right password is refused while the account is throttled.
    assert attempt(api, user.email, PASSWORD, ip="10.0.2.2").status_code == 429


def test_eleventh_failure_from_one_ip_is_429_for_any_account(api, make_user):
    for i in range(10):
        assert attempt(api, f"someone{i}@example.com", "wrong").status_code == 401
    assert attempt(api, "another@example.com", "wrong").status_code == 429
    # Another IP is unaffected.
    assert attempt(api, "another@example.com", "wrong", ip="10.9.9.9").status_code == 401


def test_successful_sign_ins_are_not_limited_per_ip(api, make_user):
    users = [make_user() for _ in range(15)]
    statuses = [attempt(api, u.email, PASSWORD).status_code for u in users]
    assert statuses == [201] * 15


def test_login_page_and_token_endpoint_share_the_count(client, api, user):
    for _ in range(5):
        response = client.post(
            "/accounts/login/", {"login": user.email, "password": "wrong"}, REMOTE_ADDR="10.0.0.1"
        )
        assert response.status_code == 200  # the form again, with an error
    for _ in range(5):
        assert attempt(api, user.email, "wrong").status_code == 401
    assert attempt(api, user.email, "wrong").status_code == 429
    response = client.post(
        "/accounts/login/", {"login": user.email, "password": "wrong"}, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code in (200, 429)
    assert b"Too many" in response.content or response.status_code == 429
