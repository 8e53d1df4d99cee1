"""Every refusal the middleware and the Authorize dependency can give is documented on every operation it can
reach, as application/problem+json and as the OperationOutcome (application/fhir+json) a FHIR Accept gets instead
(what schemathesis' status-code and content-type conformance checks expect)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.auth.permissions import Role
from tests.conftest import Tenant
from tests.hardening.support import RouteInfo, fill_path, route_table

PROBLEM = "application/problem+json"
FHIR = "application/fhir+json"
DEEP_JSON = b"[" * 300 + b"]" * 300


def _probes(route: RouteInfo, tenant: Tenant) -> list[tuple[str, int, dict[str, str], bytes | None, str]]:
    """(what, expected status, headers, body, query) of each refusal that can reach this route."""
    key = tenant.headers()
    probes = [
        ("NUL in the URL", 400, key, None, "x=%00"),
        ("Content-Length past the limit", 413, {**key, "Content-Length": str(10**9)}, None, ""),
        ("too many header bytes", 431, {**key, "X-Padding": "a" * (20 * 1024)}, None, ""),
    ]
    if route.operation is not None:
        # Some content routes read their document before the key: give them one to read.
        json, document = ({"Content-Type": "application/json"}, b"{}") if route.has_body else ({}, None)
        probes.append(("no key", 401, json, document, ""))
        refused_roles = sorted(set(Role) - route.allowed_roles())
        if refused_roles:
            probes.append(("a role without the grant", 403, {**tenant.headers(refused_roles[0]), **json}, document, ""))
    if route.method in ("POST", "PUT", "PATCH"):
        probes.append(("a text/plain body", 415, {**key, "Content-Type": "text/plain"}, b"x", ""))
        probes.append(("JSON past the depth limit", 422, {**key, "Content-Type": "application/json"}, DEEP_JSON, ""))
    return probes


async def test_every_refusal_is_documented_on_every_operation(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    openapi = app.openapi()
    undocumented: list[str] = []
    probed = 0
    for route in route_table(app):
        responses = openapi["paths"][route.path][route.method.lower()]["responses"]
        for what, status, headers, body, query in _probes(route, tenant):
            url = fill_path(route) + (f"?{query}" if query else "")
            response = await client.request(route.method, url, headers=headers, content=body)
            assert response.status_code == status, f"{route} {what}: {response.status_code} {response.text[:200]}"
            assert response.headers["content-type"] == PROBLEM, f"{route} {what}"
            documented = responses.get(str(status), {}).get("content", {})
            if list(documented) != [PROBLEM, FHIR]:
                undocumented.append(f"{route} {status} ({what})")
            probed += 1
    assert probed > 100
    assert undocumented == []
