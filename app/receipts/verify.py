"""Checking a decision receipt offline: `riskapi receipt verify`. No database, no network: the receipt, the pinned
keys document (GET /v1/audit/keys, as served) and optionally the stored record (GET /v1/assessments/{id}/record)
and a later checkpoint with a consistency proof from the receipt's.

Every problem is reported as `<where>: <what>`, `where` naming the receipt's field (`entries[0].body.action`) or the
check it breaks (`entries[1].inclusion`, `checkpoint`). Exit status: 0 verified, 1 does not verify, 2 could not
check (a file unreadable or not the documented format) — which is not evidence of tampering."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.audit.chain import BODY_FIELDS, OPTIONAL_BODY_FIELDS, body_hash, link_hash, record_digest, record_form
from app.receipts.commitments import COMMITMENTS_FORM, SALT_BYTES, assessment_commitments, row_commitments
from app.receipts.schemas import AssessmentRecord, Receipt, ReceiptEntry, StoredRow
from app.verifiable_log import merkle
from app.verifiable_log.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from app.verifiable_log.keys import LogKeyError, verifiers_of
from app.verifiable_log.note import InvalidSignatureError, NoteError, UnverifiedNoteError, Verifier, b64decode_canonical
from app.verifiable_log.schemas import CheckpointRead, ConsistencyProofRead, LogKeysDocument

EXIT_VERIFIED = 0
EXIT_DOES_NOT_VERIFY = 1
EXIT_COULD_NOT_CHECK = 2

CREATING_ACTIONS = ("assessment.create", "assessment.amend")
LATER_ACTIONS = {
    "assessment.override": "assessment_overrides",
    "assessment.entered_in_error": "assessment_entered_in_error",
}
ASSESSMENTS_TABLE = "assessments"

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Report:
    """The outcome: `out` is the summary when it verified, `problems` each failure as `where: what`."""

    exit_code: int
    out: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.exit_code == EXIT_VERIFIED


@dataclass(frozen=True)
class Against:
    """A later checkpoint of the same log (GET /v1/audit/checkpoint, as served) and the consistency proof from the
    receipt's tree size to its size (GET /v1/audit/proofs/consistency)."""

    checkpoint_json: str | bytes
    consistency_json: str | bytes


class CouldNotCheck(Exception):
    """An input is unreadable or not in its documented format."""


def verify_receipt(
    receipt_json: str | bytes,
    keys_json: str | bytes,
    record_json: str | bytes | None = None,
    against: Against | None = None,
) -> Report:
    """Check a receipt (and, when given, the record it commits to and its consistency with a later checkpoint)."""
    try:
        receipt = _parsed(Receipt, receipt_json, "receipt")
        keys = _parsed(LogKeysDocument, keys_json, "keys document")
        verifiers = _verifiers(keys)
        record = _parsed(AssessmentRecord, record_json, "record") if record_json is not None else None
        later = _parsed(CheckpointRead, against.checkpoint_json, "against") if against is not None else None
        proof = _parsed(ConsistencyProofRead, against.consistency_json, "consistency") if against is not None else None
    except CouldNotCheck as error:
        return Report(EXIT_COULD_NOT_CHECK, problems=[str(error)])

    checker = _Checker(receipt, keys.origin_prefix, verifiers)
    checkpoint = checker.check_checkpoint()
    checker.check_entries(checkpoint)
    if record is not None:
        checker.check_record(record)
    if later is not None and proof is not None:
        checker.check_against(checkpoint, later, proof)
    if checker.problems:
        return Report(EXIT_DOES_NOT_VERIFY, problems=checker.problems)
    return Report(EXIT_VERIFIED, out=checker.summary(record, later))


# --- reading the inputs --------------------------------------------------------------------------------------------


def _parsed(model: type[ModelT], content: str | bytes, what: str) -> ModelT:
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise CouldNotCheck(f"{what}: not JSON") from None
    if "format" in model.model_fields and (not isinstance(data, dict) or "format" not in data):
        raise CouldNotCheck(f"{what}.format: missing (not the documented format)")  # the model's default is no proof
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = _path(first["loc"])
        raise CouldNotCheck(
            f"{what}{'.' + where if where else ''}: {first['msg']} (not the documented format)"
        ) from None


