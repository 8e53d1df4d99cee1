"""Shared by the receipt verifier's tests: assessments written through the API of a signing app, their receipts
built by the service, the stored record read from the tables (as GET /v1/assessments/{id}/record returns it), and
`riskapi receipt verify` run on the JSON of all three."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

import httpx
from fastapi import FastAPI
from sqlalchemy import Table, select

from app.assessments.models import Assessment, AssessmentEnteredInError, AssessmentOverride
from app.audit.chain import timestamp
from app.auth.permissions import Role
from app.core.db import utcnow
from app.receipts.schemas import RECORD_FORMAT
from app.receipts.service import build_receipt
from app.receipts.verify import Against, Report, verify_receipt
from tests.assessments.conftest import LOW, new_body
from tests.conftest import Tenant
from tests.verifiable_log.monitor_support import BASE, through

ASSESSMENTS = cast(Table, Assessment.__table__)
OVERRIDES = cast(Table, AssessmentOverride.__table__)
ERRORS = cast(Table, AssessmentEnteredInError.__table__)


def post(app: FastAPI, tenant: Tenant, path: str, body: dict[str, Any], role: Role) -> httpx.Response:
    with httpx.Client(transport=through(app), base_url=BASE) as http:
        response = http.post(path, json=body, headers=tenant.headers(role))
    assert response.status_code == 201, response.text
    return response


def create_assessment(app: FastAPI, tenant: Tenant, subject_ref: str = "case-1", which: str = LOW) -> httpx.Response:
    return post(app, tenant, "/v1/assessments", new_body(subject_ref, which), Role.assessor)


def override(app: FastAPI, tenant: Tenant, assessment_id: str, level: str = "high") -> httpx.Response:
    body = {"level": level, "rationale": "new disclosure"}
    return post(app, tenant, f"/v1/assessments/{assessment_id}/override", body, Role.supervisor)


def mark_entered_in_error(app: FastAPI, tenant: Tenant, assessment_id: str) -> httpx.Response:
    body = {"reason": "wrong child"}
    return post(app, tenant, f"/v1/assessments/{assessment_id}/entered-in-error", body, Role.supervisor)


def issue_receipt(app: FastAPI, tenant: Tenant, assessment_id: str) -> dict[str, Any]:
    """The receipt as the route serves it (JSON data)."""
    with app.state.sessionmaker.begin() as session:
        receipt = build_receipt(session, tenant.organisation_id, assessment_id, app.state.log_keys, utcnow())
    data: dict[str, Any] = json.loads(receipt.model_dump_json())
    return data


def _stored(row: Any) -> dict[str, Any]:
    return {
        name: timestamp(value) if isinstance(value, datetime) else value.hex() if isinstance(value, bytes) else value
        for name, value in dict(row).items()
    }


def stored_record(app: FastAPI, assessment_id: str) -> dict[str, Any]:
    """The `riskapi.assessment-record.v1` document of the assessment: every stored column, times as the chain
    writes them, salts in hex."""
    with app.state.sessionmaker() as session:
        assessment = session.execute(select(ASSESSMENTS).where(ASSESSMENTS.c.id == assessment_id)).mappings().one()
        overrides = session.execute(
            select(OVERRIDES).where(OVERRIDES.c.assessment_id == assessment_id).order_by(OVERRIDES.c.id)
        ).mappings()
        marks = session.execute(select(ERRORS).where(ERRORS.c.assessment_id == assessment_id)).mappings()
        rows = [{"table": ASSESSMENTS.name, "row": _stored(assessment)}]
        rows += [{"table": OVERRIDES.name, "row": _stored(row)} for row in overrides]
        rows += [{"table": ERRORS.name, "row": _stored(row)} for row in marks]
    return {"format": RECORD_FORMAT, "assessment_id": assessment_id, "rows": rows}


def keys_document(app: FastAPI) -> dict[str, Any]:
    """GET /v1/audit/keys, as served."""
    with httpx.Client(transport=through(app), base_url=BASE) as http:
        response = http.get("/v1/audit/keys")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def dumps(document: object) -> bytes:
    return json.dumps(document).encode()


def verify(
    receipt: dict[str, Any],
    keys: dict[str, Any],
    record: dict[str, Any] | None = None,
    against: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> Report:
    return verify_receipt(
        dumps(receipt),
        dumps(keys),
        dumps(record) if record is not None else None,
        Against(dumps(against[0]), dumps(against[1])) if against is not None else None,
    )
