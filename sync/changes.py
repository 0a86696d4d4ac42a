"""Validation of incoming changes and the JSON shapes of items and results.

Kept apart from the services so the REST views and the push endpoint share one reading of
a change: whatever arrives (JSON body, multipart upload, raw bytes) becomes a `Change`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils.encoding import force_bytes

from .models import Item

MAX_NAME = 255
# Version numbers are stored as 32-bit integers; larger ones cannot name a version.
MAX_VERSION = 2**31 - 1


class Rejected(Exception):
    """One change cannot be applied; the batch goes on without it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Change:
    change_id: uuid.UUID
    item_id: uuid.UUID
    op: str
    base_version: int | None
    kind: str | None
    name: str | None
    content_type: str | None
    # Exactly one of these for a put that carries content; both None otherwise.
    text: str | None
    data: bytes | None
    modified_at: datetime
    request_hash: str

    @property
    def has_content(self) -> bool:
        return self.text is not None or self.data is not None

    def content_bytes(self) -> bytes | None:
        if self.text is not None:
            return self.text.encode("utf-8")
        return self.data


def request_hash(raw: dict[str, Any]) -> str:
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def peek_uuid(raw: Any, field: str) -> uuid.UUID | None:
    """The UUID in `raw[field]` if there is a valid one, before full validation."""
    if isinstance(raw, dict) and isinstance(raw.get(field), str):
        try:
            return uuid.UUID(raw[field])
        except ValueError:
            return None
    return None


def _uuid(raw: dict, field: str) -> uuid.UUID:
    value = raw.get(field)
    if not isinstance(value, str):
        raise Rejected("invalid", f"{field} must be a UUID string.")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise Rejected("invalid", f"{field} is not a valid UUID.") from exc


def _optional_str(raw: dict, field: str, limit: int = MAX_NAME) -> str | None:
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected("invalid", f"{field} must be a string.")
    if len(value) > limit:
        raise Rejected("invalid", f"{field} is longer than {limit} characters.")
    return valid_text(value, field)


# A content type is sent back as a response header on every download: printable ASCII
# only, so it can never split or break a header.
_HEADER_SAFE = re.compile(r"[\x20-\x7e]*")


def header_safe(value: str | None) -> bool:
    return value is None or bool(_HEADER_SAFE.fullmatch(value))


def _content_type(raw: dict) -> str | None:
    value = _optional_str(raw, "content_type")
    if not header_safe(value):
        raise Rejected("invalid", "content_type must be printable ASCII (it is sent as a header).")
    return value


