"""Checkpoints in the C2SP tlog-checkpoint format: the signed-note text naming a log's Merkle tree head.

The body is the origin line, the tree size in decimal (no leading zero unless it is ``0``), the standard padded
base64 of the root hash, then optional non-empty extension lines; every line ends in a newline::

    riskapi.example/audit/acme
    42
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

Signed as a note (see `app.verifiable_log.note`). Pure: no I/O; failures raise `CheckpointError` or `NoteError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.verifiable_log.note import (
    MAX_NOTE_BYTES,
    MalformedNoteError,
    OpenedNote,
    Signer,
    Verifier,
    b64decode_canonical,
    b64encode,
    open_note,
    sign_note,
)

HASH_BYTES = 32
"""Root hashes are SHA-256 (RFC 9162 / RFC 6962 Merkle tree hash)."""

MAX_TREE_SIZE = 2**64 - 1
"""Tree sizes are unsigned 64-bit, as in the reference implementations."""

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(ValueError):
    """A checkpoint body is malformed, or a signed checkpoint is for another log."""


def _check_line(value: str, what: str) -> None:
    if not value:
        raise CheckpointError(f"the {what} must be non-empty")
    if any(ord(ch) < 0x20 for ch in value):  # newline and the other control characters signed notes refuse
        raise CheckpointError(f"the {what} must be one line without control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise CheckpointError(f"the {what} must be valid UTF-8") from error


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: `origin` (the log's identity), `size` (leaves) and `root_hash` (32 bytes)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError("the tree size must be an integer from 0 to 2**64 - 1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_BYTES:
            raise CheckpointError(f"the root hash must be {HASH_BYTES} bytes")
        if not isinstance(self.extensions, tuple):
            object.__setattr__(self, "extensions", tuple(self.extensions))
        for extension in self.extensions:
            _check_line(extension, "extension line")

    def text(self) -> str:
        """The checkpoint body as text: the note text that gets signed."""
        lines = [self.origin, str(self.size), b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    def body(self) -> bytes:
        """The checkpoint body as UTF-8 bytes: exactly the bytes a signature covers."""
        return self.text().encode("utf-8")


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse a checkpoint body strictly (the text of an opened note, not the signed note itself).

    Refuses: not UTF-8, a missing final newline, fewer than three lines, an empty line, a tree size that is not
    ASCII decimal without leading zeros (``0`` alone is allowed) or exceeds 2**64 - 1, a root hash that is not
    canonical padded standard base64 of exactly 32 bytes, and control characters.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_NOTE_BYTES:
            raise CheckpointError("checkpoint too long")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CheckpointError("checkpoint is not valid UTF-8") from error
    if len(text) > MAX_NOTE_BYTES:
        raise CheckpointError("checkpoint too long")
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs an origin, a tree size and a root hash line")
    origin, size_text, hash_text, *extensions = lines
    if _DECIMAL.fullmatch(size_text) is None:
        raise CheckpointError("tree size must be decimal digits without leading zeros")
    size = int(size_text)
    root_hash = b64decode_canonical(hash_text)
    if root_hash is None:
        raise CheckpointError("root hash must be standard padded base64")
    return Checkpoint(origin=origin, size=size, root_hash=root_hash, extensions=tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[Signer]) -> str:
    """The signed note of `checkpoint`: its body, a blank line and one signature line per signer."""
    return sign_note(checkpoint.text(), signers)


@dataclass(frozen=True)
class OpenedCheckpoint:
    """A checkpoint whose signed note verified, with the note's signatures."""

    checkpoint: Checkpoint
    note: OpenedNote


def open_checkpoint(note: str | bytes, verifiers: Iterable[Verifier], *, origin: str) -> OpenedCheckpoint:
    """Verify a signed checkpoint (see `open_note`) and parse its body, which must name the expected `origin`.

    Checking the origin matters: one key may sign several logs (one per organisation), and a checkpoint of
    another log must not pass for this one.
    """
    opened = open_note(note, verifiers)
    try:
        checkpoint = parse_checkpoint(opened.text)
    except CheckpointError as error:
        raise MalformedNoteError(f"malformed checkpoint: {error}") from error
    if checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for origin {checkpoint.origin!r}, expected {origin!r}")
    return OpenedCheckpoint(checkpoint=checkpoint, note=opened)
