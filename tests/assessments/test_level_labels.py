"""Every read of a result carries `level_label` and `computed_level_label`, rendered from the rule-set version that
scored it (its `level_labels`, else the id made readable) and never stored with the result."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.assessments import service as assessments_service
from app.assessments.models import Assessment
from app.auth.permissions import Role
from app.rulesets import service as rulesets_service
from app.scoring.labels import level_label
from app.scoring.models import RuleSet
from tests.assessments.conftest import create
from tests.conftest import Tenant
from tests.rulesets.factories import QUESTIONNAIRE_YAML, YAML, ruleset_yaml

R = Role
RULES = "/v1/rulesets/label-rules/versions"
LABELS_V1 = """level_labels:
  low: {label: "No concern", description: "Nothing to act on."}
  high: {label: "Refer today"}
"""
LABELS_V2 = """level_labels:
  low: {label: "Universal"}
  medium: {label: "Targeted"}
  high: {label: "Specialist"}
"""
STRANGER = {"child_age_years": 14, "contact_stranger": "yes", "shared_images": "no"}
QUIET = {"child_age_years": 15, "contact_stranger": "no", "shared_images": "no"}


def test_a_label_is_declared_or_made_from_the_id() -> None:
    ruleset = RuleSet.model_validate(
        {
            "key": "rules",
            "version": 1,
            "title": "R",
            "questionnaire": {"key": "questions", "version": 1},
            "levels": ["low", "category_1", "probable_depression"],
            "level_labels": {"low": {"label": "Nothing to note"}},
            "disclaimer": "d",
        }
    )
    assert [level_label(ruleset, level) for level in ruleset.levels] == [
        "Nothing to note",
        "Category 1",
        "Probable depression",
    ]


async def publish_labelled_rule_sets(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """Questionnaire `label-check` v1 and rule set `label-rules` v1 (current) and v2 (published), labelled."""
    author = {**tenant.headers(R.rule_author), **YAML}
    publisher = tenant.headers(R.rule_publisher)
    await client.post("/v1/questionnaires/label-check/versions", content=QUESTIONNAIRE_YAML, headers=author)
    assert (await client.post("/v1/questionnaires/label-check/versions/1/publish", headers=publisher)).is_success
    for labels in (LABELS_V1, LABELS_V2):
        created = await client.post(RULES, content=ruleset_yaml("label-check") + labels, headers=author)
        assert created.status_code == 201, created.text
    for version in (1, 2):
        published = await client.post(
            f"{RULES}/{version}/publish", json={"make_current": version == 1}, headers=publisher
        )
        assert published.status_code == 200, published.text


async def assess_labelled(client: httpx.AsyncClient, tenant: Tenant, answers: dict[str, Any], version: int = 1) -> dict:
    body = {
        "questionnaire": {"key": "label-check"},
        "ruleset": {"key": "label-rules", "version": version},
        "subject_ref": "case-labels",
        "answers": answers,
    }
    response = await client.post("/v1/assessments", json=body, headers=tenant.headers(R.assessor))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _labels(result: dict[str, Any]) -> tuple[str, str, str, str]:
    return result["level"], result["level_label"], result["computed_level"], result["computed_level_label"]


async def test_every_read_of_an_assessment_carries_its_versions_labels(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await publish_labelled_rule_sets(client, tenant)
    quiet = await assess_labelled(client, tenant, QUIET)
    assert _labels(quiet) == ("low", "No concern", "low", "No concern")
    stranger = await assess_labelled(client, tenant, STRANGER)
    assert _labels(stranger) == ("medium", "Medium", "medium", "Medium")  # no label declared: made from the id

    read = (await client.get(f"/v1/assessments/{stranger['id']}", headers=tenant.headers(R.assessor))).json()
    assert _labels(read) == _labels(stranger)

    overridden = await client.post(
        f"/v1/assessments/{stranger['id']}/override",
        json={"level": "high", "rationale": "Further contact"},
        headers=tenant.headers(R.supervisor),
    )
    assert overridden.status_code == 201, overridden.text
    assert _labels(overridden.json()) == ("high", "Refer today", "medium", "Medium")

    amended = await client.post(
        f"/v1/assessments/{quiet['id']}/revisions",
        json={"answers": QUIET, "ruleset": {"key": "label-rules", "version": 2}},
        headers=tenant.headers(R.assessor),
    )
    assert amended.status_code == 201, amended.text
    assert _labels(amended.json()) == ("low", "Universal", "low", "Universal")
    chain = (await client.get(f"/v1/assessments/{quiet['id']}/revisions", headers=tenant.headers(R.assessor))).json()
    assert [item["level_label"] for item in chain["items"]] == ["No concern", "Universal"]

    listed = (
        await client.get("/v1/assessments", params={"include_superseded": True}, headers=tenant.headers(R.assessor))
    ).json()
    assert {item["id"]: _labels(item) for item in listed["items"]} == {
        amended.json()["id"]: ("low", "Universal", "low", "Universal"),
        stranger["id"]: ("high", "Refer today", "medium", "Medium"),
        quiet["id"]: ("low", "No concern", "low", "No concern"),
    }

    marked = await client.post(
        f"/v1/assessments/{stranger['id']}/entered-in-error",
        json={"reason": "Wrong case"},
        headers=tenant.headers(R.supervisor),
    )
    assert _labels(marked.json()) == ("high", "Refer today", "medium", "Medium")

    # never stored: the result JSON of every row is the engine's own
    with app.state.sessionmaker() as session:
        results = session.scalars(select(Assessment.result).where(Assessment.organisation_id == tenant.organisation_id))
        assert not any({"level_label", "computed_level_label"} & set(result) for result in results)


async def test_dry_runs_rescores_and_replays_carry_the_labels_of_the_version_that_scored_each_result(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await publish_labelled_rule_sets(client, tenant)
    evaluated = await client.post(f"{RULES}/2/evaluate", json={"answers": QUIET}, headers=tenant.headers(R.auditor))
    assert evaluated.status_code == 200, evaluated.text
    assert _labels(evaluated.json()) == ("low", "Universal", "low", "Universal")

    quiet = await assess_labelled(client, tenant, QUIET)
    rescore = await client.post(
        f"/v1/assessments/{quiet['id']}/rescore", params={"ruleset_version": 2}, headers=tenant.headers(R.assessor)
    )
    assert rescore.status_code == 200, rescore.text
    assert _labels(rescore.json()["stored"]) == ("low", "No concern", "low", "No concern")
    assert _labels(rescore.json()["rescored"]) == ("low", "Universal", "low", "Universal")

    replay = (await client.get(f"/v1/assessments/{quiet['id']}/replay", headers=tenant.headers(R.assessor))).json()
    assert replay["identical"] is True
    assert _labels(replay["stored"]) == _labels(replay["replayed"]) == ("low", "No concern", "low", "No concern")


async def test_shipped_content_without_labels_reads_its_ids_made_readable(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant)
    assert _labels(created) == ("low", "Low", "low", "Low")


async def test_a_page_looks_the_labels_up_once_per_rule_set_version(
    client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish_labelled_rule_sets(client, tenant)
    for version in (1, 1, 1, 2, 2):
        await assess_labelled(client, tenant, QUIET, version)
    calls: list[tuple[str, int]] = []
    real = assessments_service.level_labels

    def counted(session: Any, organisation_id: str, key: str, version: int, content_hash: str) -> Any:
        calls.append((key, version))
        return real(session, organisation_id, key, version, content_hash)

    monkeypatch.setattr(assessments_service, "level_labels", counted)
    rulesets_service._labels.clear()
    listed = await client.get("/v1/assessments", headers=tenant.headers(R.assessor))
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == 5
    assert sorted(calls) == [("label-rules", 1), ("label-rules", 2)]