def valid_text(value: str, field: str = "content") -> str:
    if "\x00" in value:
        raise Rejected("invalid", f"{field} must not contain U+0000.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Rejected("invalid", f"{field} is not valid Unicode (lone surrogate).") from exc
    return value


def parse_time(value: Any, now: datetime, field: str = "modified_at") -> datetime:
    """Parse an RFC 3339 time and clamp it to the server's receive time, so that a device
    whose clock runs ahead cannot win every future conflict."""
    if value is None:
        return now
    if not isinstance(value, str):
        raise Rejected("invalid", f"{field} must be an RFC 3339 string.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Rejected("invalid", f"{field} is not an RFC 3339 time.") from exc
    if parsed.tzinfo is None:
        raise Rejected("invalid", f"{field} needs a time zone (for example a trailing Z).")
    try:
        # Times at the ends of the calendar overflow when moved to UTC.
        return min(parsed.astimezone(UTC), now)
    except OverflowError as exc:
        raise Rejected("invalid", f"{field} is out of range.") from exc


def check_size(size: int) -> None:
    limit = settings.CLOUDSAVES_MAX_ITEM_BYTES
    if size > limit:
        raise Rejected("too_large", f"The content is {size} bytes; the limit is {limit}.")


def parse_change(raw: Any, now: datetime) -> Change:
    if not isinstance(raw, dict):
        raise Rejected("invalid", "A change must be a JSON object.")
    change_id = _uuid(raw, "change_id")
    item_id = _uuid(raw, "item_id")
    op = raw.get("op")
    if op not in ("put", "delete"):
        raise Rejected("invalid", "op must be 'put' or 'delete'.")
    base = raw.get("base_version")
    if base is not None and (
        not isinstance(base, int) or isinstance(base, bool) or not 0 <= base <= MAX_VERSION
    ):
        raise Rejected("invalid", "base_version must be a version number or null.")
    kind = raw.get("kind")
    if kind is not None and kind not in Item.Kind.values:
        raise Rejected("invalid", "kind must be 'text' or 'binary'.")
    text = data = None
    if op == "put":
        if raw.get("content") is not None and raw.get("content_b64") is not None:
            raise Rejected("invalid", "Send content or content_b64, not both.")
        if raw.get("content") is not None:
            if not isinstance(raw["content"], str):
                raise Rejected("invalid", "content must be a string.")
            text = valid_text(raw["content"])
            check_size(len(text.encode("utf-8")))
        elif raw.get("content_b64") is not None:
            encoded = raw["content_b64"]
            if not isinstance(encoded, str):
                raise Rejected("invalid", "content_b64 must be a base64 string.")
            check_size(len(encoded) * 3 // 4 - 2)
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise Rejected("invalid", "content_b64 is not valid base64.") from exc
            check_size(len(data))
        if kind == "text" and data is not None:
            raise Rejected("invalid", "A text item takes 'content', not 'content_b64'.")
        if kind == "binary" and text is not None:
            raise Rejected("invalid", "A binary item takes 'content_b64', not 'content'.")
    return Change(
        change_id=change_id,
        item_id=item_id,
        op=op,
        base_version=base,
        kind=kind,
        name=_optional_str(raw, "name"),
        content_type=_content_type(raw),
        text=text,
        data=data,
        modified_at=parse_time(raw.get("modified_at"), now),
        request_hash=request_hash(raw),
    )


# -- cursors ------------------------------------------------------------------------------


class _CursorSigner(signing.Signer):
    """Django's Signer, with the HMAC key for the current secret derived once instead of
    per signature: a pull signs one cursor per item. Signatures are the same bytes as
    Signer's; older secrets (SECRET_KEY_FALLBACKS) still verify through Signer itself."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        derived = hashlib.sha256(force_bytes(self.salt + "signer") + force_bytes(self.key))
        self._mac = hmac.new(derived.digest(), digestmod=hashlib.sha256)

    def signature(self, value: Any, key: Any = None) -> str:
        if key is not None and key != self.key:
            return super().signature(value, key)
        mac = self._mac.copy()
        mac.update(force_bytes(value))
        return signing.b64_encode(mac.digest()).decode()


@lru_cache(maxsize=1024)
def _signer(user_id: int, secret: str, fallbacks: tuple) -> signing.Signer:
    # Salted per user: another user's cursor fails the signature check.
    return _CursorSigner(
        key=secret, salt=f"cloudsaves.cursor.{user_id}", fallback_keys=list(fallbacks)
    )


def _user_signer(user_id: int) -> signing.Signer:
    return _signer(user_id, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


def cursor_signer(user_id: int) -> signing.Signer:
    return _user_signer(user_id)


def encode_cursor(user_id: int, seq: int) -> str:
    return _user_signer(user_id).sign(str(seq))


class BadCursor(Exception):
    pass


def decode_cursor(user_id: int, cursor: str | None) -> int:
    if cursor in (None, ""):
        return 0
    try:
        value = _user_signer(user_id).unsign(cursor)
        seq = int(value)
    except (signing.BadSignature, ValueError) as exc:
        raise BadCursor from exc
    if seq < 0:
        raise BadCursor
    return seq


# -- output shapes ------------------------------------------------------------------------


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def item_dict(item: Item, signer: signing.Signer | None = None) -> dict[str, Any]:
    """`signer`: the user's cursor signer, when the caller renders many items."""
    signer = signer or _user_signer(item.user_id)
    return {
        "id": str(item.item_id),
        "kind": item.kind,
        "name": item.name,
        "content_type": item.content_type,
        "version": item.version,
        "size": item.size,
        "sha256": item.sha256,
        "modified_at": iso(item.modified_at),
        "updated_at": iso(item.updated_at),
        "deleted": item.deleted,
        "has_conflict": item.has_conflict,
        "seq": signer.sign(str(item.seq)),
        "device_id": str(item.device_id) if item.device_id else None,
    }


def result_dict(
    change_id: uuid.UUID | None,
    status: str,
    *,
    item: Item | None = None,
    conflict_id: uuid.UUID | None = None,
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "change_id": str(change_id) if change_id else None,
        "status": status,
        "item": item_dict(item) if item is not None else None,
    }
    if conflict_id is not None:
        result["conflict_id"] = str(conflict_id)
    if error is not None:
        result["error"] = {"code": error[0], "message": error[1]}
    return result
