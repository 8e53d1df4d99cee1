"""Date answers after today (the UK's date, one day's tolerance) are refused where an assessment is recorded (create,
amend), and nowhere answers are only evaluated (dry runs, replay): those must give the same result on any day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.assessments.dependencies import today_in_the_uk
from app.assessments.service import uk_date
from tests.assessments.conftest import LOW, RULESET, new_body
from tests.conftest import Tenant

TODAY = date(2026, 6, 1)


def set_today(app: FastAPI, today: date) -> None:
    async def fixed() -> date:
        return today

    app.dependency_overrides[today_in_the_uk] = fixed


@pytest.fixture(autouse=True)
def fixed_today(app: FastAPI) -> None:
    set_today(app, TODAY)


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2026, 6, 1, 22, 59, tzinfo=UTC), date(2026, 6, 1)),
        (datetime(2026, 6, 1, 23, 0, tzinfo=UTC), date(2026, 6, 2)),  # midnight BST
        (datetime(2026, 12, 7, 23, 59, tzinfo=UTC), date(2026, 12, 7)),  # GMT: the UTC date
        (datetime(2026, 12, 8, 0, 0, tzinfo=UTC), date(2026, 12, 8)),
    ],
)
def test_today_is_the_uk_date(moment: datetime, day: date) -> None:
    assert uk_date(moment) == day


def _pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["pointer"] for error in response.json()["errors"]]


async def test_create_accepts_a_date_up_to_tomorrow_and_refuses_a_later_one(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for accepted in ("2026-06-02", "2026-06-01", "2019-01-31", "unknown"):
        created = await _create(client, tenant, concern_date=accepted)
        assert created["computed_level"] == "low", accepted

    refused = await client.post(
        "/v1/assessments", json=_body(concern_date="2026-06-03"), headers=tenant.headers("assessor")
    )
    assert _pointers(refused) == ["/answers/concern_date"]
    assert refused.json()["errors"][0]["detail"] == (
        "2026-06-03 is after today (2026-06-01 in the UK): a date answer may be at most 2026-06-02"
    )


async def test_one_refusal_names_every_answer_at_fault(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = _body(assessment_date="2099-01-01", concern_date="2026-07-01", child_age_years="twelve")
    refused = await client.post("/v1/assessments", json=body, headers=tenant.headers("assessor"))
    assert sorted(_pointers(refused)) == [
        "/answers/assessment_date",
        "/answers/child_age_years",
        "/answers/concern_date",
    ]


async def test_amend_refuses_a_later_date_in_the_answers_or_the_patch(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await _create(client, tenant)
    url = f"/v1/assessments/{created['id']}/revisions"
    headers = tenant.headers("assessor")
    patched = await client.post(url, json={"answers_patch": {"assessment_date": "2026-06-03"}}, headers=headers)
    assert _pointers(patched) == ["/answers_patch/assessment_date"]
    replaced = await client.post(url, json={"answers": _body(assessment_date="2027-01-01")["answers"]}, headers=headers)
    assert _pointers(replaced) == ["/answers/assessment_date"]
    amended = await client.post(url, json={"answers_patch": {"assessment_date": "2026-06-02"}}, headers=headers)
    assert amended.status_code == 201, amended.text


async def test_dry_runs_and_replay_do_not_depend_on_the_day(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    evaluated = await client.post(
        f"/v1/rulesets/{RULESET['key']}/versions/{RULESET['version']}/evaluate",
        json={"answers": _body(concern_date="2099-12-31")["answers"]},
        headers=tenant.headers("auditor"),
    )
    assert evaluated.status_code == 200, evaluated.text

    created = await _create(client, tenant, assessment_date="2026-06-02")
    set_today(app, date(2026, 1, 1))
    replayed = await client.get(f"/v1/assessments/{created['id']}/replay", headers=tenant.headers("assessor"))
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["identical"] is True


def _body(**answers: Any) -> dict[str, Any]:
    body = new_body(which=LOW)
    body["answers"].update(answers)
    return body


async def _create(client: httpx.AsyncClient, tenant: Tenant, **answers: Any) -> dict[str, Any]:
    response = await client.post("/v1/assessments", json=_body(**answers), headers=tenant.headers("assessor"))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
