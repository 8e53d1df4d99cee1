"""Response models of the audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.core.pagination import Page


class ListedResource(BaseModel):
    id: str = Field(description="The id of a resource the list returned.")
    subject_ref: str | None = Field(description="The resource's subject_ref (the child's case id), or null.")


class AuditEventRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sequence": 42,
                    "occurred_at": "2026-11-29T08:01:56.691283Z",
                    "client_id": "3f1c2a4e-8d5b-4a51-9f0e-2f3c7b1d9a10",
                    "acting_user": "nurse-0192",
                    "action": "assessment.read",
                    "resource_type": "assessment",
                    "resource_id": "c0a8012e-7b0e-4d8f-a9f2-5a3e1f2b9c44",
                    "subject_ref": "case-7f3a9c",
                    "status": 200,
                    "details": None,
                    "resources": None,
                    "digest": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "prev_hash": "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d",
                    "hash": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                }
            ]
        }
    )

    sequence: int = Field(description="The event's position in the organisation's chain, from 1.")
    occurred_at: datetime = Field(description="When the event happened (ISO 8601, UTC, to the microsecond).")
    client_id: str | None = Field(
        description="Id of the API client that made the request; null for a key operation run from the command line."
    )
    acting_user: str | None = Field(description="The request's `X-Acting-User`, or null when it sent none.")
    action: str = Field(
        description="What happened, e.g. `assessment.create`, `assessment.read` or `refused.get_assessment`."
    )
    resource_type: str = Field(
        description="The kind of resource: `assessment`, `client`, `audit`, `questionnaire_version`, "
        "`ruleset_version` or `current_ruleset`."
    )
    resource_id: str | None = Field(
        description="Id of the resource concerned; null for a list or a refusal without one."
    )
    subject_ref: str | None = Field(description="The child's case id the event concerns, or null.")
    status: int = Field(description="HTTP status of the audited request, e.g. 201 or 403.")
    details: dict[str, Any] | None = Field(
        description="Small metadata about the event (never answers or free text), e.g. a list's filters and count."
    )
    resources: list[ListedResource] | None = Field(description="Every resource a list returned; null for other events.")
    digest: str | None = Field(
        description="Lowercase hex SHA-256 of the RFC 8785 form of what was returned or stored, or null."
    )
    prev_hash: str = Field(
        description="The `hash` of the previous event (a per-organisation genesis hash for the first)."
    )
    hash: str = Field(
        description="Lowercase hex SHA-256 over `prev_hash`, `sequence` and the event's content: the chain link."
    )


class AuditEventPage(Page[AuditEventRead]):
    """In chain order."""


MAX_LISTED_PROBLEMS = 100


class RecordProblemRead(BaseModel):
    record: str = Field(description="What broke: the case row (and column, where known).")
    problem: str = Field(description="What does not match, in plain words.")
    sequence: int | None = Field(description="The sequence of the event concerned, or null when there is none.")


class LogProblemRead(BaseModel):
    where: str = Field(
        description="What does not hold: `leaf of sequence N`, `checkpoint at tree size N`, `tree` or `event N`."
    )
    problem: str = Field(description="What does not match, in plain words.")
    sequence: int | None = Field(description="The sequence of the event concerned, or null when there is none.")


class VerificationRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": False,
                    "events": 41,
                    "head_sequence": 42,
                    "first_broken_sequence": 42,
                    "problem": "the chain head is at sequence 42 but the chain ends at 41",
                    "records_checked": 12,
                    "records_legacy": 0,
                    "record_problems": [
                        {
                            "record": "assessment c0a8012e-7b0e-4d8f-a9f2-5a3e1f2b9c44 (computed_level)",
                            "problem": "computed_level 'immediate' but the stored result computed 'low'",
                            "sequence": 17,
                        }
                    ],
                    "record_problems_total": 1,
                    "tree_size": 40,
                    "checkpoints_checked": 3,
                    "log_problems": [
                        {
                            "where": "leaf of sequence 17",
                            "problem": "the stored leaf hash is not the event's",
                            "sequence": 17,
                        }
                    ],
                    "log_problems_total": 1,
                }
            ]
        }
    )

    ok: bool = Field(
        description="True when the chain is unbroken, every case record matches it, and the verifiable log's tree "
        "and signed checkpoints match the events."
    )
    events: int = Field(description="Events verified before the first break (all of them when `ok`).")
    head_sequence: int = Field(description="The sequence the organisation's chain head records (0 with no events).")
    first_broken_sequence: int | None = Field(description="The sequence of the first broken event; null when none is.")
    problem: str | None = Field(
        description="The chain's first break, else a summary of the case record problems, else of the verifiable "
        "log's; null when `ok`."
    )
    records_checked: int = Field(
        description="Case rows (assessments, overrides, entered-in-error marks) compared "
        "with the record digest of the event that created them."
    )
    records_legacy: int = Field(
        description="Case rows written before record digests: checked for existence and links only."
    )
    record_problems: list[RecordProblemRead] = Field(
        description=f"Case records that do not match the chain, the first {MAX_LISTED_PROBLEMS}."
    )
    record_problems_total: int = Field(description="How many case records do not match, listed or not.")
    tree_size: int | None = Field(
        description="How many events (sequences 1 to tree_size) the organisation's Merkle tree holds; null before "
        "its tree is first built (docs/verifiable-log.md)."
    )
    checkpoints_checked: int = Field(
        description="Signed checkpoints whose signature was checked with the published keys and whose root was "
        "recomputed from the events."
    )
    log_problems: list[LogProblemRead] = Field(
        description="Where the stored tree or a signed checkpoint does not match the events (or a signature does "
        f"not verify), the first {MAX_LISTED_PROBLEMS}."
    )
    log_problems_total: int = Field(description="How many verifiable log problems were found, listed or not.")
