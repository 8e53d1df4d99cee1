"""Access control, generated from the route table and GRANTS: a new route is covered the moment it exists.

For every route: every role of the own organisation (403 exactly when GRANTS says no), no key, a malformed,
unknown, expired or revoked key (401), case data without X-Acting-User (400), and another organisation's real
resources (404).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.permissions import GRANTS, Role
from app.content import default_questionnaire, default_ruleset
from app.core.db import utcnow
from tests.conftest import Tenant
from tests.hardening.support import RouteInfo, assessment_body, example_body, fill_path, required_query, route_table

PROBLEM = "application/problem+json"

# Content keys are globally unique (ADR 0004): creating a version under another organisation's key is the
# documented 409, not a 404.
CROSS_ORG_EXPECTED = {("POST", "/v1/questionnaires/{key}/versions"): 409, ("POST", "/v1/rulesets/{key}/versions"): 409}


def protected(app: FastAPI) -> list[RouteInfo]:
    routes = [r for r in route_table(app) if r.operation is not None]
    assert len(routes) >= 10
    return routes


async def resources_of(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, dict[str, str]]:
    """Real resources of one organisation, by route prefix then path parameter name."""
    found: dict[str, dict[str, str]] = {}
    issued = await client.post("/v1/clients", json={"name": "victim", "roles": ["assessor"]}, headers=tenant.headers())
    assert issued.status_code == 201, issued.text
    found["/v1/clients"] = {"client_id": issued.json()["client"]["id"], "key_id": issued.json()["key_id"]}
    suffix = uuid.uuid4().hex[:8]
    questionnaire = dict(default_questionnaire(), key=f"own-q-{suffix}")
    created = await client.post(
        f"/v1/questionnaires/own-q-{suffix}/versions", json=questionnaire, headers=tenant.headers()
    )
    if created.status_code == 201:
        found["/v1/questionnaires"] = {"key": f"own-q-{suffix}", "version": str(created.json()["version"])}
    ruleset = dict(default_ruleset(), key=f"own-r-{suffix}")
    created = await client.post(f"/v1/rulesets/own-r-{suffix}/versions", json=ruleset, headers=tenant.headers())
    if created.status_code == 201:
        found["/v1/rulesets"] = {"key": f"own-r-{suffix}", "version": str(created.json()["version"])}
    created = await client.post("/v1/assessments", json=assessment_body("case-own"), headers=tenant.headers())
    if created.status_code == 201:
        found["/v1/assessments"] = {"assessment_id": created.json()["id"]}
    return found


def values_for(route: RouteInfo, resources: dict[str, dict[str, str]]) -> dict[str, str] | None:
    for prefix, values in resources.items():
        if route.path.startswith(prefix + "/"):
            return values
    return None


def request_for(
    app: FastAPI, route: RouteInfo, resources: dict[str, dict[str, str]]
) -> tuple[str, dict[str, Any] | None]:
    body = example_body(app.openapi(), route) if route.has_body else None
    if route.has_body and body is None:
        body = {}
    url = httpx.URL(fill_path(route, values_for(route, resources)), params=required_query(app.openapi(), route))
    return str(url), body


async def test_every_role_gets_exactly_what_grants_says(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    resources = await resources_of(client, tenant)
    checked = 0
    for route in protected(app):
        url, body = request_for(app, route, resources)
        for role in Role:
            response = await client.request(route.method, url, json=body, headers=tenant.headers(role))
            where = f"{route} as {role} ({route.operation}): {response.status_code} {response.text[:200]}"
            assert response.status_code < 500, where
            if role in route.allowed_roles() and response.status_code == 403:
                # the request (an example body) needs a further operation the route declares and the role lacks
                lacking = [o for o in route.conditions if role not in GRANTS[o]]
                assert any(f"'{o.value}'" in response.json()["detail"] for o in lacking), where
            elif role in route.allowed_roles():
                assert response.status_code != 401, where
            else:
                assert response.status_code == 403, where
                assert response.headers["content-type"] == PROBLEM
                assert response.json()["type"] == "/problems/forbidden"
                granting = ", ".join(r for r in Role if r in route.allowed_roles())
                assert response.json()["detail"].startswith(f"This operation needs one of the roles: {granting} ")
            checked += 1
    assert checked == len(protected(app)) * len(Role)


def _refused_keys(app: FastAPI, tenant: Tenant) -> dict[str, str]:
    secret_key = app.state.settings.secret_key
    session: Session = app.state.sessionmaker()
    with session.begin():
        expired = auth_service.create_client(
            session,
            tenant.organisation_id,
            "expired",
            list(Role),
            utcnow() - timedelta(seconds=1),
            secret_key=secret_key,
        )
        revoked = auth_service.create_client(
            session, tenant.organisation_id, "revoked", list(Role), secret_key=secret_key
        )
        auth_service.revoke_client(session, tenant.organisation_id, revoked.client.id)
        revoked_key_only = auth_service.create_client(
            session, tenant.organisation_id, "revoked key", list(Role), secret_key=secret_key
        )
        auth_service.revoke_key(session, tenant.organisation_id, revoked_key_only.client.id, revoked_key_only.key_id)
    session.close()
    return {
        "expired": f"Bearer {expired.api_key}",
        "revoked client": f"Bearer {revoked.api_key}",
        "revoked key": f"Bearer {revoked_key_only.api_key}",
        "unknown": "Bearer rk_" + "x" * 43,
        "malformed": f"Basic {expired.api_key}",
        "empty bearer": "Bearer ",
    }


async def test_no_key_or_a_refused_key_is_401_everywhere(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    keys = _refused_keys(app, tenant)
    for route in protected(app):
        url, body = request_for(app, route, {})
        for label, authorization in [("missing", None), *keys.items()]:
            headers = {"X-Acting-User": "user-1"}
            if authorization is not None:
                headers["Authorization"] = authorization
            response = await client.request(route.method, url, json=body, headers=headers)
            where = f"{route} with {label} key: {response.status_code} {response.text[:200]}"
            assert response.status_code == 401, where
            assert response.headers["content-type"] == PROBLEM, where
            assert response.headers["www-authenticate"].startswith("Bearer"), where
            assert response.json()["type"] == "/problems/unauthenticated", where


async def test_case_data_without_an_acting_user_is_400(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> None:
    case_routes = [r for r in protected(app) if r.case_data]
    assert any(r.path.startswith("/v1/assessments") for r in case_routes)
    assert any(r.path.startswith("/v1/audit") for r in case_routes)
    for route in case_routes:
        url, body = request_for(app, route, {})
        role = sorted(route.allowed_roles())[0]
        for acting_user in (None, "", "u" * 257):
            headers = tenant.headers(role, acting_user=acting_user)
            if acting_user == "":
                headers["X-Acting-User"] = ""
            response = await client.request(route.method, url, json=body, headers=headers)
            where = f"{route} acting user {acting_user!r:.10}: {response.status_code} {response.text[:200]}"
            assert response.status_code == 400, where
            assert response.json()["type"] == "/problems/bad-request", where
            assert "X-Acting-User" in response.json()["detail"], where


@pytest.mark.parametrize("with_all_roles", [False, True], ids=["each-allowed-role", "all-roles-key"])
async def test_another_organisations_resources_are_404(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, with_all_roles: bool
) -> None:
    resources = await resources_of(client, tenant)
    assert {"/v1/clients", "/v1/assessments", "/v1/questionnaires", "/v1/rulesets"} <= set(resources), resources
    checked = 0
    for route in protected(app):
        if values_for(route, resources) is None or not route.path_params:
            continue
        url, body = request_for(app, route, resources)
        roles = [None] if with_all_roles else sorted(route.allowed_roles())
        for role in roles:
            headers = other_tenant.headers() if role is None else other_tenant.headers(role)
            response = await client.request(route.method, url, json=body, headers=headers)
            expected = CROSS_ORG_EXPECTED.get((route.method, route.path), 404)
            where = f"{route} as the other organisation's {role or 'all-roles'} key: {response.text[:300]}"
            checked += 1
            if response.status_code == 200 and route.method == "GET" and "items" in response.json():
                assert response.json()["items"] == [], where  # a filtered list: empty is invisible
                continue
            assert response.status_code == expected, where
            assert response.headers["content-type"] == PROBLEM, where
    assert checked > 0
    for prefix, read in (("/v1/assessments", "/v1/assessments/{assessment_id}"), ("/v1/rulesets", None)):
        if read is not None:
            own = await client.get(read.format(**resources[prefix]), headers=tenant.headers(Role.assessor))
            assert own.status_code == 200, own.text
