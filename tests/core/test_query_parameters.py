"""Unknown and repeated query parameters are a 400 that names them, on every route (no silent wrong answers)."""

from __future__ import annotations

import re
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query
from fastapi.routing import APIRoute, iter_route_contexts

from app.auth.permissions import Role
from app.main import create_app
from tests.conftest import Tenant, make_settings

PROBLEM = "application/problem+json"
# Served by the docs package (Swagger UI's OAuth redirect receives the authorization server's own parameters).
DOCS_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static-offline-docs"}


def _bound(path: str) -> str:
    """The path with each parameter bound to a value its converter and pattern accept."""
    return re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1) == "version" else "ab", path)


def _operations(app: FastAPI) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in iter_route_contexts(app.routes):
        if route.path in DOCS_PATHS or not isinstance(route.original_route, APIRoute):
            continue
        found.extend((method, route.path) for method in sorted(route.methods or ()))
    return found


def _unknown_named(response: httpx.Response, *names: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/problems/bad-request"
    assert [(e["pointer"], e["location"]) for e in body["errors"]] == [(f"/{n}", "query") for n in names]


async def test_every_operation_refuses_an_unknown_query_parameter() -> None:
    """Before authentication: no key is sent, and every operation still names the parameter."""
    app = create_app(make_settings("sqlite:///:memory:"))
    operations = _operations(app)
    assert ("GET", "/healthz") in operations
    assert ("GET", "/problems/{kind}") in operations
    assert len(operations) > 40
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for method, path in operations:
            response = await http.request(method, _bound(path), params={"not_a_parameter": "1"})
            _unknown_named(response, "not_a_parameter")
            assert "Unknown query parameter(s): not_a_parameter" in response.json()["detail"], (method, path)


async def test_a_misspelt_filter_is_refused_not_ignored(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/v1/assessments?subject=case-1001", headers=tenant.headers(Role.assessor))
    _unknown_named(response, "subject")
    detail = response.json()["detail"]
    assert detail.startswith("Unknown query parameter(s): subject; this operation accepts: subject_ref, level, ")
    assert "explain" in detail
    assert "cursor" in detail


async def test_parameters_declared_by_dependencies_and_aliases_are_accepted(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    listed = await client.get(
        "/v1/assessments?subject_ref=case-1&explain=trace&limit=5", headers=tenant.headers(Role.assessor)
    )
    assert listed.status_code == 200, listed.text
    diffed = await client.get(
        "/v1/rulesets/online-harm-england/diff?from=1&to=1&to_version=2", headers=tenant.headers(Role.assessor)
    )
    _unknown_named(diffed, "to_version")
    assert diffed.json()["detail"].endswith("this operation accepts: from, to")


async def test_every_unknown_parameter_is_named_once_and_a_route_without_any_says_so(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/healthz?b=1&a=2&b=3")
    _unknown_named(response, "b", "a")
    assert response.json()["detail"] == "Unknown query parameter(s): b, a; this operation accepts none"


async def test_a_single_valued_parameter_given_twice_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/v1/assessments?level=low&level=high", headers=tenant.headers(Role.assessor))
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Query parameter(s) given more than once: level; each takes one value"
    assert body["errors"] == [{"pointer": "/level", "detail": "given 2 times; send it once", "location": "query"}]


@pytest.mark.parametrize("query", ["subject=x", "limit=1&limit=2"])
async def test_the_check_runs_before_authentication(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/v1/assessments?{query}")
    assert response.status_code == 400


async def test_docs_pages_are_exempt(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs?urls.primaryName=x")).status_code == 200
    assert (await client.get("/docs/oauth2-redirect?code=x&state=y")).status_code == 200
    assert (await client.get("/openapi.json?v=1")).status_code == 200


async def test_a_route_added_later_is_covered_too() -> None:
    app = create_app(make_settings("sqlite:///:memory:"))

    @app.get("/late")
    def late(
        wanted: str | None = None, tags: Annotated[list[str] | None, Query(alias="tag")] = None
    ) -> dict[str, object]:
        return {"wanted": wanted, "tags": tags}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/late?wanted=1")).json() == {"wanted": "1", "tags": None}
        _unknown_named(await http.get("/late?unwanted=1&tags=a"), "unwanted", "tags")
        # A parameter that takes a list may repeat: that is how a list is sent.
        assert (await http.get("/late?tag=a&tag=b")).json() == {"wanted": None, "tags": ["a", "b"]}
