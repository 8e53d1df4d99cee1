"""The decision receipt (format `riskapi.receipt.v1`) and the stored record it commits to
(`riskapi.assessment-record.v1`): documented JSON that `riskapi receipt verify` reads offline."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RECEIPT_FORMAT: Literal["riskapi.receipt.v1"] = "riskapi.receipt.v1"
RECORD_FORMAT: Literal["riskapi.assessment-record.v1"] = "riskapi.assessment-record.v1"


class ReceiptInclusion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leaf_index: int = Field(ge=0, description="The event's leaf index in the log's tree: its sequence - 1.")
    hashes: list[str] = Field(description="The RFC 9162 inclusion proof to the checkpoint's root, standard base64.")


class ReceiptEntry(BaseModel):
    """One audit event about the assessment, whole: its leaf is recomputed from these fields, so each is bound."""

    model_config = ConfigDict(extra="forbid")

    sequence: int = Field(ge=1, description="The event's position in the organisation's audit chain.")
    prev_hash: str = Field(description="The hash of the event before it (hex).")
    hash: str = Field(description="The event's chain hash (hex): SHA-256 over prev_hash, sequence and body.")
    body: dict[str, Any] = Field(
        description="The event's hashed content: action, resource, time, actors, details (holding the salted "
        "commitments, the rule set and the engine version), the salted response digest and the record digest."
    )
    inclusion: ReceiptInclusion = Field(description="The proof that the event's leaf is in the checkpoint's tree.")


class Receipt(BaseModel):
    """Proof of what was decided about one assessment and that it is in the organisation's log: the events of its
    creation (or amendment), overrides and entered-in-error mark, each with an inclusion proof to one signed
    checkpoint. It reveals no answer and no result beyond the level the events name."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["riskapi.receipt.v1"] = Field(
        default=RECEIPT_FORMAT, description="The receipt's format and version: `riskapi.receipt.v1`."
    )
    assessment_id: str = Field(description="The assessment revision the receipt is about.")
    origin: str = Field(description="The log's origin, as in the checkpoint: `<origin prefix>/<organisation slug>`.")
    tree_size: int = Field(ge=1, description="The checkpoint's tree size, as in the note.")
    root_hash: str = Field(description="The checkpoint's root hash (standard base64), as in the note.")
    checkpoint: str = Field(description="The C2SP signed note of the checkpoint the proofs lead to.")
    entries: list[ReceiptEntry] = Field(min_length=1, description="In sequence order: the create or amend event first.")


class StoredRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: Literal["assessments", "assessment_overrides", "assessment_entered_in_error"] = Field(
        description="The table the row is stored in: the assessment, an override, or the entered-in-error mark."
    )
    row: dict[str, Any] = Field(
        description="Every stored column, times as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the salt as hex (64 digits)."
    )


class AssessmentRecord(BaseModel):
    """The stored rows of one assessment and their salts, for those allowed to read its answers: what
    `riskapi receipt verify --record` checks against the commitments of a receipt."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["riskapi.assessment-record.v1"] = Field(
        default=RECORD_FORMAT, description="The record's format and version: `riskapi.assessment-record.v1`."
    )
    assessment_id: str = Field(description="The assessment revision whose rows these are.")
    rows: list[StoredRow] = Field(description="The assessment row, then its overrides, then its entered-in-error mark.")
