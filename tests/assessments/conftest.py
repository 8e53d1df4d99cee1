"""Fixtures of the assessments API tests: shipped content seeded, and answer sets taken from its own tests."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.permissions import Role
from app.content import default_documents
from app.rulesets.seed import seed_default_content
from tests.conftest import Tenant

QUESTIONNAIRE = {"key": "online-exposure", "version": 1}
RULESET = {"key": "online-harm-england", "version": 1}


def _shipped_tests() -> dict[str, dict[str, Any]]:
    for kind, document in default_documents():
        if kind == "ruleset":
            return {t["name"]: t for t in document["tests"]}
    raise AssertionError("no shipped rule set")


SHIPPED_TESTS = _shipped_tests()


def answers(name_prefix: str) -> dict[str, Any]:
    """A copy of the answers of the shipped rule-set test whose name starts with `name_prefix`."""
    for name, test in SHIPPED_TESTS.items():
        if name.startswith(name_prefix):
            return copy.deepcopy(test["answers"])
    raise KeyError(name_prefix)


LOW = "Baseline: every answer no"
MEDIUM = "Band: total 4 is medium"
IMMEDIATE = "V3 financially motivated sextortion"


@pytest.fixture(autouse=True)
def seeded(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)


def new_body(subject_ref: str = "case-1", which: str = LOW, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "questionnaire": dict(QUESTIONNAIRE),
        "ruleset": dict(RULESET),
        "subject_ref": subject_ref,
        "answers": answers(which),
    }
    body.update(extra)
    return body


async def create(
    client: httpx.AsyncClient, tenant: Tenant, subject_ref: str = "case-1", which: str = LOW, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/assessments", json=new_body(subject_ref, which, **extra), headers=tenant.headers("assessor")
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def events(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    """The organisation's audit events about assessments (and refusals), oldest first, as an auditor reads them."""
    response = await client.get(
        "/v1/audit/events", params={"limit": 200, **params}, headers=tenant.headers(Role.auditor, acting_user="dpo")
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return [e for e in items if e["action"].startswith(("assessment.", "refused."))]
