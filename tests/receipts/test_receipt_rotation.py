"""A receipt issued before a key rotation verifies, years later, with the keys document published after it: the
old key retired (published, no longer signing) and the new one signing. Its checkpoint names the old key id; a keys
document without the old key refuses it. On both databases."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from app.main import create_app
from app.receipts.verify import EXIT_DOES_NOT_VERIFY, EXIT_VERIFIED
from app.rulesets.seed import seed_default_content
from app.verifiable_log import service as log_service
from app.verifiable_log.keys import new_signer_key
from app.verifiable_log.note import Signer, b64encode
from tests.conftest import SINGLE_ROLES, make_settings, make_tenant
from tests.receipts.verify_support import create_assessment, issue_receipt, keys_document, stored_record, verify
from tests.verifiable_log.log_support import add_events, advance


def test_a_receipt_from_before_a_rotation_verifies_with_the_old_key_id(database_url: str, tmp_path: Path) -> None:
    old, new = new_signer_key("riskapi-2026"), new_signer_key("riskapi-2027")
    old_verifier, new_verifier = Signer.from_key(old).verifier, Signer.from_key(new).verifier
    key_file = tmp_path / "log-keys"
    apps: list[FastAPI] = []
    try:
        key_file.write_text(f"{old}\n")
        before = create_app(make_settings(database_url, log_signing_key_file=key_file))
        apps.append(before)
        with before.state.sessionmaker.begin() as session:
            seed_default_content(session)
        tenant = make_tenant(before, *SINGLE_ROLES)
        assessment_id = create_assessment(before, tenant).json()["id"]
        receipt = issue_receipt(before, tenant, assessment_id)
        record = stored_record(before, assessment_id)
        keys_before = keys_document(before)

        key_file.write_text(f"{new}\n{old_verifier.key}\n")  # rotated: the old key retired
        after = create_app(make_settings(database_url, log_signing_key_file=key_file))
        apps.append(after)
        keys_after = keys_document(after)
        assert [(k["key_id"], k["status"]) for k in keys_after["keys"]] == [
            (f"{new_verifier.key_id:08x}", "signing"),
            (f"{old_verifier.key_id:08x}", "retired"),
        ]

        report = verify(receipt, keys_after, record)
        assert report.exit_code == EXIT_VERIFIED, report.problems
        assert report.out[1].endswith(f"signed by riskapi-2026+{old_verifier.key_id:08x}")

        only_new = {**keys_after, "keys": keys_after["keys"][:1]}
        refused = verify(receipt, only_new)
        assert refused.exit_code == EXIT_DOES_NOT_VERIFY
        assert refused.problems == ["checkpoint: signature: signed by none of the keys in the keys document"]

        # Across the rotation, the log the receipt is in still extends its checkpoint.
        add_events(after, tenant.organisation_id, 2)
        later_size = advance(after, tenant.organisation_id)
        with after.state.sessionmaker() as session:
            later = log_service.latest_checkpoint(session, tenant.organisation_id)
            proof = log_service.consistency_proof(session, tenant.organisation_id, receipt["tree_size"], later_size)
        later_json = {
            "origin": receipt["origin"],
            "tree_size": later.tree_size,
            "root_hash": b64encode(later.root_hash),
            "signed_at": later.signed_at.isoformat(),
            "note": later.note,
        }
        proof_json = {
            "from_size": proof.from_size,
            "to_size": proof.to_size,
            "hashes": [b64encode(h) for h in proof.hashes],
        }
        across = verify(receipt, keys_after, against=(later_json, proof_json))
        assert across.exit_code == EXIT_VERIFIED, across.problems
        assert verify(receipt, keys_before, against=(later_json, proof_json)).problems == [
            "against: signed by none of the keys in the keys document"
        ]
    finally:
        for made in apps:
            made.state.engine.dispose()
