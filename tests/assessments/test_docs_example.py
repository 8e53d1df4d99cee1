"""The README's curl example posts docs/examples/assessment-request.json: keep it a valid, LOW assessment."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import Tenant

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "assessment-request.json"


async def test_the_readme_example_request_is_scored_low(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/assessments",
        content=EXAMPLE.read_bytes(),
        headers={**tenant.headers("assessor"), "Content-Type": "application/json", "Idempotency-Key": "7f1c2a"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["level"] == "low"
    assert body["ruleset"]["key"] == "online-harm-england"  # the organisation's current rule set, echoed back
    assert response.headers["location"] == f"/v1/assessments/{body['id']}"
    assert json.loads(EXAMPLE.read_text())["subject_ref"] == body["subject_ref"]
