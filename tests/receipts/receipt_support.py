"""Shared by the receipt and record API tests: an app that signs checkpoints with the test key, the shipped content
seeded, an assessment's lifecycle over HTTP, and a receipt checked with the pure verifiers alone."""

from __future__ import annotations

from typing import Any

import httpx

from app.audit import chain
from app.auth.permissions import Role
from app.verifiable_log import merkle
from app.verifiable_log.checkpoint import open_checkpoint
from app.verifiable_log.keys import verifiers_of
from app.verifiable_log.schemas import LogKeysDocument
from tests.conftest import Tenant
from tests.verifiable_log.log_support import b64

PROBLEM = "application/problem+json"


async def get_receipt(
    client: httpx.AsyncClient, tenant: Tenant, assessment_id: str, role: Role = Role.auditor
) -> dict[str, Any]:
    response = await client.get(f"/v1/assessments/{assessment_id}/receipt", headers=tenant.headers(role))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_record(
    client: httpx.AsyncClient, tenant: Tenant, assessment_id: str, role: Role = Role.assessor
) -> dict[str, Any]:
    response = await client.get(f"/v1/assessments/{assessment_id}/record", headers=tenant.headers(role))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def override(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str, level: str = "high") -> None:
    response = await client.post(
        f"/v1/assessments/{assessment_id}/override",
        json={"level": level, "rationale": "Disclosed more at the second visit"},
        headers=tenant.headers(Role.supervisor),
    )
    assert response.status_code == 201, response.text


async def mark_in_error(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str) -> None:
    response = await client.post(
        f"/v1/assessments/{assessment_id}/entered-in-error",
        json={"reason": "Recorded against the wrong child"},
        headers=tenant.headers(Role.supervisor),
    )
    assert response.status_code == 201, response.text


def verify_receipt(receipt: dict[str, Any], keys: LogKeysDocument) -> None:
    """What an offline verifier checks, with the pure functions only: the note opens with the published keys under
    the receipt's origin and states its size and root; every entry's chain hash is its fields' and its leaf,
    recomputed from them, is in the tree at that root. Raises (or fails an assert) otherwise."""
    assert receipt["format"] == "riskapi.receipt.v1"
    assert receipt["origin"].startswith(keys.origin_prefix + "/")
    opened = open_checkpoint(receipt["checkpoint"], verifiers_of(keys), origin=receipt["origin"]).checkpoint
    root = b64(receipt["root_hash"])
    assert (opened.size, opened.root_hash) == (receipt["tree_size"], root)
    for entry in receipt["entries"]:
        assert entry["hash"] == chain.link_hash(entry["prev_hash"], entry["sequence"], chain.body_hash(entry["body"]))
        leaf = merkle.leaf_hash(merkle.audit_entry(entry["sequence"], entry["prev_hash"], entry["hash"], entry["body"]))
        proof = [b64(h) for h in entry["inclusion"]["hashes"]]
        assert entry["inclusion"]["leaf_index"] == entry["sequence"] - 1
        assert merkle.verify_inclusion(leaf, entry["inclusion"]["leaf_index"], opened.size, proof, root), entry


def actions(receipt: dict[str, Any]) -> list[str]:
    return [entry["body"]["action"] for entry in receipt["entries"]]


async def audit_events(client: httpx.AsyncClient, tenant: Tenant, action: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/audit/events",
        params={"limit": 200, "action": action},
        headers=tenant.headers(Role.auditor, acting_user="dpo"),
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
