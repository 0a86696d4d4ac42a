"""limit/offset paging, the one style every list endpoint of the API uses:
`{"results": [...], "next": URL of the following page or null}`.

A page reads one row more than it shows, to know whether another follows, so no list
costs a COUNT query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rest_framework.request import Request

from .errors import InvalidInput

MAX_OFFSET = 10**9


def bounded_int(value: Any, name: str, *, low: int = 0, high: int | None = None) -> int:
    """A query or header value as an integer in [low, high], or 400 `invalid`."""
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be an integer.")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be an integer.") from exc
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"{name} must be {bound}.")
    return number


class Page:
    """The page a request asks for: `limit` (1..maximum) rows from `offset`."""

    def __init__(self, request: Request, *, default: int, maximum: int) -> None:
        self.request = request
        params = request.query_params
        self.limit = bounded_int(params.get("limit", default), "limit", low=1, high=maximum)
        self.offset = bounded_int(params.get("offset", 0), "offset", high=MAX_OFFSET)

    @property
    def window(self) -> slice:
        """The rows to read: this page's, and one more."""
        return slice(self.offset, self.offset + self.limit + 1)

    def body(self, rows: Sequence, shape: Callable[[Any], Any] = lambda row: row) -> dict:
        """The answer for `rows`, as read through `window` (or a list cut the same way)."""
        next_url = None
        if len(rows) > self.limit:
            query = self.request.query_params.copy()
            query["offset"] = str(self.offset + self.limit)
            query["limit"] = str(self.limit)
            next_url = self.request.build_absolute_uri(f"{self.request.path}?{query.urlencode()}")
        return {"results": [shape(row) for row in rows[: self.limit]], "next": next_url}
