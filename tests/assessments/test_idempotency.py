"""Idempotency-Key on the four writes of an assessment (create, amend, override, entered in error): what is stored
and replayed, what leaves the key free, and what counts as the same request (docs/idempotency.md, ADR 0008).
The fingerprint itself and the documented problem type: tests/test_idempotency_contract.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.assessments.models import Assessment, AssessmentOverride, IdempotencyRecord
from app.auth.permissions import Role
from app.core.config import Settings
from tests.assessments.conftest import MEDIUM, answers, create, new_body
from tests.conftest import Tenant, make_settings

REUSED = "/problems/idempotency-key-reused"


def count(app: FastAPI, model: Any = Assessment) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def records(app: FastAPI) -> list[IdempotencyRecord]:
    with app.state.sessionmaker() as session:
        return list(session.scalars(select(IdempotencyRecord)))


def keyed(tenant: Tenant, key: str, role: Role = Role.supervisor) -> dict[str, str]:
    return {**tenant.headers(role), "Idempotency-Key": key}


def assert_replay(first: httpx.Response, replay: httpx.Response) -> None:
    assert replay.status_code == first.status_code, replay.text
    assert replay.content == first.content  # a problem's request_id too: the first response, not a new one
    assert replay.headers["content-type"] == first.headers["content-type"]
    assert replay.headers.get("location") == first.headers.get("location")
    assert replay.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


def assert_reused(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == REUSED
    assert "idempotent-replayed" not in response.headers


Send = Callable[[httpx.AsyncClient, str, dict[str, str]], Awaitable[httpx.Response]]


def _amend(client: httpx.AsyncClient, assessment_id: str, headers: dict[str, str]) -> Awaitable[httpx.Response]:
    body = {"answers": answers(MEDIUM)}
    return client.post(f"/v1/assessments/{assessment_id}/revisions", json=body, headers=headers)


def _override(client: httpx.AsyncClient, assessment_id: str, headers: dict[str, str]) -> Awaitable[httpx.Response]:
    body = {"level": "high", "rationale": "disclosure in the interview"}
    return client.post(f"/v1/assessments/{assessment_id}/override", json=body, headers=headers)


def _entered_in_error(
    client: httpx.AsyncClient, assessment_id: str, headers: dict[str, str]
) -> Awaitable[httpx.Response]:
    body = {"reason": "wrong child"}
    return client.post(f"/v1/assessments/{assessment_id}/entered-in-error", json=body, headers=headers)


async def _state(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = (
        await client.get(f"/v1/assessments/{assessment_id}", headers=tenant.headers(Role.auditor))
    ).json()
    return shown


# --- the four operations ------------------------------------------------------------------------------------


async def test_a_retried_create_replays_its_201(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    headers = keyed(tenant, "k-1", Role.assessor)
    first = await client.post("/v1/assessments", json=new_body(), headers=headers)
    assert first.status_code == 201
    assert_replay(first, await client.post("/v1/assessments", json=new_body(), headers=headers))
    assert count(app) == 1


async def test_a_retried_change_replays_its_201_and_changes_once(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    """Amend, then override and mark the new revision, each sent twice under its own key."""
    original = (await create(client, tenant))["id"]
    amended = await _amend(client, original, keyed(tenant, "amend"))
    assert amended.status_code == 201, amended.text
    revision = amended.json()["id"]
    assert amended.headers["location"] == f"/v1/assessments/{revision}"
    assert_replay(amended, await _amend(client, original, keyed(tenant, "amend")))
    for name, send in (("override", _override), ("mark", _entered_in_error)):
        first = await send(client, revision, keyed(tenant, name))
        assert first.status_code == 201, first.text
        assert "location" not in first.headers
        assert_replay(first, await send(client, revision, keyed(tenant, name)))

    assert count(app) == 2
    state = await _state(client, tenant, revision)
    assert (len(state["overrides"]), state["entered_in_error"] is not None) == (1, True)
    assert {(r.endpoint, r.status_code) for r in records(app)} == {
        (f"POST /v1/assessments/{original}/revisions", 201),
        (f"POST /v1/assessments/{revision}/override", 201),
        (f"POST /v1/assessments/{revision}/entered-in-error", 201),
    }
    events = await client.get(
        "/v1/audit/events", params={"resource_id": revision}, headers=tenant.headers(Role.auditor)
    )
    actions = [e["action"] for e in events.json()["items"]]
    for action in ("assessment.amend", "assessment.override", "assessment.entered_in_error"):
        assert actions.count(action) == actions.count(f"{action}.replayed") == 1, actions


# --- refusals that depend on the assessment's state: stored and replayed -------------------------------------


async def test_a_409_of_the_assessments_state_is_stored_and_replayed(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    original = (await create(client, tenant))["id"]
    revision = (await _amend(client, original, tenant.headers(Role.assessor))).json()["id"]
    assert (await _entered_in_error(client, revision, tenant.headers(Role.supervisor))).status_code == 201
    refusals: list[tuple[Send, str]] = [
        (_amend, original),  # superseded
        (_override, original),  # superseded
        (_override, revision),  # entered in error
        (_entered_in_error, revision),  # already entered in error
    ]
    for n, (send, target) in enumerate(refusals):
        first = await send(client, target, keyed(tenant, f"late-{n}"))
        assert first.status_code == 409, first.text
        assert_replay(first, await send(client, target, keyed(tenant, f"late-{n}")))
    assert count(app) == 2
    assert sorted(r.status_code for r in records(app)) == [409] * len(refusals)


async def test_a_refused_override_direction_is_a_stored_422(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    assessment_id = (await create(client, tenant, which=MEDIUM))["id"]
    lower = {"level": "low", "rationale": "known family"}
    url = f"/v1/assessments/{assessment_id}/override"
    first = await client.post(url, json=lower, headers=keyed(tenant, "lower"))
    assert first.status_code == 422, first.text
    assert first.json()["type"] == "/problems/validation-error"
    assert "raising the level only" in first.json()["detail"]
    assert_replay(first, await client.post(url, json=lower, headers=keyed(tenant, "lower")))
    # the key holds the refusal: another request under it is a key reuse, not a second try
    assert_reused(await client.post(url, json={**lower, "level": "high"}, headers=keyed(tenant, "lower")))
    assert count(app, AssessmentOverride) == 0


# --- refusals decided by the request itself: never stored, the key stays free --------------------------------


async def test_a_create_refused_for_its_own_content_leaves_the_key_free(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    bad_answer = new_body()
    bad_answer["answers"]["child_age_years"] = 99
    refusals: list[tuple[str, Any, tuple[int, ...]]] = [
        ("answers", bad_answer, (422,)),
        ("shape", {"answers": {}}, (422,)),
        ("content", new_body(ruleset={"key": "no-such-rules", "version": 1}), (404, 422)),
        ("no-acting-user", new_body(), (400,)),
    ]
    for name, body, statuses in refusals:
        refused_headers = keyed(tenant, name, Role.assessor)
        if name == "no-acting-user":
            del refused_headers["X-Acting-User"]
        for _ in range(2):  # refused afresh each time, never replayed
            refused = await client.post("/v1/assessments", json=body, headers=refused_headers)
            assert refused.status_code in statuses, (name, refused.text)
            assert "idempotent-replayed" not in refused.headers
        fixed = await client.post("/v1/assessments", json=new_body(name), headers=keyed(tenant, name, Role.assessor))
        assert fixed.status_code == 201, (name, fixed.text)
    assert count(app) == len(refusals)
    assert {r.status_code for r in records(app)} == {201}


async def test_a_change_refused_for_its_own_request_leaves_the_key_free(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    assessment_id = (await create(client, tenant))["id"]
    base = f"/v1/assessments/{assessment_id}"
    missing = "/v1/assessments/00000000-0000-4000-8000-000000000000"
    override = {"level": "high", "rationale": "disclosure"}
    bad_answers = {"answers": {**answers(MEDIUM), "child_age_years": 99}}
    refusals: list[tuple[str, str, Any, Role, int]] = [
        ("role", f"{base}/override", override, Role.assessor, 403),
        ("unknown", f"{missing}/override", override, Role.supervisor, 404),
        ("level", f"{base}/override", {**override, "level": "purple"}, Role.supervisor, 422),
        ("answers", f"{base}/revisions", bad_answers, Role.supervisor, 422),
    ]
    for name, url, body, role, status in refusals:
        refused = await client.post(url, json=body, headers=keyed(tenant, name, role))
        assert refused.status_code == status, (name, refused.text)
    assert records(app) == []
    # each key still free: the corrected request (here even another operation) runs
    amended = await _amend(client, assessment_id, keyed(tenant, "role", Role.assessor))
    assert amended.status_code == 201, amended.text
    revision = amended.json()["id"]
    for name in ("unknown", "level"):
        assert (await _override(client, revision, keyed(tenant, name))).status_code == 201, name
    assert (await _entered_in_error(client, revision, keyed(tenant, "answers"))).status_code == 201


# --- what is the same request ----------------------------------------------------------------------------------


async def test_another_body_or_query_under_the_key_is_a_key_reuse(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    headers = keyed(tenant, "k-2", Role.assessor)
    assert (await client.post("/v1/assessments", json=new_body("case-a"), headers=headers)).status_code == 201
    other = await client.post("/v1/assessments", json=new_body("case-b"), headers=headers)
    assert_reused(other)
    assert "Idempotency-Key" in other.json()["detail"]
    traced = await client.post("/v1/assessments", params={"explain": "trace"}, json=new_body("case-a"), headers=headers)
    assert_reused(traced)  # not the first response without the trace asked for
    assert count(app) == 1
    # the refusals did not replace the stored response
    again = await client.post("/v1/assessments", json=new_body("case-a"), headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"


async def test_the_key_on_another_operation_or_assessment_is_a_key_reuse(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = await client.post("/v1/assessments", json=new_body(), headers=keyed(tenant, "shared-op"))
    assert created.status_code == 201
    first = created.json()["id"]
    overridden = await _override(client, first, keyed(tenant, "shared-op"))
    assert_reused(overridden)
    assert "first used for POST /v1/assessments;" in overridden.json()["detail"]
    second = (await create(client, tenant, "case-2"))["id"]
    assert (await _override(client, first, keyed(tenant, "one-target"))).status_code == 201
    assert_reused(await _override(client, second, keyed(tenant, "one-target")))
    assert count(app, AssessmentOverride) == 1


async def test_the_media_type_is_part_of_the_request_but_not_its_spelling(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = httpx.Request("POST", "/", json=new_body()).content
    spaced = body.replace(b",", b", ")  # whitespace is not part of the request either
    for n, content_type in enumerate(["application/json; charset=utf-8", "Application/JSON", None]):
        headers = {**keyed(tenant, f"media-{n}", Role.assessor), "Content-Type": "application/json"}
        first = await client.post("/v1/assessments", content=body, headers=headers)
        assert first.status_code == 201, first.text
        retry_headers = {k: v for k, v in headers.items() if k != "Content-Type"}
        if content_type is not None:
            retry_headers["Content-Type"] = content_type
        assert_replay(first, await client.post("/v1/assessments", content=spaced, headers=retry_headers))
    patch_type = {**keyed(tenant, "media-0", Role.assessor), "Content-Type": "application/merge-patch+json"}
    assert_reused(await client.post("/v1/assessments", content=body, headers=patch_type))


# --- the rest of the rules -------------------------------------------------------------------------------------


async def test_the_key_is_scoped_per_client(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    first = await client.post("/v1/assessments", json=new_body(), headers=keyed(tenant, "shared", Role.assessor))
    second = await client.post("/v1/assessments", json=new_body(), headers=keyed(tenant, "shared"))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["id"] != second.json()["id"]
    assert count(app) == 2
    too_long = await client.post("/v1/assessments", json=new_body(), headers=keyed(tenant, "x" * 256))
    assert too_long.status_code == 400


async def test_concurrent_retries_create_exactly_one(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    headers = keyed(tenant, "k-concurrent", Role.assessor)
    responses = await asyncio.gather(
        *(client.post("/v1/assessments", json=new_body(), headers=headers) for _ in range(8))
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.headers["retry-after"]
    assert count(app) == 1


# --- PostgreSQL: two operations racing under one key ------------------------------------------------------------


class HeldOverride:
    """The test's `state_read_seam`: once `holding`, an override waits there, its key claimed, until released."""

    def __init__(self) -> None:
        self.holding = False
        self.arrived = threading.Event()
        self.release = threading.Event()

    def seam(self, operation: str, _assessment_id: str) -> None:
        if self.holding and operation == "assessment.override":
            self.arrived.set()
            assert self.release.wait(30)


@pytest.fixture
def held() -> HeldOverride:
    return HeldOverride()


@pytest.fixture
def settings(database_url: str, held: HeldOverride) -> Settings:
    return make_settings(database_url, state_read_seam=held.seam)


async def test_two_operations_racing_under_one_key_do_not_both_run(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str, held: HeldOverride
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL: SQLite runs one write at a time, so the second request waits for the first")
    assessment_id = (await create(client, tenant))["id"]
    held.holding = True
    override = asyncio.create_task(_override(client, assessment_id, keyed(tenant, "raced")))
    try:
        assert await asyncio.to_thread(held.arrived.wait, 30)
        racing = await _entered_in_error(client, assessment_id, keyed(tenant, "raced"))
    finally:
        held.release.set()
    assert (await override).status_code == 201
    assert racing.status_code == 409, racing.text
    assert racing.headers["retry-after"]
    assert_reused(await _entered_in_error(client, assessment_id, keyed(tenant, "raced")))
    state = await _state(client, tenant, assessment_id)
    assert (len(state["overrides"]), state["entered_in_error"]) == (1, None)
