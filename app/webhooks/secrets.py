"""Signing secrets: generated in the Standard Webhooks form `whsec_<base64>`, stored only encrypted.

AES-256-GCM under a key derived (HKDF-SHA256) from RISKAPI_SECRET_KEY; the endpoint id and the secret's slot are the
associated data, so a ciphertext copied to another row or slot does not decrypt."""

from __future__ import annotations

import base64
import os
import secrets as random

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.config import Settings

PREFIX = "whsec_"
FORMAT = "v1"
SECRET_BYTES = 32


class SecretUnreadable(Exception):
    """A stored secret that does not decrypt (a changed RISKAPI_SECRET_KEY, or an edited row)."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(random.token_bytes(SECRET_BYTES)).decode()


def _key(settings: Settings) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"riskapi webhook signing secrets v1")
    return hkdf.derive(settings.secret_key.get_secret_value().encode())


def _associated(endpoint_id: str, slot: str) -> bytes:
    return f"{endpoint_id}:{slot}".encode()


def encrypt(secret: str, *, endpoint_id: str, slot: str = "current", settings: Settings) -> str:
    """The text stored for `secret` of the endpoint's `slot` ('current' or 'previous')."""
    nonce = os.urandom(12)
    sealed = AESGCM(_key(settings)).encrypt(nonce, secret.encode(), _associated(endpoint_id, slot))
    return f"{FORMAT}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(stored: str, *, endpoint_id: str, slot: str = "current", settings: Settings) -> str:
    form, _, encoded = stored.partition(":")
    if form != FORMAT:
        raise SecretUnreadable(f"unknown secret format '{form}'")
    try:
        raw = base64.b64decode(encoded, validate=True)
        return AESGCM(_key(settings)).decrypt(raw[:12], raw[12:], _associated(endpoint_id, slot)).decode()
    except Exception as exc:  # InvalidTag, bad base64 or a truncated value: all mean the same to the caller
        raise SecretUnreadable("the stored signing secret does not decrypt") from exc
