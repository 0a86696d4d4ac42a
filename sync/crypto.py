"""Envelope encryption for content at rest. Pure: no Django.

Each user has a random 256-bit data key. Content is sealed with AES-256-GCM under it, with
additional data naming the user, item and version, so a ciphertext moved to another row
fails to open. Data keys are stored wrapped (AES-GCM again) by a key-encryption key (KEK)
from the server's settings; a wrapped key records which KEK wrapped it, so after a key
rotation old and new wraps both open until `rotate_keys` has re-wrapped everything.

Sealed layout: version byte 0x01 | 12-byte random nonce | ciphertext+tag.
Wrapped layout: version byte 0x01 | 4-byte KEK id | 12-byte nonce | ciphertext+tag.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32
KEK_ID_BYTES = 4


class CryptoError(Exception):
    """Base for everything this module refuses."""


class DecryptionError(CryptoError):
    """A ciphertext did not open: wrong key, tampered bytes, or bound to another row."""


class KeyConfigError(CryptoError):
    """The configured key-encryption keys are unusable."""


def parse_kek(encoded: str) -> bytes:
    try:
        # Strict: the lenient decoder skips characters outside the alphabet, so a typo
        # would silently become another (short) key.
        padded = encoded.encode("ascii") + b"=" * (-len(encoded) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise KeyConfigError("an encryption key is not url-safe base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyConfigError(f"an encryption key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def kek_id(kek: bytes) -> bytes:
    return hashlib.sha256(b"cloudsaves/kek-id/" + kek).digest()[:KEK_ID_BYTES]


class KeyRing:
    """The server's key-encryption keys: the first wraps, all unwrap."""

    def __init__(self, keks: Iterable[bytes]) -> None:
        self._keks = list(keks)
        if not self._keks:
            raise KeyConfigError("at least one encryption key is required")
        self._by_id = {kek_id(k): k for k in self._keks}
        if len(self._by_id) != len(self._keks):
            raise KeyConfigError("the same encryption key is configured twice")

    @classmethod
    def from_encoded(cls, encoded: Iterable[str]) -> KeyRing:
        return cls(parse_kek(e) for e in encoded)

    @property
    def primary_id(self) -> bytes:
        return kek_id(self._keks[0])

    def wrap(self, data_key: bytes, *, owner: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keks[0]).encrypt(nonce, data_key, _wrap_aad(owner))
        return FORMAT_V1 + self.primary_id + nonce + sealed

    def unwrap(self, wrapped: bytes, *, owner: str) -> bytes:
        wrapped = bytes(wrapped)
        header = 1 + KEK_ID_BYTES
        if len(wrapped) < header + NONCE_BYTES + 16 or wrapped[:1] != FORMAT_V1:
            raise DecryptionError("not a wrapped data key")
        kek = self._by_id.get(wrapped[1:header])
        if kek is None:
            raise DecryptionError(
                "the data key was wrapped by an encryption key that is no longer configured"
            )
        nonce = wrapped[header : header + NONCE_BYTES]
        try:
            return AESGCM(kek).decrypt(nonce, wrapped[header + NONCE_BYTES :], _wrap_aad(owner))
        except InvalidTag as exc:
            raise DecryptionError("the data key does not belong to this owner") from exc

    @staticmethod
    def wrapped_by(wrapped: bytes) -> bytes:
        return bytes(wrapped)[1 : 1 + KEK_ID_BYTES]


def _wrap_aad(owner: str) -> bytes:
    return b"cloudsaves/data-key/v1/" + owner.encode()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def content_aad(*, user: str, item: str, version: str) -> bytes:
    return f"cloudsaves/content/v1/{user}/{item}/{version}".encode()


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    sealed = bytes(sealed)
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != FORMAT_V1:
        raise DecryptionError("not a sealed value")
    try:
        return AESGCM(key).decrypt(sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :], aad)
    except InvalidTag as exc:
        raise DecryptionError(
            "the sealed value does not open here: wrong key, tampered, or moved from another row"
        ) from exc
