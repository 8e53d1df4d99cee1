"""Signed notes (C2SP signed-note v1) with Ed25519 keys, byte-compatible with golang.org/x/mod/sumdb/note.

A signed note is a text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(4-byte big-endian key id || signature)>``. The key id of an Ed25519 key is the first four
bytes of ``SHA-256(name || "\\n" || 0x01 || 32-byte public key)``. Keys travel as strings in the sumdb/note form:
verifier ``<name>+<8 hex key id>+<base64(0x01 || public key)>`` and signer
``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>``.

Opening a note follows the spec and the Go reference: signatures from unknown keys (a name and key id not held by
the verifier set) are reported as unverified, never errors, so keys can rotate; a signature from a known key that
fails to verify rejects the whole note; a note with no verified signature is rejected. Pure: no I/O, every failure
raises a `NoteError`. Base64 is checked in canonical form (re-encoding gives the same text), so changing any
character of a signature line cannot leave a valid note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM_ED25519 = 0x01
"""The signed-note signature type byte of Ed25519."""

MAX_SIGNATURES = 100
"""Signature lines accepted in one note (sumdb/note's limit; the spec requires at least 16)."""

MAX_NOTE_BYTES = 256 * 1024
"""Largest note accepted, in UTF-8 bytes: bounds the work done on untrusted input before any signature check."""

SIGNATURE_PREFIX = "\u2014 "
"""Every signature line starts with EM DASH (U+2014) and a space."""

_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")
_SEED_BYTES = 32
_PUBLIC_KEY_BYTES = 32


class NoteError(ValueError):
    """Any failure to parse a key or to sign or open a note."""


class InvalidKeyError(NoteError):
    """A signer or verifier key string is malformed, uses an unknown algorithm, or its key id does not match."""


class MalformedNoteError(NoteError):
    """The note is not a well-formed signed note (syntax, encoding, size or signature-count limits)."""


class InvalidSignatureError(NoteError):
    """A signature from a known key did not verify: the whole note is rejected."""

    def __init__(self, name: str, key_id: int) -> None:
        super().__init__(f"invalid signature for key {name}+{key_id:08x}")
        self.name = name
        self.key_id = key_id


class UnverifiedNoteError(NoteError):
    """The note is well formed but carries no signature from a known key; `unverified` lists what it does carry."""

    def __init__(self, unverified: tuple[NoteSignature, ...]) -> None:
        super().__init__("note has no verifiable signatures")
        self.unverified = unverified


def is_valid_key_name(name: str) -> bool:
    """Whether `name` may name a key: non-empty, no Unicode space, no plus, no control character, valid UTF-8."""
    if not name or "+" in name:
        return False
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def key_id(name: str, encoded_public_key: bytes) -> int:
    """The C2SP key id: the first four bytes, big-endian, of SHA-256(name || "\\n" || encoded public key).

    `encoded_public_key` includes the signature type byte (0x01 and the 32-byte key for Ed25519).
    """
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + encoded_public_key).digest()
    return int.from_bytes(digest[:4], "big")


def b64encode(data: bytes) -> str:
    """Standard, padded base64 (RFC 4648 section 4), as every signed-note field uses."""
    return base64.b64encode(data).decode("ascii")


def b64decode_canonical(text: str) -> bytes | None:
    """Decode standard padded base64, or None unless `text` is exactly the canonical encoding of its bytes."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    if b64encode(raw) != text:
        return None
    return raw


def _parse_key_id(hex_id: str) -> int | None:
    if _HEX_KEY_ID.fullmatch(hex_id) is None:
        return None
    return int(hex_id, 16)


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key name, its key id, and the base64 text after the name (key id and signature)."""

    name: str
    key_id: int
    signature_b64: str

    @property
    def line(self) -> str:
        """The signature line as it appears in a note, with its final newline."""
        return f"{SIGNATURE_PREFIX}{self.name} {self.signature_b64}\n"


@dataclass(frozen=True)
class OpenedNote:
    """A note whose text is vouched for by at least one signature from a known key."""

    text: str
    signatures: tuple[NoteSignature, ...]
    """Verified signatures, in note order, one per known key."""
    unverified: tuple[NoteSignature, ...]
    """Signatures from keys the verifier set does not hold (other logs, witnesses, rotated-out keys)."""


