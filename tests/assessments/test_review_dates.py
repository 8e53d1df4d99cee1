"""Review dates: an override brings the review forward and never removes or postpones it; responses show the review
date in force; `GET /v1/assessments?review_by_before=` lists the reviews due in that order, one cursor per list;
`audit verify` recomputes every override's review date.

The service's clock is frozen where the test needs exact dates (and ties)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.assessments import service
from app.auth.permissions import Role
from app.models_registry import Base
from tests.assessments.conftest import IMMEDIATE, LOW, MEDIUM, answers, create
from tests.audit.test_tamper_evidence import bypassing_triggers
from tests.conftest import Tenant
from tests.rulesets.factories import QUESTIONNAIRE_YAML, YAML, ruleset_yaml

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
# review_within_days of the shipped rule set: low none, medium 42, high 28, immediate 1
SHIPPED_DAYS = {"low": None, "medium": 42, "high": 28, "immediate": 1}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Sets the time the assessments service stamps on what it writes."""
    now = [T0]
    monkeypatch.setattr(service, "utcnow", lambda: now[0])

    def set_to(value: datetime) -> None:
        now[0] = value

    return set_to


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def override(
    client: httpx.AsyncClient, tenant: Tenant, assessment_id: str, level: str, status: int = 201
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/assessments/{assessment_id}/override",
        json={"level": level, "rationale": "supervisor's judgement"},
        headers=tenant.headers(Role.supervisor),
    )
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def read(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/assessments/{assessment_id}", headers=tenant.headers(Role.assessor))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def due(client: httpx.AsyncClient, tenant: Tenant, before: datetime, **params: Any) -> httpx.Response:
    return await client.get(
        "/v1/assessments",
        params={"review_by_before": before.isoformat(), **params},
        headers=tenant.headers(Role.assessor),
    )


async def due_ids(client: httpx.AsyncClient, tenant: Tenant, before: datetime, **params: Any) -> list[str]:
    response = await due(client, tenant, before, **params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- the override rule --------------------------------------------------------------------------------------


async def test_an_override_brings_the_review_forward_and_a_lower_one_never_postpones_it(
    client: httpx.AsyncClient, tenant: Tenant, clock: Callable[[datetime], None]
) -> None:
    created = await create(client, tenant, which=MEDIUM)
    assert at(created["review_by"]) == T0 + 42 * DAY

    clock(T0 + DAY)
    raised = await override(client, tenant, created["id"], "high")
    assert at(raised["overrides"][0]["review_by"]) == T0 + DAY + 28 * DAY  # earlier than T0 + 42 days
    assert at(raised["review_by"]) == T0 + 29 * DAY

    clock(T0 + 2 * DAY)
    raised_again = await override(client, tenant, created["id"], "immediate")
    assert at(raised_again["review_by"]) == T0 + 3 * DAY

    clock(T0 + 3 * DAY)
    lowered = await override(client, tenant, created["id"], "high")  # lower than the override before it
    assert lowered["level"] == "high"
    assert at(lowered["review_by"]) == T0 + 3 * DAY  # not T0 + 31 days: never postponed
    assert [at(o["review_by"]) for o in lowered["overrides"]] == [T0 + 29 * DAY, T0 + 3 * DAY, T0 + 3 * DAY]

    shown = await read(client, tenant, created["id"])
    assert at(shown["review_by"]) == T0 + 3 * DAY
    assert shown["review_within_days"] == 42  # the stored result is unchanged
    listed = (await client.get("/v1/assessments", headers=tenant.headers(Role.assessor))).json()["items"]
    assert [at(i["review_by"]) for i in listed] == [T0 + 3 * DAY]


async def test_the_report_gets_the_review_date_in_force(
    client: httpx.AsyncClient, tenant: Tenant, clock: Callable[[datetime], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await create(client, tenant, which=MEDIUM)
    clock(T0 + DAY)
    await override(client, tenant, created["id"], "immediate")
    given: list[Any] = []

    def render(*args: Any, **_: Any) -> str:
        given.extend(args)
        return "<html></html>"

    monkeypatch.setattr(service, "render_report", render)
    response = await client.get(f"/v1/assessments/{created['id']}/report", headers=tenant.headers(Role.assessor))
    assert response.status_code == 200, response.text
    shown = [g["review_by"] if isinstance(g, dict) else getattr(g, "review_by", None) for g in given]
    assert [at(v) if isinstance(v, str) else v for v in shown if v is not None] == [T0 + 2 * DAY]


async def _publish_any_direction_rules(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """An organisation's own rule set whose overrides may go either way; reviews: high 7 days, medium 42, low none."""
    author = {**tenant.headers(Role.rule_author), **YAML}
    publisher = tenant.headers(Role.rule_publisher)
    made = await client.post("/v1/questionnaires/review-check/versions", content=QUESTIONNAIRE_YAML, headers=author)
    assert made.status_code == 201, made.text
    published = await client.post("/v1/questionnaires/review-check/versions/1/publish", headers=publisher)
    assert published.status_code == 200, published.text
    document = ruleset_yaml("review-check") + (
        "override_policy: any\n"
        "level_policies:\n"
        "  low: {review_within_days: null}\n"
        "  medium: {review_within_days: 42}\n"
        "  high: {review_within_days: 7}\n"
    )
    made = await client.post("/v1/rulesets/review-rules/versions", content=document, headers=author)
    assert made.status_code == 201, made.text
    published = await client.post("/v1/rulesets/review-rules/versions/1/publish", headers=publisher)
    assert published.status_code == 200, published.text


async def _assess_own(client: httpx.AsyncClient, tenant: Tenant, answers: dict[str, Any]) -> dict[str, Any]:
    body = {
        "questionnaire": {"key": "review-check", "version": 1},
        "ruleset": {"key": "review-rules", "version": 1},
        "subject_ref": "case-own",
        "answers": answers,
    }
    response = await client.post("/v1/assessments", json=body, headers=tenant.headers(Role.assessor))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_lowering_below_the_computed_level_never_removes_a_review_and_raising_sets_one(
    client: httpx.AsyncClient, tenant: Tenant, clock: Callable[[datetime], None]
) -> None:
    await _publish_any_direction_rules(client, tenant)
    high = await _assess_own(client, tenant, {"child_age_years": 11, "contact_stranger": "no", "shared_images": "yes"})
    low = await _assess_own(client, tenant, {"child_age_years": 14, "contact_stranger": "no", "shared_images": "no"})
    assert (high["computed_level"], at(high["review_by"])) == ("high", T0 + 7 * DAY)
    assert (low["computed_level"], low["review_by"]) == ("low", None)

    clock(T0 + DAY)
    lowered = await override(client, tenant, high["id"], "low")  # a level with no review
    assert (lowered["level"], at(lowered["review_by"])) == ("low", T0 + 7 * DAY)
    clock(T0 + 2 * DAY)
    medium = await override(client, tenant, high["id"], "medium")  # 42 days from now would postpone it
    assert at(medium["review_by"]) == T0 + 7 * DAY

    raised = await override(client, tenant, low["id"], "high")  # a review where there was none
    assert at(raised["review_by"]) == T0 + 2 * DAY + 7 * DAY
    clock(T0 + 3 * DAY)
    back = await override(client, tenant, low["id"], "low")
    assert at(back["review_by"]) == T0 + 9 * DAY
    assert [at(o["review_by"]) for o in back["overrides"]] == [T0 + 9 * DAY, T0 + 9 * DAY]


# --- the reviews due ----------------------------------------------------------------------------------------


async def _due_cases(client: httpx.AsyncClient, tenant: Tenant, clock: Callable[[datetime], None]) -> dict[str, Any]:
    """Assessments with known review dates in force, several of them equal (only the id orders those)."""
    ids: dict[str, Any] = {}
    ids["medium"] = sorted([(await create(client, tenant, f"m{i}", MEDIUM))["id"] for i in range(3)])  # T0 + 42 d
    ids["immediate"] = sorted([(await create(client, tenant, f"i{i}", IMMEDIATE))["id"] for i in range(2)])  # + 1 d
    ids["low"] = (await create(client, tenant, "l", LOW))["id"]  # no review
    ids["in_error"] = (await create(client, tenant, "e", IMMEDIATE))["id"]
    marked = await client.post(
        f"/v1/assessments/{ids['in_error']}/entered-in-error",
        json={"reason": "wrong case"},
        headers=tenant.headers(Role.supervisor),
    )
    assert marked.status_code == 201, marked.text
    ids["superseded"] = (await create(client, tenant, "s", IMMEDIATE))["id"]
    clock(T0 + HOUR)
    revision = await client.post(
        f"/v1/assessments/{ids['superseded']}/revisions",
        json={"answers": answers(MEDIUM)},
        headers=tenant.headers(Role.assessor),
    )
    assert revision.status_code == 201, revision.text
    ids["revision"] = revision.json()["id"]  # T0 + 1 h + 42 d
    clock(T0)
    ids["raised"] = (await create(client, tenant, "r", MEDIUM))["id"]
    clock(T0 + 2 * HOUR)
    await override(client, tenant, ids["raised"], "immediate")  # brought forward to T0 + 2 h + 1 d
    clock(T0)
    ids["high"] = (await create(client, tenant, "h", MEDIUM))["id"]
    clock(T0 + 3 * HOUR)
    await override(client, tenant, ids["high"], "high")  # T0 + 3 h + 28 d
    ids["order"] = [
        *ids["immediate"],
        ids["raised"],
        ids["high"],
        *ids["medium"],
        ids["revision"],
    ]
    return ids


async def test_the_reviews_due_in_order_across_pages_with_ties(
    client: httpx.AsyncClient, tenant: Tenant, clock: Callable[[datetime], None]
) -> None:
    ids = await _due_cases(client, tenant, clock)
    paged: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await due(client, tenant, T0 + 100 * DAY, **params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        paged += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i["id"] for i in paged] == ids["order"]  # ties (3 at T0 + 42 d) split across pages 3 and 4
    dates = [at(i["review_by"]) for i in paged]
    assert dates == [
        T0 + DAY,
        T0 + DAY,
        T0 + 2 * HOUR + DAY,
        T0 + 3 * HOUR + 28 * DAY,
        T0 + 42 * DAY,
        T0 + 42 * DAY,
        T0 + 42 * DAY,
        T0 + HOUR + 42 * DAY,
    ]
    assert ids["low"] not in [i["id"] for i in paged]

    # strictly before the instant
    assert await due_ids(client, tenant, T0 + DAY) == []
    assert await due_ids(client, tenant, T0 + DAY + timedelta(microseconds=1)) == ids["immediate"]
    assert await due_ids(client, tenant, T0 + 42 * DAY) == ids["order"][:4]
    # the same instant with another zone (10:00+01:00 is 09:00 UTC)
    assert await due_ids(client, tenant, (T0 + 42 * DAY).astimezone(timezone(HOUR))) == ids["order"][:4]
    # the other filters still apply; the level is the final one
    assert await due_ids(client, tenant, T0 + 100 * DAY, level="high") == [ids["high"]]
    assert await due_ids(client, tenant, T0 + 100 * DAY, subject_ref="r") == [ids["raised"]]


async def test_entered_in_error_and_superseded_revisions_are_never_due(
    client: httpx.AsyncClient, tenant: Tenant, clock: Callable[[datetime], None]
) -> None:
    ids = await _due_cases(client, tenant, clock)
    listed = await due_ids(client, tenant, T0 + 100 * DAY)
    assert ids["in_error"] not in listed
    assert ids["superseded"] not in listed  # due at T0 + 1 d before it was amended
    assert ids["revision"] in listed
    for include in ("include_superseded", "include_entered_in_error"):
        refused = await due(client, tenant, T0 + 100 * DAY, **{include: "true"})
        assert refused.status_code == 422, refused.text
        pointers = [(e["pointer"], e["location"]) for e in refused.json()["errors"]]
        assert pointers == [("/review_by_before", "query"), (f"/{include}", "query")]
    allowed = await due(client, tenant, T0 + 100 * DAY, include_superseded="false")
    assert allowed.status_code == 200


async def test_a_cursor_pages_only_the_list_and_the_instant_it_came_from(
    client: httpx.AsyncClient, tenant: Tenant, clock: Callable[[datetime], None]
) -> None:
    await _due_cases(client, tenant, clock)
    headers = tenant.headers(Role.assessor)
    created_order = (await client.get("/v1/assessments", params={"limit": 1}, headers=headers)).json()
    due_page = (await due(client, tenant, T0 + 100 * DAY, limit=1)).json()
    refusals = [
        (await due(client, tenant, T0 + 100 * DAY, cursor=created_order["next_cursor"]), "another list"),
        (await due(client, tenant, T0 + 99 * DAY, cursor=due_page["next_cursor"]), "filters"),
        (
            await client.get("/v1/assessments", params={"cursor": due_page["next_cursor"]}, headers=headers),
            "another list",
        ),
    ]
    for response, why in refusals:
        assert response.status_code == 422, response.text
        assert [e["pointer"] for e in response.json()["errors"]] == ["/cursor"]
        assert why in response.json()["errors"][0]["detail"]
    assert (await due(client, tenant, T0 + 100 * DAY, cursor=due_page["next_cursor"])).status_code == 200


async def test_a_time_without_a_zone_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(
        "/v1/assessments", params={"review_by_before": "2030-01-31T00:00:00"}, headers=tenant.headers(Role.assessor)
    )
    assert response.status_code == 422
    assert [(e["pointer"], e["location"]) for e in response.json()["errors"]] == [("/review_by_before", "query")]


# --- verify -------------------------------------------------------------------------------------------------


async def test_verify_recomputes_every_overrides_review_date(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI, clock: Callable[[datetime], None]
) -> None:
    created = await create(client, tenant, which=MEDIUM)
    clock(T0 + DAY)
    await override(client, tenant, created["id"], "high")
    clock(T0 + 2 * DAY)
    await override(client, tenant, created["id"], "immediate")
    auditor = tenant.headers(Role.auditor)
    assert (await client.get("/v1/audit/verify", headers=auditor)).json()["ok"] is True
    table = Base.metadata.tables["assessment_overrides"]
    with app.state.engine.connect() as conn:
        first, second = conn.execute(
            select(table.c.id, table.c.review_by).where(table.c.assessment_id == created["id"]).order_by(table.c.id)
        ).all()
    name = f"override {first.id} of assessment {created['id']} (review_by)"
    for tampered in (datetime(2030, 1, 1, tzinfo=UTC), None):
        with bypassing_triggers(app) as conn:
            conn.execute(update(table).where(table.c.id == first.id).values(review_by=tampered))
        result = (await client.get("/v1/audit/verify", headers=auditor)).json()
        assert result["ok"] is False
        problems = {p["record"]: p["problem"] for p in result["record_problems"]}
        assert "is not the earlier of the review date before it" in problems[name], problems
        assert f"override {second.id} of assessment {created['id']} (review_by)" not in problems  # no knock-on
        assert f"override of assessment {created['id']}" in problems  # and the row no longer matches its digest
        with bypassing_triggers(app) as conn:
            conn.execute(update(table).where(table.c.id == first.id).values(review_by=first.review_by))
        assert (await client.get("/v1/audit/verify", headers=auditor)).json()["ok"] is True
