"""The hash chain itself: pure functions shared by the writer and the verifier (ADR 0003)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.core.canonical_json import canonical

GENESIS_PREFIX = "riskapi-audit-genesis:"
BODY_FIELDS = (
    "organisation_id",
    "occurred_at",
    "client_id",
    "acting_user",
    "action",
    "resource_type",
    "resource_id",
    "subject_ref",
    "status",
    "details",
    "resources",
    "digest",
)
# Hashed only when set, so events written before record digests existed keep their hashes (ADR 0003).
OPTIONAL_BODY_FIELDS = ("record_digest",)
RECORD_FORM = "riskapi.case-record.v1"
# Rows written since migration 0009 carry a random `salt` column; their record form is version 2, which includes it
# (hex), so the record digest in their event cannot be recomputed by guessing the row (docs/verifiable-log.md).
RECORD_FORM_V2 = "riskapi.case-record.v2"


def genesis_hash(organisation_id: str) -> str:
    """The `prev_hash` of an organisation's first event: distinct per organisation, known to the verifier."""
    return hashlib.sha256((GENESIS_PREFIX + organisation_id).encode()).hexdigest()


def timestamp(value: datetime) -> str:
    """UTC with microseconds, the form that is hashed (and that both databases round-trip exactly)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_body(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's content as it is hashed (every field but its chain position), as JSON data: times as
    `timestamp` writes them, optional fields only when set."""
    body = {name: event.get(name) for name in BODY_FIELDS}
    body.update({name: event[name] for name in OPTIONAL_BODY_FIELDS if event.get(name) is not None})
    if isinstance(body["occurred_at"], datetime):
        body["occurred_at"] = timestamp(body["occurred_at"])
    return body


def body_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 of the RFC 8785 form of the event's content (`event_body`)."""
    return hashlib.sha256(canonical(event_body(event))).hexdigest()


def link_hash(prev_hash: str, sequence: int, content_hash: str) -> str:
    """The event's hash: covers the previous hash, the position and the content.

    Kept to string concatenation so PostgreSQL can compute it inside the append statement (ADR 0003):
    `encode(sha256(convert_to(prev || ':' || seq || ':' || body, 'UTF8')), 'hex')`.
    """
    return hashlib.sha256(f"{prev_hash}:{sequence}:{content_hash}".encode()).hexdigest()


def event_hash(event: Mapping[str, Any]) -> str:
    """The hash an event must carry, from its stored fields (used by the verifier and the SQLite writer)."""
    return link_hash(str(event["prev_hash"]), int(event["sequence"]), body_hash(event))


def digest(obj: object) -> str:
    """SHA-256 of the RFC 8785 form of what was returned or stored."""
    if isinstance(obj, bytes | bytearray):
        return hashlib.sha256(obj).hexdigest()
    return hashlib.sha256(canonical(obj)).hexdigest()


def record_digest(table: str, columns: Mapping[str, Any]) -> str:
    """SHA-256 of the versioned canonical form (RFC 8785) of one stored case row: every column by name, times as
    `timestamp` writes them. Computed from the row's stored values by the writer and the verifier alike, never
    from a response, so a change to what the API returns never changes it."""
    return digest(record_form(table, columns))


def record_form(table: str, columns: Mapping[str, Any]) -> dict[str, Any]:
    """The document `record_digest` hashes: version 2 with the row's salt in hex when it has one, else version 1
    without the (null) salt column, exactly as rows written before migration 0009 were recorded."""
    salt = columns.get("salt")
    row = {
        name: timestamp(value) if isinstance(value, datetime) else value
        for name, value in columns.items()
        if name != "salt"
    }
    if isinstance(salt, bytes | bytearray):
        row["salt"] = bytes(salt).hex()
        return {"form": RECORD_FORM_V2, "table": table, "row": row}
    return {"form": RECORD_FORM, "table": table, "row": row}