class Verifier:
    """An Ed25519 verifier key: a key name, its key id and the public key."""

    __slots__ = ("_public_key", "key_id", "name")

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        if not is_valid_key_name(name):
            raise InvalidKeyError("invalid key name")
        self.name = name
        self._public_key = public_key
        self.key_id = key_id(name, bytes([ALGORITHM_ED25519]) + _raw_public_key(public_key))

    @classmethod
    def from_key(cls, vkey: str) -> Verifier:
        """Parse `<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>`, checking the key id."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise InvalidKeyError("malformed verifier key")
        name, hex_id, key64 = parts
        claimed = _parse_key_id(hex_id)
        encoded = b64decode_canonical(key64)
        if claimed is None or encoded is None or not encoded or not is_valid_key_name(name):
            raise InvalidKeyError("malformed verifier key")
        if key_id(name, encoded) != claimed:
            raise InvalidKeyError("verifier key id does not match its name and public key")
        if encoded[0] != ALGORITHM_ED25519:
            raise InvalidKeyError("unknown verifier key algorithm")
        if len(encoded) != 1 + _PUBLIC_KEY_BYTES:
            raise InvalidKeyError("malformed verifier key")
        return cls(name, Ed25519PublicKey.from_public_bytes(encoded[1:]))

    @classmethod
    def from_public_key_bytes(cls, name: str, public_key: bytes) -> Verifier:
        """A verifier for a raw 32-byte Ed25519 public key."""
        if len(public_key) != _PUBLIC_KEY_BYTES:
            raise InvalidKeyError("an Ed25519 public key is 32 bytes")
        return cls(name, Ed25519PublicKey.from_public_bytes(public_key))

    @property
    def public_key_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return _raw_public_key(self._public_key)

    @property
    def key(self) -> str:
        """The verifier key string, `<name>+<hex key id>+<base64(0x01 || public key)>`: safe to publish."""
        encoded = bytes([ALGORITHM_ED25519]) + self.public_key_bytes
        return f"{self.name}+{self.key_id:08x}+{b64encode(encoded)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` (without the key id prefix) is this key's Ed25519 signature of `message`."""
        try:
            self._public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verifier) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Verifier({self.key!r})"


