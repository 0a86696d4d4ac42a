"""allauth, adapted: email-only accounts, the client address from the trusted proxy hop,
and sign-in limits that an attacker cannot use to lock the owner out.

Every failed sign-in (login page or token endpoint) counts against three limits from
ACCOUNT_RATE_LIMITS:
- `login_failed`: one address, any accounts (password spraying);
- `login_failed_pair`: one address against one account (guessing);
- `login_failed_account`: one account from every address together — except from an
  address this account signed in from successfully within CLOUDSAVES_KNOWN_ADDRESS_DAYS,
  so a distributed attack on an account still lets its owner in from home.
An attempt refused by a limit is not counted against the others, and a successful
sign-in takes its attempt back (as allauth does), so the owner's own typos cost little.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal import ratelimit
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.crypto import get_random_string

from cloudsaves.clientip import client_ip

APP = "allauth.account"
RETRY_AFTER_ATTR = "cloudsaves_retry_after"


def _account_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _known_address_key(email: str, ip: str) -> str:
    return f"cloudsaves:known-address:{_account_key(email)}:{ip}"


def retry_after(request: HttpRequest) -> int | None:
    """Seconds until the sign-in just refused by a limit may be tried again."""
    return getattr(request, RETRY_AFTER_ATTR, None)


def _seconds_until_free(request: HttpRequest, *, action: str, key: str | None) -> int:
    """When the limit of `action` that is full frees its oldest slot."""
    now = time.time()
    wait = 1.0
    for rate in ratelimit.get_rates(app=APP, action=action):
        cache_key = ratelimit.get_cache_key(request, app=APP, action=action, rate=rate, key=key)
        history = [t for t in cache.get(cache_key, []) if t > now - rate.duration]
        if len(history) >= rate.amount:
            wait = max(wait, min(history) + rate.duration - now)
    return max(1, math.ceil(wait))


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return getattr(settings, "CLOUDSAVES_OPEN_SIGNUP", True)

    def get_client_ip(self, request: HttpRequest) -> str:
        return client_ip(request.META)

    def _limits(self, request: HttpRequest, email: str) -> list[tuple[str, str | None]]:
        ip = self.get_client_ip(request)
        limits = [("login_failed", None), ("login_failed_pair", f"{ip}|{_account_key(email)}")]
        if not cache.get(_known_address_key(email, ip)):
            limits.append(("login_failed_account", _account_key(email)))
        return limits

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        email = str(credentials.get("email") or credentials.get("username") or "").lower()
        taken = []
        for action, key in self._limits(request, email):
            usage = ratelimit.consume(request, app=APP, action=action, key=key)
            if not usage:
                for earlier in taken:
                    earlier.rollback()
                setattr(
                    request, RETRY_AFTER_ATTR, _seconds_until_free(request, action=action, key=key)
                )
                raise self.validation_error("too_many_login_attempts")
            taken.append(usage)
        # allauth's authenticate() rolls this back when the password was right.
        self._login_failed_rl_usage = ratelimit.RateLimitUsage(
            usage=[single for usage in taken for single in usage.usage]
        )

    def authenticate(self, request: HttpRequest, **credentials: Any):
        user = super().authenticate(request, **credentials)
        if user is not None:
            email = str(credentials.get("email") or credentials.get("username") or "")
            cache.set(
                _known_address_key(email, self.get_client_ip(request)),
                True,
                settings.CLOUDSAVES_KNOWN_ADDRESS_DAYS * 86400,
            )
        return user

    def send_account_already_exists_mail(self, email: str) -> None:
        # A new sign-up hashes its password before answering; a taken email would answer
        # measurably sooner without the same work.
        make_password(get_random_string(20))
        super().send_account_already_exists_mail(email)
