"""The served OpenAPI document says who may call each operation and where X-Acting-User is required, and a 403
names the roles that would grant the operation; all of it derived from GRANTS and the routes, checked here against
an independent walk of the route table."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.auth.dependencies import conditional_policies
from app.auth.permissions import CASE_DATA_OPERATIONS, GRANTS, Role
from app.main import create_app
from tests.conftest import Tenant, make_settings
from tests.hardening.support import RouteInfo, route_table

ROLES_LINE = re.compile(r"\*\*Roles:\*\* (?P<roles>[`a-z_, ]+) \(operation `(?P<operation>[a-z_]+)`\)\.")
PUBLIC_LINE = "**Public:** no API key needed."
CONDITION_LINE = re.compile(
    r"\*\*With (?P<when>`[^`]+`):\*\* also operation `(?P<operation>[a-z_]+)`, granted to (?P<roles>[`a-z_, ]+); "
    r"a key without it gets a 403\."
)


@pytest.fixture(scope="module")
def served() -> tuple[dict[str, Any], list[RouteInfo]]:
    app = create_app(make_settings("sqlite:///:memory:"))
    document = app.openapi()
    table = route_table(app)
    app.state.engine.dispose()
    return document, table


def operation_of(document: dict[str, Any], route: RouteInfo) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][route.path][route.method.lower()]
    return operation


def last_paragraph(operation: dict[str, Any]) -> str:
    return str(operation.get("description", "")).rstrip().split("\n\n")[-1]


def acting_user_parameter(operation: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"].lower() == "x-acting-user"),
        None,
    )


def test_every_operation_names_exactly_the_roles_grants_gives(served: tuple[dict[str, Any], list[RouteInfo]]) -> None:
    document, table = served
    assert len(table) == sum(len(item) for item in document["paths"].values())
    for route in table:
        paragraph = last_paragraph(operation_of(document, route))
        if route.operation is None:
            assert paragraph == PUBLIC_LINE, route
            continue
        match = ROLES_LINE.fullmatch(paragraph)
        assert match is not None, f"{route}: {paragraph!r}"
        named = {Role(name.strip().strip("`")) for name in match["roles"].split(",")}
        assert named == GRANTS[route.operation], route
        assert match["operation"] == route.operation.value, route


def test_a_further_operation_some_requests_need_is_named_before_the_roles() -> None:
    app = create_app(make_settings("sqlite:///:memory:"))
    document = app.openapi()
    app.state.engine.dispose()
    seen = 0
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or route.path_format is None:
            continue
        for method in route.methods or ():
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            paragraphs = str(operation.get("description", "")).rstrip().split("\n\n")
            further = conditional_policies(route.dependant)
            shown = [CONDITION_LINE.fullmatch(p) for p in paragraphs[-1 - len(further) : -1]] if further else []
            assert all(shown), f"{method} {route.path_format}: {paragraphs[-1 - len(further) :]}"
            for policy, match in zip(further, shown, strict=True):
                assert match is not None
                assert (match["when"], match["operation"]) == (policy.when, policy.operation.value)
                named = {Role(name.strip().strip("`")) for name in match["roles"].split(",")}
                assert named == GRANTS[policy.operation]
                seen += 1
            assert not any(CONDITION_LINE.fullmatch(p) for p in paragraphs[: -1 - len(further)])
    assert seen >= 2  # include=answers on an assessment and on its revisions


def test_acting_user_is_required_exactly_on_case_data(served: tuple[dict[str, Any], list[RouteInfo]]) -> None:
    document, table = served
    for route in table:
        parameter = acting_user_parameter(operation_of(document, route))
        if route.operation in CASE_DATA_OPERATIONS:
            assert parameter is not None, route
            assert parameter["required"] is True, route
            continue
        if parameter is not None:
            assert parameter["required"] is False, route
            assert "audit trail" in parameter["description"], route
    assert any(r.operation in CASE_DATA_OPERATIONS for r in table)
    assert any(r.operation is not None and r.operation not in CASE_DATA_OPERATIONS for r in table)


def required_in_document(app: FastAPI, method: str, path: str) -> bool:
    parameter = acting_user_parameter(app.openapi()["paths"][path][method])
    return parameter is not None and parameter["required"] is True


async def test_the_document_matches_what_the_server_does_without_the_header(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    without = tenant.headers(Role.assessor, acting_user=None)

    assert required_in_document(app, "get", "/v1/assessments")
    case_data = await client.get("/v1/assessments", headers=without)
    assert case_data.status_code == 400, case_data.text
    assert case_data.json()["detail"] == "X-Acting-User header is required for case data"
    unauthenticated = await client.get("/v1/assessments")
    assert unauthenticated.status_code == 401, unauthenticated.text

    assert not required_in_document(app, "get", "/v1/questionnaires")
    content = await client.get("/v1/questionnaires", headers=without)
    assert content.status_code == 200, content.text


async def test_a_403_names_the_roles_that_would_grant_the_operation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    override = await client.post(
        f"/v1/assessments/{uuid.uuid4()}/override",
        json={"level": "high", "rationale": "seen the child"},
        headers=tenant.headers(Role.assessor),
    )
    assert override.status_code == 403, override.text
    assert override.json()["detail"].startswith("This operation needs one of the roles: supervisor ")

    keys = await client.get("/v1/clients", headers=tenant.headers(Role.auditor))
    assert keys.status_code == 403, keys.text
    assert keys.json()["detail"].startswith("This operation needs one of the roles: admin ")

    audit = await client.get("/v1/audit/events", headers=tenant.headers(Role.assessor))
    assert audit.status_code == 403, audit.text
    assert audit.json()["detail"].startswith("This operation needs one of the roles: auditor, admin ")
