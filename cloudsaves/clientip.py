"""The client's IP address, taken only from what a trusted proxy wrote.

Each proxy in front of the service appends the address it received the request from to
X-Forwarded-For. With CLOUDSAVES_TRUSTED_PROXY_COUNT = n, the n-th address from the right
is the one the outermost trusted proxy saw: everything left of it was written by the
client and can be anything. With n = 0 (no proxy) the header is ignored and the peer
address is the client. Rate limits and the audit trail both read the address here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from django.conf import settings

# The client address recorded when REMOTE_ADDR is missing or not an IP address.
UNKNOWN_PEER = "0.0.0.0"  # noqa: S104 - a value, not a bind  # nosec B104


def _valid(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(meta: Mapping[str, str]) -> str:
    """The address from a request's META (`REMOTE_ADDR`, `HTTP_X_FORWARDED_FOR`)."""
    peer = _valid(meta.get("REMOTE_ADDR")) or UNKNOWN_PEER
    hops = settings.CLOUDSAVES_TRUSTED_PROXY_COUNT
    if hops <= 0:
        return peer
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        # The request did not pass through every trusted proxy: the peer is the nearest
        # thing to the client that was not written by it.
        return peer
    return _valid(forwarded[-hops]) or peer
