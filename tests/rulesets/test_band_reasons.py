"""Bands need a reason and a source: checked when a draft or a document is validated or published; a version
published before the check existed still compiles, scores and validates (published versions are exempt)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.auth.permissions import Role
from app.rulesets import service
from tests.conftest import Tenant
from tests.rulesets.factories import YAML, ruleset_yaml
from tests.rulesets.test_rulesets_api import draft_ruleset, publish_questionnaire

R = Role
RULES = "/v1/rulesets/band-rules/versions/1"
MEDIUM_BAND = '{score: total, gte: 2, lt: 4, level: medium, reason: "Medium total", source: "S3", actions: [talk]}'


def without_band_reason() -> str:
    text = ruleset_yaml("band-check")
    assert MEDIUM_BAND in text
    return text.replace(MEDIUM_BAND, "{score: total, gte: 2, lt: 4, level: medium, actions: [talk]}")


async def test_a_draft_band_without_reason_or_source_is_refused_at_validate_and_publish(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    await publish_questionnaire(client, tenant, "band-check")
    author = {**tenant.headers(R.rule_author), **YAML}
    posted = (await client.post("/v1/rulesets/validate", content=without_band_reason(), headers=author)).json()
    assert posted["valid"] is False
    assert {(e["pointer"], e["detail"]) for e in posted["errors"]} == {
        ("/bands/1", "a band needs a reason (plain text for a professional)"),
        ("/bands/1", "a band needs a source (citation tag)"),
    }
    assert posted["tests"]  # the rest is still checked and the embedded tests run
    assert all(test["passed"] for test in posted["tests"])
    assert (await draft_ruleset(client, tenant, "band-rules", without_band_reason())).status_code == 201
    report = (await client.post(f"{RULES}/validate", headers=tenant.headers(R.rule_author))).json()
    assert report["valid"] is False
    assert {e["pointer"] for e in report["errors"]} == {"/bands/1"}
    refused = await client.post(f"{RULES}/publish", headers=tenant.headers(R.rule_publisher))
    assert refused.status_code == 422, refused.text
    assert {e["pointer"] for e in refused.json()["errors"]} == {"/bands/1"}


async def test_a_version_published_before_the_check_still_compiles_scores_and_validates(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish_questionnaire(client, tenant, "band-check")
    assert (await draft_ruleset(client, tenant, "band-rules", without_band_reason())).status_code == 201
    with monkeypatch.context() as before_the_check:
        before_the_check.setattr(service, "authoring_issues", lambda _ruleset: [])
        published = await client.post(f"{RULES}/publish", headers=tenant.headers(R.rule_publisher))
    assert published.status_code == 200, published.text
    answers = {"child_age_years": 14, "contact_stranger": "yes", "shared_images": "no"}
    evaluated = await client.post(f"{RULES}/evaluate", json={"answers": answers}, headers=tenant.headers(R.assessor))
    assert evaluated.status_code == 200, evaluated.text
    assert evaluated.json()["computed_level"] == "medium"
    assert [r["rule_id"] for r in evaluated.json()["reasons"]] == ["stranger"]  # the band has no reason to give
    report = (await client.post(f"{RULES}/validate", headers=tenant.headers(R.rule_author))).json()
    assert report["valid"] is True, report
