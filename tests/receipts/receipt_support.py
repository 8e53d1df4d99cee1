"""Shared by the receipt and record API tests: an app that signs checkpoints with the test key, the shipped content
seeded, an assessment's lifecycle over HTTP, and a receipt checked with the pure verifiers alone."""

from __future__ import annotations

import json
from typing import Any

import httpx

from app.auth.permissions import Role
from app.receipts.verify import verify_receipt as verify
from app.verifiable_log.schemas import LogKeysDocument
from tests.conftest import Tenant

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
    """The receipt passes `riskapi receipt verify`'s checks (app/receipts/verify.py) with the published keys."""
    report = verify(json.dumps(receipt).encode(), keys.model_dump_json().encode())
    assert report.exit_code == 0, report.problems


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