class Signer:
    """An Ed25519 signer key: a key name, its key id and the private key. Its repr never shows the private key."""

    __slots__ = ("_private_key", "key_id", "name", "verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.verifier = Verifier(name, private_key.public_key())
        self.name = name
        self.key_id = self.verifier.key_id
        self._private_key = private_key

    @classmethod
    def from_key(cls, skey: str) -> Signer:
        """Parse `PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>`, checking the key id."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise InvalidKeyError("malformed signer key")
        _, _, name, hex_id, key64 = parts
        claimed = _parse_key_id(hex_id)
        encoded = b64decode_canonical(key64)
        if claimed is None or encoded is None or not encoded or not is_valid_key_name(name):
            raise InvalidKeyError("malformed signer key")
        if encoded[0] != ALGORITHM_ED25519:
            raise InvalidKeyError("unknown signer key algorithm")
        if len(encoded) != 1 + _SEED_BYTES:
            raise InvalidKeyError("malformed signer key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(encoded[1:]))
        if signer.key_id != claimed:
            raise InvalidKeyError("signer key id does not match its name and public key")
        return signer

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        """A signer for a raw 32-byte Ed25519 private key seed (RFC 8032)."""
        if len(seed) != _SEED_BYTES:
            raise InvalidKeyError("an Ed25519 seed is 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def key(self) -> str:
        """The signer key string: a secret, for a key file or setting, never for a log or the database."""
        seed = self._private_key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{b64encode(bytes([ALGORITHM_ED25519]) + seed)}"

    @property
    def verifier_key(self) -> str:
        """The matching verifier key string, to publish."""
        return self.verifier.key

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of `message` (deterministic)."""
        return self._private_key.sign(message)

    def __repr__(self) -> str:
        return f"Signer({self.name}+{self.key_id:08x})"


def generate_signer(name: str) -> tuple[str, str]:
    """A fresh Ed25519 key pair for `name`: (signer key string, verifier key string), as sumdb/note's GenerateKey."""
    signer = Signer.from_seed(name, secrets.token_bytes(_SEED_BYTES))
    return signer.key, signer.verifier_key


def _check_characters(text: str) -> None:
    """Signed notes are UTF-8 with no ASCII control character other than newline."""
    for ch in text:
        if ord(ch) < 0x20 and ch != "\n":
            raise MalformedNoteError("malformed note: control character")


def _check_text(text: str) -> bytes:
    if not text.endswith("\n"):
        raise MalformedNoteError("malformed note: text must end in a newline")
    _check_characters(text)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise MalformedNoteError("malformed note: not valid UTF-8") from error
    return encoded


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """The signed note: `text`, a blank line, then one signature line per signer, in the given order.

    `text` must end in a newline and contain no control character other than newline; at least one signer, and no
    two signers with the same key name and key id.
    """
    encoded = _check_text(text)
    if not signers:
        raise NoteError("sign_note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise NoteError(f"at most {MAX_SIGNATURES} signatures")
    seen: set[tuple[str, int]] = set()
    lines = []
    for signer in signers:
        if (signer.name, signer.key_id) in seen:
            raise NoteError(f"duplicate signer {signer.name}+{signer.key_id:08x}")
        seen.add((signer.name, signer.key_id))
        payload = signer.key_id.to_bytes(4, "big") + signer.sign(encoded)
        lines.append(NoteSignature(signer.name, signer.key_id, b64encode(payload)).line)
    note = text + "\n" + "".join(lines)
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise NoteError(f"a signed note is at most {MAX_NOTE_BYTES} bytes")
    return note


def _parse_signature_line(line: str) -> tuple[NoteSignature, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError("malformed note: signature line must start with an em dash and a space")
    name, space, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = b64decode_canonical(b64) if space else None
    if raw is None or not is_valid_key_name(name) or len(raw) < 5:
        raise MalformedNoteError("malformed note: bad signature line")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), b64), raw[4:]


def _verifier_map(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], list[Verifier]]:
    known: dict[tuple[str, int], list[Verifier]] = {}
    for verifier in verifiers:
        same = known.setdefault((verifier.name, verifier.key_id), [])
        if verifier not in same:
            same.append(verifier)
    return known


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Parse `note` and check its signatures against `verifiers` (several keys allowed, e.g. old and new).

    Raises `MalformedNoteError` for bad syntax, bad UTF-8, control characters, over `MAX_NOTE_BYTES` or over
    `MAX_SIGNATURES` signature lines; `InvalidSignatureError` when a known key's signature does not verify;
    `UnverifiedNoteError` when no known key signed; `NoteError` when two different verifiers share a name and key
    id and one of them is needed. Every line from a known key is verified; repeated lines from one key count once.
    """
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise MalformedNoteError("malformed note: too long")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedNoteError("malformed note: not valid UTF-8") from error
    elif len(note) > MAX_NOTE_BYTES:  # cheap bound before encoding: every character is at least one byte
        raise MalformedNoteError("malformed note: too long")
    try:
        encoded = note.encode("utf-8")
    except UnicodeEncodeError as error:
        raise MalformedNoteError("malformed note: not valid UTF-8") from error
    if len(encoded) > MAX_NOTE_BYTES:
        raise MalformedNoteError("malformed note: too long")
    _check_characters(note)

    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNoteError("malformed note: signatures must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError("malformed note: too many signatures")

    known = _verifier_map(verifiers)
    message = text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen_keys: set[tuple[str, int]] = set()
    seen_unverified: set[str] = set()
    for line in lines:
        parsed, signature = _parse_signature_line(line)
        candidates = known.get((parsed.name, parsed.key_id))
        if candidates is None:
            if line not in seen_unverified:
                seen_unverified.add(line)
                unverified.append(parsed)
            continue
        if len(candidates) > 1:
            raise NoteError(f"ambiguous key {parsed.name}+{parsed.key_id:08x}")
        if not candidates[0].verify(message, signature):
            raise InvalidSignatureError(parsed.name, parsed.key_id)
        if (parsed.name, parsed.key_id) not in seen_keys:
            seen_keys.add((parsed.name, parsed.key_id))
            verified.append(parsed)
    if not verified:
        raise UnverifiedNoteError(tuple(unverified))
    return OpenedNote(text=text, signatures=tuple(verified), unverified=tuple(unverified))
