"""Salted commitments: what an audit event records about a case row so that a receipt can prove which answers and
result it was, without letting anyone holding the receipt test guesses ("was abuse disclosed?") against it.

Each commitment is `SHA-256(salt || canonical bytes)` in hex, with a random 256-bit salt per row, stored with the
row and returned only to those allowed to read the record. Pure: shared by the writer and the offline verifier."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from app.core.canonical_json import canonical

SALT_BYTES = 32
COMMITMENTS_FORM = "riskapi.commitments.v1"


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def salted(salt: bytes, data: bytes) -> str:
    """SHA-256(salt || data), hex."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"a salt is {SALT_BYTES} bytes")
    return hashlib.sha256(salt + data).hexdigest()


def inputs_document(
    questionnaire_key: str, questionnaire_version: int, questionnaire_hash: str, answers: Any
) -> dict[str, Any]:
    """What an assessment was scored from: the questionnaire reference and content hash, and the answers."""
    return {
        "questionnaire": {
            "key": questionnaire_key,
            "version": questionnaire_version,
            "content_hash": questionnaire_hash,
        },
        "answers": answers,
    }


def inputs_commitment(salt: bytes, row: Mapping[str, Any]) -> str:
    """The commitment to an assessment row's inputs (its questionnaire columns and `answers`)."""
    document = inputs_document(
        row["questionnaire_key"], row["questionnaire_version"], row["questionnaire_hash"], row["answers"]
    )
    return salted(salt, canonical(document))


def result_commitment(salt: bytes, result: Any) -> str:
    """The commitment to an assessment row's stored `result`."""
    return salted(salt, canonical(result))


def response_commitment(salt: bytes, response_digest: str) -> str:
    """What the event's `digest` holds for a case row's write: the response's digest (its ETag), salted."""
    return salted(salt, bytes.fromhex(response_digest))


def assessment_commitments(salt: bytes, row: Mapping[str, Any]) -> dict[str, Any]:
    """The `details.commitments` of an assessment's create or amend event."""
    return {
        "form": COMMITMENTS_FORM,
        "inputs": inputs_commitment(salt, row),
        "result": result_commitment(salt, row["result"]),
        "ruleset": {"key": row["ruleset_key"], "version": row["ruleset_version"], "content_hash": row["ruleset_hash"]},
        "engine_version": row["engine_version"],
    }


def row_commitments(salt: bytes, table: str, row_form: Mapping[str, Any]) -> dict[str, Any]:
    """The `details.commitments` of an override's or entered-in-error mark's event: its own row form (`row_form`:
    `chain.record_form` of the row, which holds the salt) committed with the salt."""
    return {"form": COMMITMENTS_FORM, "table": table, "record": salted(salt, canonical(dict(row_form)))}
