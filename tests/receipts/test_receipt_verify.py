"""`riskapi receipt verify` on real receipts, on both databases: a receipt of a created assessment, its override and
its entered-in-error mark verifies offline with the published keys and the stored record; a record that is not the
one committed to, a foreign key, and files that are not the documented formats are refused, each with its exit
status."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from app.auth.permissions import Role
from app.cli import cli
from app.receipts.verify import EXIT_COULD_NOT_CHECK, EXIT_DOES_NOT_VERIFY, EXIT_VERIFIED
from app.verifiable_log.keys import LogKeys
from app.verifiable_log.note import Signer, generate_signer
from tests.assessments.conftest import MEDIUM, answers
from tests.conftest import Tenant
from tests.receipts.verify_support import (
    create_assessment,
    issue_receipt,
    keys_document,
    mark_entered_in_error,
    override,
    post,
    stored_record,
    verify,
)


@pytest.fixture
def issued(app: FastAPI, tenant: Tenant) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A receipt of an assessment with an override and an entered-in-error mark, the keys and the stored record."""
    created = create_assessment(app, tenant, which=MEDIUM).json()
    create_assessment(app, tenant, subject_ref="case-2")  # another event in between
    override(app, tenant, created["id"])
    mark_entered_in_error(app, tenant, created["id"])
    return issue_receipt(app, tenant, created["id"]), keys_document(app), stored_record(app, created["id"])