def _verifiers(document: LogKeysDocument) -> list[Verifier]:
    try:
        verifiers = verifiers_of(document)
    except LogKeyError as error:
        raise CouldNotCheck(f"keys document: {error}") from None
    if not verifiers:
        raise CouldNotCheck("keys document: publishes no key")
    return verifiers


def _path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _hash_of(text: str) -> bytes | None:
    raw = b64decode_canonical(text)
    return raw if raw is not None and len(raw) == merkle.HASH_SIZE else None


# --- the checks ----------------------------------------------------------------------------------------------------


class _Checker:
    def __init__(self, receipt: Receipt, origin_prefix: str, verifiers: list[Verifier]) -> None:
        self.receipt = receipt
        self.origin_prefix = origin_prefix
        self.verifiers = verifiers
        self.problems: list[str] = []
        self.signed_by: list[str] = []

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def hashes(self, where: str, texts: Sequence[str]) -> list[bytes] | None:
        """A proof's hashes decoded; None (the first bad one reported) when one is not base64 of 32 bytes."""
        decoded: list[bytes] = []
        for position, text in enumerate(texts):
            value = _hash_of(text)
            if value is None:
                self.fail(f"{where}[{position}]", "is not standard base64 of 32 bytes")
                return None
            decoded.append(value)
        return decoded

    def check_checkpoint(self) -> Checkpoint | None:
        """The signed checkpoint, opened with the pinned keys under the receipt's origin; None if it does not open."""
        receipt = self.receipt
        if not receipt.origin.startswith(self.origin_prefix + "/"):
            self.fail("origin", f"is not a log of this deployment (origins start with {self.origin_prefix}/)")
        try:
            opened = open_checkpoint(receipt.checkpoint, self.verifiers, origin=receipt.origin)
        except InvalidSignatureError as error:
            self.fail("checkpoint", f"signature does not verify: {error}")
            return None
        except UnverifiedNoteError:
            self.fail("checkpoint", "signature: signed by none of the keys in the keys document")
            return None
        except NoteError as error:
            self.fail("checkpoint", f"not a signed checkpoint: {error}")
            return None
        except CheckpointError as error:
            self.fail("origin", f"does not match the checkpoint: {error}")
            return None
        self.signed_by = [f"{s.name}+{s.key_id:08x}" for s in opened.note.signatures]
        checkpoint = opened.checkpoint
        if receipt.tree_size != checkpoint.size:
            self.fail("tree_size", f"does not match the checkpoint (size {checkpoint.size})")
        if _hash_of(receipt.root_hash) != checkpoint.root_hash:
            self.fail("root_hash", "does not match the checkpoint's root hash")
        return checkpoint

    def check_entries(self, checkpoint: Checkpoint | None) -> None:
        entries = self.receipt.entries
        resource_ids = {_text(e.body.get("resource_id")) for e in entries}
        if len(resource_ids) == 1 and resource_ids != {self.receipt.assessment_id}:
            self.fail("assessment_id", f"is not the assessment the entries are about ({resource_ids.pop()})")
            resource_ids = set()  # reported once, not once per entry
        for index, entry in enumerate(entries):
            where = f"entries[{index}]"
            if index and entry.sequence <= entries[index - 1].sequence:
                self.fail(f"{where}.sequence", f"is not after entries[{index - 1}]'s ({entries[index - 1].sequence})")
            self._check_body(where, index, entry, check_resource=bool(resource_ids))
            self._check_chain_and_inclusion(where, entry, checkpoint)

    def _check_body(self, where: str, index: int, entry: ReceiptEntry, *, check_resource: bool) -> None:
        body = entry.body
        unknown = sorted(set(body) - set(BODY_FIELDS) - set(OPTIONAL_BODY_FIELDS))
        missing = [name for name in BODY_FIELDS if name not in body]
        for name in unknown:
            self.fail(f"{where}.body.{name}", "is not a field of an audit event")
        for name in missing:
            self.fail(f"{where}.body.{name}", "is missing")
        action = body.get("action")
        if index == 0 and action not in CREATING_ACTIONS:
            self.fail(f"{where}.body.action", f"the first entry must be one of {', '.join(CREATING_ACTIONS)}")
        if index > 0 and action not in LATER_ACTIONS:
            self.fail(f"{where}.body.action", f"a later entry must be one of {', '.join(LATER_ACTIONS)}")
        if check_resource and body.get("resource_id") != self.receipt.assessment_id:
            self.fail(f"{where}.body.resource_id", "is not the receipt's assessment_id")
        details = body.get("details")
        commitments = details.get("commitments") if isinstance(details, dict) else None
        if not isinstance(commitments, dict):
            self.fail(f"{where}.body.details.commitments", "missing: the event commits to nothing")
        elif commitments.get("form") != COMMITMENTS_FORM:
            self.fail(f"{where}.body.details.commitments.form", f"is not {COMMITMENTS_FORM}")
        if not isinstance(body.get("record_digest"), str):
            self.fail(f"{where}.body.record_digest", "missing")

    def _check_chain_and_inclusion(self, where: str, entry: ReceiptEntry, checkpoint: Checkpoint | None) -> None:
        try:
            chained = link_hash(entry.prev_hash, entry.sequence, body_hash(entry.body))
            leaf = merkle.leaf_hash(merkle.audit_entry(entry.sequence, entry.prev_hash, entry.hash, entry.body))
        except Exception as error:  # RFC 8785 refuses values JSON allows (NaN, huge integers) in several ways
            self.fail(f"{where}.body", f"cannot be hashed: {error}")
            return
        if chained != entry.hash:
            self.fail(where, "the chain hash is not SHA-256 over its prev_hash, sequence and body: one was changed")
        inclusion = entry.inclusion
        if inclusion.leaf_index != entry.sequence - 1:
            self.fail(f"{where}.inclusion.leaf_index", f"is not sequence - 1 ({entry.sequence - 1})")
        proof = self.hashes(f"{where}.inclusion.hashes", inclusion.hashes)
        if proof is None:
            return
        if checkpoint is None:
            return
        if entry.sequence > checkpoint.size:
            self.fail(f"{where}.sequence", f"is beyond the checkpoint's tree size ({checkpoint.size})")
            return
        if not merkle.verify_inclusion(leaf, entry.sequence - 1, checkpoint.size, proof, checkpoint.root_hash):
            self.fail(
                f"{where}.inclusion",
                "the proof does not lead from the entry's leaf (its sequence, prev_hash, hash and body) "
                "to the checkpoint's root",
            )

    # --- the record --------------------------------------------------------------------------------------------

    def check_record(self, record: AssessmentRecord) -> None:
        if record.assessment_id != self.receipt.assessment_id:
            self.fail("record.assessment_id", f"is not the receipt's assessment ({self.receipt.assessment_id})")
            return
        if not record.rows or record.rows[0].table != ASSESSMENTS_TABLE:
            self.fail("record.rows[0]", "must be the assessment row")
            return
        salts = [self._salt(f"record.rows[{k}].row.salt", row) for k, row in enumerate(record.rows)]
        if any(salt is None for salt in salts):
            return
        self._check_assessment_row(record.rows[0], salts[0])  # type: ignore[arg-type]
        self._check_later_rows(record.rows, salts)

    def _salt(self, where: str, stored: StoredRow) -> bytes | None:
        text = stored.row.get("salt")
        try:
            salt = bytes.fromhex(text) if isinstance(text, str) else None
        except ValueError:
            salt = None
        if salt is None or len(salt) != SALT_BYTES:
            self.fail(where, f"is not {SALT_BYTES * 2} hex digits")
            return None
        return salt

    def _check_assessment_row(self, stored: StoredRow, salt: bytes) -> None:
        row = {**stored.row, "salt": salt}
        if row.get("id") != self.receipt.assessment_id:
            self.fail("record.rows[0].row.id", "is not the receipt's assessment_id")
        entry = self.receipt.entries[0].body
        try:
            digest = record_digest(ASSESSMENTS_TABLE, row)
            expected = assessment_commitments(salt, row)
        except (KeyError, TypeError, ValueError) as error:
            self.fail("record.rows[0].row", f"is not an assessment row: {error}")
            return
        if entry.get("record_digest") != digest:
            self.fail("entries[0].body.record_digest", "does not match the record's assessment row")
        details = entry.get("details")
        committed = details.get("commitments") if isinstance(details, dict) else None
        if isinstance(committed, dict):
            self._compare_commitments("entries[0].body.details.commitments", committed, expected)

    def _compare_commitments(self, where: str, committed: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
        for name in sorted(set(committed) | set(expected)):
            if name not in expected:
                self.fail(f"{where}.{name}", "is not a commitment of this form")
            elif name not in committed:
                self.fail(f"{where}.{name}", "is missing")
            elif isinstance(expected[name], dict) and isinstance(committed[name], dict):
                self._compare_commitments(f"{where}.{name}", committed[name], expected[name])
            elif committed[name] != expected[name]:
                self.fail(f"{where}.{name}", "does not match the record")

    def _check_later_rows(self, rows: list[StoredRow], salts: list[bytes | None]) -> None:
        entries = self.receipt.entries
        unmatched = set(range(1, len(entries)))
        for k in range(1, len(rows)):
            stored, salt = rows[k], salts[k]
            assert salt is not None
            where = f"record.rows[{k}]"
            if stored.table == ASSESSMENTS_TABLE:
                self.fail(f"{where}.table", "only the first row is the assessment's")
                continue
            if stored.row.get("assessment_id") != self.receipt.assessment_id:
                self.fail(f"{where}.row.assessment_id", "is not the receipt's assessment_id")
            row = {**stored.row, "salt": salt}
            digest = record_digest(stored.table, row)
            matches = [i for i in sorted(unmatched) if entries[i].body.get("record_digest") == digest]
            if not matches:
                self.fail(where, "no later entry of the receipt records this row (by record digest)")
                continue
            index = matches[0]
            unmatched.discard(index)
            body = entries[index].body
            if LATER_ACTIONS.get(_text(body.get("action"))) != stored.table:
                self.fail(f"entries[{index}].body.action", f"does not record a row of {stored.table}")
            details = body.get("details")
            committed = details.get("commitments") if isinstance(details, dict) else None
            if isinstance(committed, dict):
                expected = row_commitments(salt, stored.table, record_form(stored.table, row))
                self._compare_commitments(f"entries[{index}].body.details.commitments", committed, expected)
        for index in sorted(unmatched):
            self.fail(f"entries[{index}].body.record_digest", "matches no row of the record")

    # --- a later checkpoint --------------------------------------------------------------------------------------

    def check_against(self, checkpoint: Checkpoint | None, later: CheckpointRead, proof: ConsistencyProofRead) -> None:
        try:
            newer = open_checkpoint(later.note, self.verifiers, origin=self.receipt.origin).checkpoint
        except UnverifiedNoteError:
            self.fail("against", "signed by none of the keys in the keys document")
            return
        except (NoteError, CheckpointError) as error:
            self.fail("against", f"not a signed checkpoint of the receipt's log: {error}")
            return
        if checkpoint is None:
            return  # the receipt's own checkpoint did not open: already reported
        if newer.size < checkpoint.size:
            self.fail("against", f"its tree size ({newer.size}) is smaller than the receipt's ({checkpoint.size})")
            return
        if proof.from_size != checkpoint.size or proof.to_size != newer.size:
            self.fail(
                "consistency",
                f"is a proof from {proof.from_size} to {proof.to_size}, not from the receipt's tree size "
                f"({checkpoint.size}) to the later checkpoint's ({newer.size})",
            )
            return
        hashes = self.hashes("consistency.hashes", proof.hashes)
        if hashes is None:
            return
        if not merkle.verify_consistency(checkpoint.size, newer.size, hashes, checkpoint.root_hash, newer.root_hash):
            self.fail(
                "consistency",
                f"the receipt's checkpoint (size {checkpoint.size}) is not a prefix of the later one (size "
                f"{newer.size}): the log was rewritten after the receipt was issued",
            )

    def summary(self, record: AssessmentRecord | None, later: CheckpointRead | None) -> list[str]:
        receipt = self.receipt
        lines = [
            f"receipt of assessment {receipt.assessment_id}: verified",
            f"  log {receipt.origin}, tree size {receipt.tree_size}, signed by {', '.join(self.signed_by)}",
        ]
        lines += [f"  {e.body['action']} (sequence {e.sequence})" for e in receipt.entries]
        if record is not None:
            lines.append(f"  record matches: {len(record.rows)} row(s) and their salts")
        if later is not None:
            lines.append(f"  consistent with the later checkpoint of tree size {later.tree_size}")
        return lines


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)
