"""Times are accepted only with a zone (naive -> 422 naming the field), and a key's expiry only in the future."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from app.auth.permissions import Role
from app.cli import cli
from app.core.config import get_settings
from tests.conftest import Tenant

PROBLEM = "application/problem+json"
NAIVE = "2030-01-31T00:00:00"


def _pointers(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    return [(e["pointer"], e["location"]) for e in body["errors"]]


async def _new_client(client: httpx.AsyncClient, tenant: Tenant) -> str:
    created = await client.post(
        "/v1/clients", json={"name": "cms", "roles": ["assessor"]}, headers=tenant.headers(Role.admin)
    )
    assert created.status_code == 201, created.text
    return str(created.json()["client"]["id"])


@pytest.mark.parametrize("expires_at", [NAIVE, "2030-01-31 00:00"])
async def test_naive_expiry_is_a_422_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, expires_at: str
) -> None:
    admin = tenant.headers(Role.admin)
    created = await client.post(
        "/v1/clients", json={"name": "cms", "roles": ["admin"], "expires_at": expires_at}, headers=admin
    )
    assert _pointers(created) == [("/expires_at", "body")]
    client_id = await _new_client(client, tenant)
    rotated = await client.post(f"/v1/clients/{client_id}/rotate", json={"expires_at": expires_at}, headers=admin)
    assert _pointers(rotated) == [("/expires_at", "body")]


@pytest.mark.parametrize(
    "expires_at",
    [0, "1970-01-01T00:00:00Z", "2020-06-01T12:00:00+01:00", "a minute ago"],
)
async def test_expiry_in_the_past_is_a_422_and_issues_no_key(
    client: httpx.AsyncClient, tenant: Tenant, expires_at: object
) -> None:
    if expires_at == "a minute ago":
        expires_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    admin = tenant.headers(Role.admin)
    before = len((await client.get("/v1/clients", headers=admin)).json()["items"])
    created = await client.post(
        "/v1/clients", json={"name": "cms", "roles": ["admin"], "expires_at": expires_at}, headers=admin
    )
    assert _pointers(created) == [("/expires_at", "body")]
    # A number is not JSON's form of a date-time (strict request bodies): refused before its value is read.
    assert ("date-time string" if expires_at == 0 else "future") in created.json()["errors"][0]["detail"]
    assert len((await client.get("/v1/clients", headers=admin)).json()["items"]) == before

    client_id = await _new_client(client, tenant)
    rotated = await client.post(f"/v1/clients/{client_id}/rotate", json={"expires_at": expires_at}, headers=admin)
    assert _pointers(rotated) == [("/expires_at", "body")]
    listed = (await client.get("/v1/clients", headers=admin)).json()["items"]
    assert [len(c["keys"]) for c in listed if c["id"] == client_id] == [1]


async def test_future_expiry_with_an_offset_is_stored_in_utc(client: httpx.AsyncClient, tenant: Tenant) -> None:
    admin = tenant.headers(Role.admin)
    created = await client.post(
        "/v1/clients",
        json={"name": "cms", "roles": ["admin"], "expires_at": "2099-01-31T12:00:00+02:00"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = created.json()["client"]["keys"][0]
    assert datetime.fromisoformat(key["expires_at"]) == datetime(2099, 1, 31, 10, tzinfo=UTC)
    assert (
        await client.get("/v1/clients", headers={"Authorization": f"Bearer {created.json()['api_key']}"})
    ).status_code == 200


@pytest.mark.parametrize(
    ("path", "parameter", "role"),
    [
        ("/v1/assessments", "created_from", Role.assessor),
        ("/v1/assessments", "created_to", Role.assessor),
        ("/v1/assessments", "review_by_before", Role.assessor),
        ("/v1/audit/events", "since", Role.auditor),
        ("/v1/audit/events", "until", Role.auditor),
    ],
)
async def test_naive_time_filters_are_a_422_naming_the_parameter(
    client: httpx.AsyncClient, tenant: Tenant, path: str, parameter: str, role: Role
) -> None:
    response = await client.get(path, params={parameter: NAIVE}, headers=tenant.headers(role))
    assert _pointers(response) == [(f"/{parameter}", "query")]
    aware = await client.get(path, params={parameter: NAIVE + "Z"}, headers=tenant.headers(role))
    assert aware.status_code == 200, aware.text


@pytest.mark.parametrize(
    ("expires", "refused"),
    [(NAIVE, "timezone"), ("1970-01-01T00:00:00Z", "future"), ("0", "future"), ("2099-01-01T00:00:00Z", None)],
)
def test_the_cli_applies_the_same_expiry_rule(
    expires: str, refused: str | None, tenant: Tenant, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKAPI_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli, ["key", "create", "--org", tenant.slug, "--name", "cms", "--role", "assessor", "--expires", expires]
        )
    finally:
        get_settings.cache_clear()
    if refused is None:
        assert result.exit_code == 0, result.output
        assert "api key:" in result.output
    else:
        assert result.exit_code == 1
        assert refused in result.output.lower()
        assert "api key:" not in result.output
