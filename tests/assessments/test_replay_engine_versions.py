"""Replaying results stored by an earlier engine: only the fields that engine produced are compared, the engine
versions are reported apart, and reads give the stored result the defaults of the fields it lacks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.assessments.models import Assessment
from app.auth.permissions import Role
from app.scoring import ENGINE_VERSION
from app.scoring.engine_versions import FIELD_DEFAULTS, RESULT_FIELDS, V1_RESULT_FIELDS, with_field_defaults
from app.scoring.result import Result
from tests.assessments.conftest import IMMEDIATE, create
from tests.audit.test_tamper_evidence import bypassing_triggers
from tests.conftest import Tenant

ENGINE_1 = "riskapi-scoring/1"
LATER_FIELDS = sorted(set(RESULT_FIELDS[ENGINE_VERSION]) - set(V1_RESULT_FIELDS))
COMPARED_FOR_ENGINE_1 = sorted({*V1_RESULT_FIELDS, "trace"} - {"level", "engine_version"})


def stored_row(app: FastAPI, assessment_id: str) -> Assessment:
    with app.state.sessionmaker() as session:
        row: Assessment = session.scalars(select(Assessment).where(Assessment.id == assessment_id)).one()
        session.expunge(row)
        return row


def restore(app: FastAPI, assessment_id: str, engine_version: str, result: dict[str, Any]) -> None:
    """Writes the row as an engine of `engine_version` would have stored it (rows are append-only: bypassed)."""
    table = Assessment.__table__
    with bypassing_triggers(app) as conn:
        conn.execute(
            update(table)
            .where(table.c.id == assessment_id)
            .values(engine_version=engine_version, result={**result, "engine_version": engine_version})
        )


def as_engine_1(app: FastAPI, assessment_id: str, **changes: Any) -> dict[str, Any]:
    """The stored result as engine 1 wrote it: without the fields later engines added, and with `changes`."""
    result = {k: v for k, v in stored_row(app, assessment_id).result.items() if k not in FIELD_DEFAULTS}
    result.update(changes)
    restore(app, assessment_id, ENGINE_1, result)
    return result


async def replay(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/assessments/{assessment_id}/replay", headers=tenant.headers(Role.auditor))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_result_of_the_current_engine_replays_with_every_field_it_produces_compared(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    body = await replay(client, tenant, created["id"])
    assert body["identical"] is True
    assert body["engine"] == {
        "stored": ENGINE_VERSION,
        "replayed": ENGINE_VERSION,
        "changed": False,
        "compared": sorted({*RESULT_FIELDS[ENGINE_VERSION], "trace"} - {"level", "engine_version"}),
        "not_compared": [],
    }


async def test_a_result_stored_by_engine_1_is_reproduced_and_the_replay_names_both_engines(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    as_engine_1(app, created["id"])
    body = await replay(client, tenant, created["id"])
    assert body["identical"] is True, body["differences"]
    assert body["differences"] == []
    assert body["engine"] == {
        "stored": ENGINE_1,
        "replayed": ENGINE_VERSION,
        "changed": True,
        "compared": COMPARED_FOR_ENGINE_1,
        "not_compared": LATER_FIELDS,
    }
    assert body["stored"]["engine_version"] == ENGINE_1
    assert body["replayed"]["engine_version"] == ENGINE_VERSION


async def test_a_field_engine_1_produced_that_differs_is_reported_with_the_engine_that_produced_it(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    stored = as_engine_1(app, created["id"])
    as_engine_1(app, created["id"], scores={**stored["scores"], "total": stored["scores"]["total"] + 1})
    body = await replay(client, tenant, created["id"])
    assert body["identical"] is False
    assert body["differences"] == [
        {
            "where": "result",
            "pointer": "/scores/total",
            "stored": stored["scores"]["total"] + 1,
            "replayed": stored["scores"]["total"],
        }
    ]
    assert (body["engine"]["stored"], body["engine"]["changed"]) == (ENGINE_1, True)


async def test_a_field_added_after_the_stored_engine_is_never_a_difference(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    original = stored_row(app, created["id"]).result
    notice = [{"code": "not_from_engine_1", "text": "Not something engine 1 could produce."}]
    as_engine_1(app, created["id"], notices=notice)
    assert (await replay(client, tenant, created["id"]))["identical"] is True

    restore(app, created["id"], ENGINE_VERSION, {**original, "notices": notice})
    body = await replay(client, tenant, created["id"])
    assert body["identical"] is False
    assert [d["pointer"] for d in body["differences"]] == ["/notices"]


async def test_an_engine_version_this_server_does_not_know_has_every_field_compared(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    result = stored_row(app, created["id"]).result
    restore(app, created["id"], "riskapi-scoring/99", {**result, "added_by_engine_99": True})
    body = await replay(client, tenant, created["id"])
    assert body["identical"] is False
    assert [d["pointer"] for d in body["differences"]] == ["/added_by_engine_99"]
    assert body["engine"]["stored"] == "riskapi-scoring/99"
    assert "added_by_engine_99" in body["engine"]["compared"]
    assert body["engine"]["not_compared"] == []


def test_a_stored_result_reads_with_the_defaults_of_the_fields_its_engine_did_not_produce() -> None:
    stored = {"level": "low", "scores": {}, "notices": [{"code": "kept", "text": "kept"}]}
    filled = with_field_defaults(stored)
    assert filled == {**stored, "score_bands": {}, "score_decimals": {}}
    assert "score_bands" not in stored
    filled["score_bands"]["x"] = 1
    assert with_field_defaults({})["score_bands"] == {}


@pytest.mark.xfail(
    "score_bands" not in Result.model_fields,
    reason="engine 2's result fields are built on another branch of issue 17",
    strict=True,
)
async def test_reads_of_a_result_stored_by_engine_1_show_the_new_fields_defaults(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    as_engine_1(app, created["id"])
    headers = tenant.headers(Role.assessor)
    read = (await client.get(f"/v1/assessments/{created['id']}", headers=headers)).json()
    listed = (await client.get("/v1/assessments", headers=headers)).json()["items"][0]
    replayed = await replay(client, tenant, created["id"])
    for shown in (read, listed, replayed["stored"]):
        assert {name: shown[name] for name in FIELD_DEFAULTS} == FIELD_DEFAULTS
