"""Sign-in limits: one address against one account, one address against many, and one
account from everywhere — none of which lets an attacker lock the owner out of an
address they signed in from before; the client address comes only from the trusted
proxy hop; the login page and the token endpoint share the counts and both answer 429
with Retry-After; sign-up does not tell which emails have accounts."""

import pytest
from django.core import mail

from tests.accounts.test_tokens import TOKEN_URL
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def attempt(api, email, password, ip="10.0.0.1", **extra):
    body = {"email": email, "password": password, "device": {"name": "x", "kind": "other"}}
    return api.post(TOKEN_URL, body, format="json", REMOTE_ADDR=ip, **extra)


def test_one_address_guessing_one_account_is_stopped_after_ten(api, user):
    assert [attempt(api, user.email, "wrong").status_code for _ in range(10)] == [401] * 10
    response = attempt(api, user.email, "wrong")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(response["Retry-After"]) <= 60
    # The same account from another address is not affected.
    assert attempt(api, user.email, PASSWORD, ip="10.0.0.2").status_code == 201


def test_an_attack_from_many_addresses_does_not_lock_the_owner_out(api, user, settings):
    settings.ACCOUNT_RATE_LIMITS = {
        **settings.ACCOUNT_RATE_LIMITS,
        "login_failed_account": "20/h/key",
    }
    # The owner has signed in from home before.
    assert attempt(api, user.email, PASSWORD, ip="192.0.2.10").status_code == 201
    # An attacker rotates through addresses, staying under every per-address limit.
    statuses = [
        attempt(api, user.email, "wrong", ip=f"198.51.100.{i}").status_code for i in range(20)
    ]
    assert statuses == [401] * 20
    # Now the account as a whole is throttled for addresses it has never signed in from...
    refused = attempt(api, user.email, PASSWORD, ip="198.51.100.200")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 60  # the hourly limit frees later than a minute
    # ...but the owner at home still gets in.
    assert attempt(api, user.email, PASSWORD, ip="192.0.2.10").status_code == 201


def test_one_address_spraying_many_accounts_is_stopped(api, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "5/m/ip"}
    for i in range(5):
        assert attempt(api, f"someone{i}@example.com", "wrong").status_code == 401
    assert attempt(api, "another@example.com", "wrong").status_code == 429
    assert attempt(api, "another@example.com", "wrong", ip="10.9.9.9").status_code == 401


def test_successful_sign_ins_do_not_count(api, user, make_user):
    for _ in range(9):
        assert attempt(api, user.email, "wrong").status_code == 401
    for _ in range(5):
        assert attempt(api, user.email, PASSWORD).status_code == 201
    # Nine failures so far; the successes took their attempts back.
    assert attempt(api, user.email, "wrong").status_code == 401
    assert attempt(api, user.email, "wrong").status_code == 429
    users = [make_user() for _ in range(15)]
    assert [attempt(api, u.email, PASSWORD).status_code for u in users] == [201] * 15


def test_forwarded_for_is_ignored_without_a_trusted_proxy(api, user):
    for i in range(10):
        assert (
            attempt(api, user.email, "wrong", HTTP_X_FORWARDED_FOR=f"10.1.1.{i}").status_code == 401
        )
    assert attempt(api, user.email, "wrong", HTTP_X_FORWARDED_FOR="10.1.2.1").status_code == 429


def test_behind_a_proxy_only_its_hop_counts(api, user, settings):
    settings.CLOUDSAVES_TRUSTED_PROXY_COUNT = 1
    # The proxy (10.0.0.1) appends the real client, 203.0.113.7, after whatever the client
    # wrote itself; rotating the client-written part changes nothing.
    for i in range(10):
        forwarded = f"10.1.1.{i}, 203.0.113.7"
        assert attempt(api, user.email, "wrong", HTTP_X_FORWARDED_FOR=forwarded).status_code == 401
    limited = attempt(api, user.email, "wrong", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    assert limited.status_code == 429
    # Another real client behind the same proxy is its own address.
    other = attempt(api, user.email, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert other.status_code == 201


@pytest.mark.parametrize(
    "meta,hops,expected",
    [
        ({"REMOTE_ADDR": "10.0.0.1"}, 0, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6"}, 0, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 1.1.1.1"}, 1, "1.1.1.1"),
        (
            {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 1.1.1.1, 10.0.0.9"},
            2,
            "1.1.1.1",
        ),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.1.1.1"}, 2, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, junk"}, 1, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "2001:db8::1"}, 1, "2001:db8::1"),
    ],
)
def test_client_ip(settings, meta, hops, expected):
    from cloudsaves.clientip import client_ip

    settings.CLOUDSAVES_TRUSTED_PROXY_COUNT = hops
    assert client_ip(meta) == expected


def test_the_login_page_answers_429_with_retry_after_and_shares_the_count(client, api, user):
    def login(password):
        return client.post(
            "/accounts/login/", {"login": user.email, "password": password}, REMOTE_ADDR="10.0.0.1"
        )

    for _ in range(5):
        assert login("wrong").status_code == 200  # the form again, with an error
    for _ in range(5):
        assert attempt(api, user.email, "wrong").status_code == 401
    assert attempt(api, user.email, "wrong").status_code == 429
    response = login("wrong")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert b"Too many failed login attempts" in response.content
    assert b'name="password"' in response.content  # the form is still there to try later


def _sign_up(client, email):
    return client.post(
        "/accounts/signup/",
        {
            "email": email,
            "password1": "a long new passphrase",
            "password2": "a long new passphrase",
        },
    )


def test_sign_up_with_a_taken_email_looks_like_a_new_one(client, user, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    taken = _sign_up(client, user.email)
    client.logout()
    new = _sign_up(client, "newcomer@example.com")
    assert (taken.status_code, taken.get("Location")) == (new.status_code, new.get("Location"))
    assert taken.status_code == 302
    assert taken["Location"] == "/accounts/confirm-email/"
    # The owner of the taken address hears about it; the newcomer gets a verification.
    recipients = [m.to for m in mail.outbox]
    assert [user.email] in recipients and ["newcomer@example.com"] in recipients
    from accounts.models import User

    assert User.objects.filter(email__iexact=user.email).count() == 1
