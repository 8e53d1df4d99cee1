"""API keys: random, shown once, stored only as an HMAC-SHA-256 digest."""

from __future__ import annotations

import hmac
import secrets

KEY_PREFIX = "rk_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str, secret: str) -> str:
    return hmac.digest(secret.encode(), key.encode(), "sha256").hex()


def display_prefix(key: str) -> str:
    """The first characters, kept in clear so an admin can tell keys apart."""
    return key[: len(KEY_PREFIX) + 6]
