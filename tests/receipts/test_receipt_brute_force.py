"""Brute force, as the issue states it: from a receipt alone nobody can test guesses about the answers. The values a
guesser could recompute from a guessed row (the version 1 record digest, the unsalted response digest, SHA-256 of
the canonical answers, of the inputs document and of the result) appear nowhere in the receipt, in hex or base64.
The same check run against the event form before receipts (record digest version 1, the ETag as the digest, no
commitments) finds them: it is a check that can fail. On both databases."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

from fastapi import FastAPI

from app.audit.chain import digest, record_digest
from app.core.canonical_json import canonical
from app.receipts.commitments import inputs_document, response_commitment
from app.receipts.verify import EXIT_VERIFIED
from tests.assessments.conftest import MEDIUM
from tests.conftest import Tenant
from tests.receipts.verify_support import (
    create_assessment,
    issue_receipt,
    keys_document,
    override,
    stored_record,
    verify,
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def guessable(record: dict[str, Any], etags: list[str]) -> dict[str, str]:
    """What someone holding the true row (or guessing it) can compute without its salt."""
    assessment = record["rows"][0]["row"]
    unsalted = {row["table"]: {k: v for k, v in row["row"].items() if k != "salt"} for row in record["rows"]}
    values = {
        "version 1 record digest": record_digest("assessments", unsalted["assessments"]),
        "version 1 record digest of the override": record_digest(
            "assessment_overrides", unsalted["assessment_overrides"]
        ),
        "SHA-256 of the canonical answers": sha256(canonical(assessment["answers"])),
        "SHA-256 of the canonical result": sha256(canonical(assessment["result"])),
        "SHA-256 of the canonical inputs": sha256(
            canonical(
                inputs_document(
                    assessment["questionnaire_key"],
                    assessment["questionnaire_version"],
                    assessment["questionnaire_hash"],
                    assessment["answers"],
                )
            )
        ),
    }
    values |= {f"unsalted response digest {n}": etag.strip('"') for n, etag in enumerate(etags)}
    return values


def found(text: str, values: dict[str, str]) -> list[str]:
    """Which of `values` appear in `text`, as hex or as standard base64."""
    return [
        name
        for name, value in values.items()
        if value in text or base64.b64encode(bytes.fromhex(value)).decode() in text
    ]


def old_event_form(receipt: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The receipt's events as they were written before this issue: version 1 record digests, the response's ETag
    digest unsalted, no commitments."""
    old = copy.deepcopy(receipt)
    for index, entry in enumerate(old["entries"]):
        body = entry["body"]
        body["details"].pop("commitments")
        body["record_digest"] = values["version 1 record digest" + ("" if index == 0 else " of the override")]
        body["digest"] = values[f"unsalted response digest {index}"]
    return old


def test_nothing_a_guesser_can_recompute_appears_in_the_receipt(app: FastAPI, tenant: Tenant) -> None:
    created = create_assessment(app, tenant, which=MEDIUM)
    overridden = override(app, tenant, created.json()["id"])
    assessment_id = created.json()["id"]
    receipt, record = issue_receipt(app, tenant, assessment_id), stored_record(app, assessment_id)
    assert verify(receipt, keys_document(app), record).exit_code == EXIT_VERIFIED  # the true row, with its salt
    # The response digest is the ETag (for the create) and the same SHA-256 of the response's JSON for the override.
    assert created.headers["ETag"] == f'"{digest(created.json())}"'
    values = guessable(record, [created.headers["ETag"], digest(overridden.json())])
    for index, entry in enumerate(receipt["entries"]):  # these are the digests the events commit to, salted
        salt = bytes.fromhex(record["rows"][index]["row"]["salt"])
        assert entry["body"]["digest"] == response_commitment(salt, values[f"unsalted response digest {index}"])

    text = json.dumps(receipt)
    assert found(text, values) == []
    answer_names = record["rows"][0]["row"]["answers"]
    assert [name for name in answer_names if name in text] == []

    old_text = json.dumps(old_event_form(receipt, values))
    assert found(old_text, values) == [
        "version 1 record digest",
        "version 1 record digest of the override",
        "unsalted response digest 0",
        "unsalted response digest 1",
    ]