def test_a_receipt_with_its_override_and_mark_verifies_with_and_without_the_record(
    issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    receipt, keys, record = issued
    alone = verify(receipt, keys)
    assert alone.exit_code == EXIT_VERIFIED, alone.problems
    assert alone.out[0] == f"receipt of assessment {receipt['assessment_id']}: verified"
    assert alone.out[1].startswith(
        f"  log {receipt['origin']}, tree size {receipt['tree_size']}, signed by riskapi-test+"
    )
    sequences = [e["sequence"] for e in receipt["entries"]]
    assert alone.out[2:] == [
        f"  assessment.create (sequence {sequences[0]})",
        f"  assessment.override (sequence {sequences[1]})",
        f"  assessment.entered_in_error (sequence {sequences[2]})",
    ]
    with_record = verify(receipt, keys, record)
    assert with_record.exit_code == EXIT_VERIFIED, with_record.problems
    assert with_record.out[-1] == "  record matches: 3 row(s) and their salts"


def test_a_receipt_of_an_amended_revision_starts_with_its_amend_event(app: FastAPI, tenant: Tenant) -> None:
    created = create_assessment(app, tenant).json()
    amended = post(
        app, tenant, f"/v1/assessments/{created['id']}/revisions", {"answers": answers(MEDIUM)}, Role.supervisor
    ).json()
    receipt = issue_receipt(app, tenant, amended["id"])
    report = verify(receipt, keys_document(app), stored_record(app, amended["id"]))
    assert report.exit_code == EXIT_VERIFIED, report.problems
    assert report.out[2].startswith("  assessment.amend (sequence ")


def test_a_record_other_than_the_one_committed_to_does_not_verify(
    app: FastAPI, tenant: Tenant, issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
) -> None:
    receipt, keys, record = issued
    commitments = "entries[0].body.details.commitments"

    def problems(change: Any) -> list[str]:
        edited = copy.deepcopy(record)
        change(edited)
        report = verify(receipt, keys, edited)
        assert report.exit_code == EXIT_DOES_NOT_VERIFY
        return report.problems

    def answer_flipped(r: dict[str, Any]) -> None:
        name = next(iter(r["rows"][0]["row"]["answers"]))
        r["rows"][0]["row"]["answers"][name] = "guess"

    def level_changed(r: dict[str, Any]) -> None:
        r["rows"][0]["row"]["result"]["computed_level"] = "low"

    def ruleset_changed(r: dict[str, Any]) -> None:
        r["rows"][0]["row"]["ruleset_version"] = 2

    def salt_changed(r: dict[str, Any]) -> None:
        r["rows"][0]["row"]["salt"] = "00" * 32

    def override_rationale_changed(r: dict[str, Any]) -> None:
        r["rows"][1]["row"]["rationale"] = "something else"

    def mark_dropped(r: dict[str, Any]) -> None:
        del r["rows"][2]

    assert problems(answer_flipped) == [
        "entries[0].body.record_digest: does not match the record's assessment row",
        f"{commitments}.inputs: does not match the record",
    ]
    assert problems(level_changed)[1:] == [f"{commitments}.result: does not match the record"]
    assert problems(ruleset_changed)[1:] == [f"{commitments}.ruleset.version: does not match the record"]
    assert problems(salt_changed)[1:] == [
        f"{commitments}.inputs: does not match the record",
        f"{commitments}.result: does not match the record",
    ]
    assert problems(override_rationale_changed) == [
        "record.rows[1]: no later entry of the receipt records this row (by record digest)",
        "entries[1].body.record_digest: matches no row of the record",
    ]
    assert problems(mark_dropped) == ["entries[2].body.record_digest: matches no row of the record"]

    other = create_assessment(app, tenant, subject_ref="case-3").json()
    foreign = verify(receipt, keys, stored_record(app, other["id"]))
    assert foreign.problems == [f"record.assessment_id: is not the receipt's assessment ({receipt['assessment_id']})"]


def test_a_checkpoint_signed_by_a_key_not_in_the_keys_document_does_not_verify(
    issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    receipt, keys, _ = issued
    other_signer, _ = generate_signer("riskapi-test")  # same name, another key
    other_keys = json.loads(
        LogKeys(keys["origin_prefix"], (Signer.from_key(other_signer),), ()).document().model_dump_json()
    )
    report = verify(receipt, other_keys)
    assert report.exit_code == EXIT_DOES_NOT_VERIFY
    assert report.problems == ["checkpoint: signature: signed by none of the keys in the keys document"]

    elsewhere = {**keys, "origin_prefix": "riskapi.example.org/audit"}
    report = verify(receipt, elsewhere)
    assert report.problems[0].startswith("origin: is not a log of this deployment")


def test_the_command_end_to_end(issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]], tmp_path: Path) -> None:
    receipt, keys, record = issued
    files = {name: tmp_path / f"{name}.json" for name in ("receipt", "keys", "record", "bad", "tampered")}
    files["receipt"].write_text(json.dumps(receipt))
    files["keys"].write_text(json.dumps(keys))
    files["record"].write_text(json.dumps(record))
    files["bad"].write_text("{not json")
    tampered = copy.deepcopy(receipt)
    tampered["entries"][0]["body"]["details"]["commitments"]["result"] = "0" * 64
    files["tampered"].write_text(json.dumps(tampered))
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["receipt", "verify", *args])

    ok = run(str(files["receipt"]), "--public-key", str(files["keys"]), "--record", str(files["record"]))
    assert ok.exit_code == EXIT_VERIFIED, ok.output
    assert f"receipt of assessment {receipt['assessment_id']}: verified" in ok.stdout
    assert "record matches" in ok.stdout

    bad = run(str(files["tampered"]), "--public-key", str(files["keys"]), "--record", str(files["record"]))
    assert bad.exit_code == EXIT_DOES_NOT_VERIFY, bad.output
    assert "entries[0].body.details.commitments.result: does not match the record" in bad.stderr
    assert "The receipt does NOT verify." in bad.stderr

    unreadable = run(str(tmp_path / "missing.json"), "--public-key", str(files["keys"]))
    assert unreadable.exit_code == EXIT_COULD_NOT_CHECK, unreadable.output
    assert "cannot read" in unreadable.stderr
    not_json = run(str(files["bad"]), "--public-key", str(files["keys"]))
    assert not_json.exit_code == EXIT_COULD_NOT_CHECK
    assert "receipt: not JSON" in not_json.stderr
    swapped = run(str(files["keys"]), "--public-key", str(files["receipt"]))
    assert swapped.exit_code == EXIT_COULD_NOT_CHECK
    assert "(not the documented format)" in swapped.stderr
    lonely = run(str(files["receipt"]), "--public-key", str(files["keys"]), "--against", str(files["keys"]))
    assert lonely.exit_code == EXIT_COULD_NOT_CHECK
    assert "--against and --consistency go together" in lonely.stderr


def test_a_receipt_of_another_format_version_is_refused_as_unreadable(
    issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    receipt, keys, _ = issued
    report = verify({**receipt, "format": "riskapi.receipt.v2"}, keys)
    assert report.exit_code == EXIT_COULD_NOT_CHECK
    assert report.problems[0].startswith("receipt.format: ")
    report = verify({**receipt, "extra": 1}, keys)
    assert report.exit_code == EXIT_COULD_NOT_CHECK
    assert report.problems[0].startswith("receipt.extra: ")
