"""A receipt issued before a whole-log rewrite (tests/verifiable_log/test_history_rewrite.py's attack: the case row,
its event, every later link, the tree and the checkpoints, all consistent) still verifies on its own, and fails
`--against` the rewritten log's checkpoint with a consistency proof from the server; unrewritten, the same check
passes. On both databases."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.permissions import Role
from app.receipts.verify import EXIT_DOES_NOT_VERIFY, EXIT_VERIFIED
from app.verifiable_log import merkle
from app.verifiable_log.note import b64encode
from app.verifiable_log.repository import DbNodeStore
from tests.conftest import Tenant
from tests.receipts.verify_support import issue_receipt, keys_document, stored_record, verify
from tests.verifiable_log.log_support import add_events, advance
from tests.verifiable_log.monitor_support import BASE, through
from tests.verifiable_log.test_history_rewrite import create_assessments, rewrite_history


def served_checkpoint(app: FastAPI, tenant: Tenant) -> dict[str, Any]:
    with httpx.Client(transport=through(app), base_url=BASE) as http:
        response = http.get("/v1/audit/checkpoint", headers=tenant.headers(Role.monitor, acting_user=None))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def served_consistency(app: FastAPI, tenant: Tenant, from_size: int, to_size: int) -> dict[str, Any]:
    with httpx.Client(transport=through(app), base_url=BASE) as http:
        response = http.get(
            "/v1/audit/proofs/consistency",
            params={"from": from_size, "to": to_size},
            headers=tenant.headers(Role.monitor, acting_user=None),
        )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def computed_consistency(app: FastAPI, tenant: Tenant, from_size: int, to_size: int) -> dict[str, Any]:
    """The proof the rewritten tree's storage gives, when the server has no checkpoint at `from_size` to serve one."""
    with app.state.sessionmaker() as session:
        hashes = merkle.consistency_proof(DbNodeStore(session, tenant.organisation_id), from_size, to_size)
    return {"from_size": from_size, "to_size": to_size, "hashes": [b64encode(h) for h in hashes]}


@pytest.mark.parametrize("keep_checkpoints", [False, True], ids=["checkpoints-deleted", "checkpoints-kept"])
def test_a_receipt_from_before_a_rewrite_verifies_alone_but_not_against_the_rewritten_log(
    app: FastAPI, tenant: Tenant, keep_checkpoints: bool
) -> None:
    created = create_assessments(app, tenant)
    assessment_id = created[0]["id"]
    receipt = issue_receipt(app, tenant, assessment_id)
    keys, record = keys_document(app), stored_record(app, assessment_id)
    assert verify(receipt, keys, record).exit_code == EXIT_VERIFIED

    rewrite_history(app, tenant, assessment_id, keep_checkpoints=keep_checkpoints)
    add_events(app, tenant.organisation_id, 2)
    later_size = advance(app, tenant.organisation_id)
    later = served_checkpoint(app, tenant)
    assert later["tree_size"] == later_size > receipt["tree_size"]

    alone = verify(receipt, keys)
    assert alone.exit_code == EXIT_VERIFIED, alone.problems  # the attacker cannot touch what the holder keeps

    if keep_checkpoints:
        proof = served_consistency(app, tenant, receipt["tree_size"], later_size)
    else:
        proof = computed_consistency(app, tenant, receipt["tree_size"], later_size)
    against = verify(receipt, keys, against=(later, proof))
    assert against.exit_code == EXIT_DOES_NOT_VERIFY
    assert against.problems == [
        f"consistency: the receipt's checkpoint (size {receipt['tree_size']}) is not a prefix of the later one "
        f"(size {later_size}): the log was rewritten after the receipt was issued"
    ]

    rewritten_record = verify(receipt, keys, stored_record(app, assessment_id))
    assert rewritten_record.problems[:2] == [
        "entries[0].body.record_digest: does not match the record's assessment row",
        "entries[0].body.details.commitments.result: does not match the record",
    ]


def test_without_a_rewrite_the_receipt_is_consistent_with_the_later_checkpoint(app: FastAPI, tenant: Tenant) -> None:
    created = create_assessments(app, tenant)
    receipt = issue_receipt(app, tenant, created[0]["id"])
    keys = keys_document(app)
    add_events(app, tenant.organisation_id, 2)
    later_size = advance(app, tenant.organisation_id)
    later = served_checkpoint(app, tenant)
    proof = served_consistency(app, tenant, receipt["tree_size"], later_size)
    report = verify(receipt, keys, stored_record(app, created[0]["id"]), against=(later, proof))
    assert report.exit_code == EXIT_VERIFIED, report.problems
    assert report.out[-1] == f"  consistent with the later checkpoint of tree size {later_size}"

    wrong_sizes = verify(receipt, keys, against=(later, {**proof, "from_size": receipt["tree_size"] - 1}))
    assert wrong_sizes.problems[0].startswith("consistency: is a proof from ")
    older = served_consistency(app, tenant, receipt["tree_size"], receipt["tree_size"])
    receipt_checkpoint = {**later, "tree_size": receipt["tree_size"], "note": receipt["checkpoint"]}
    assert verify(receipt, keys, against=(receipt_checkpoint, older)).exit_code == EXIT_VERIFIED
