"""nosniff on every response, no-store on every /v1 response, a Content-Security-Policy on every HTML page."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from fastapi import FastAPI

from app.auth.permissions import Role
from app.rulesets.seed import seed_default_content
from tests.assessments.conftest import IMMEDIATE, new_body
from tests.conftest import Tenant


def _hash(content: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode()).digest()).decode() + "'"


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (d.split() for d in policy.split(";") if d.strip())
    return {name: values for name, *values in parts}


async def test_every_response_says_nosniff(client: httpx.AsyncClient, tenant: Tenant) -> None:
    responses = [
        await client.get("/healthz"),
        await client.get("/no-such-route"),
        await client.get("/problems/validation-error"),
        await client.get("/openapi.json"),
        await client.get("/docs"),
        await client.get("/v1/clients"),
        await client.get("/v1/clients", headers=tenant.headers(Role.admin)),
    ]
    assert [r.headers.get("x-content-type-options") for r in responses] == ["nosniff"] * len(responses)


async def test_case_data_and_errors_under_v1_are_never_stored(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)
    headers = tenant.headers()
    created = await client.post("/v1/assessments", json=new_body("case-cache", IMMEDIATE), headers=headers)
    assert created.status_code == 201, created.text
    path = f"/v1/assessments/{created.json()['id']}"
    read = await client.get(path, headers=headers)
    not_modified = await client.get(path, headers={**headers, "If-None-Match": read.headers["etag"]})
    assert not_modified.status_code == 304  # ETag revalidation still works alongside no-store
    responses = {
        "create": created,
        "read": read,
        "304": not_modified,
        "report": await client.get(f"{path}/report", headers=headers),
        "list": await client.get("/v1/assessments", headers=headers),
        "audit": await client.get("/v1/audit/events", headers=headers),
        "keys": await client.get("/v1/clients", headers=headers),
        "401": await client.get("/v1/assessments"),
        "404": await client.get("/v1/assessments/00000000-0000-0000-0000-000000000000", headers=headers),
    }
    assert {name: r.headers.get("cache-control") for name, r in responses.items()} == dict.fromkeys(
        responses, "no-store"
    )
    assert "cache-control" not in (await client.get("/healthz")).headers


async def test_the_report_allows_only_its_own_stylesheet(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)
    headers = tenant.headers()
    created = await client.post("/v1/assessments", json=new_body("case-csp", IMMEDIATE), headers=headers)
    report = await client.get(f"/v1/assessments/{created.json()['id']}/report", headers=headers)
    assert report.status_code == 200
    policy = _directives(report.headers["content-security-policy"])
    styles = re.findall(r"<style>(.*?)</style>", report.text, re.DOTALL)
    assert policy["default-src"] == ["'none'"]
    assert policy["style-src"] == [_hash(styles[0])]
    assert "script-src" not in policy  # default-src 'none': no script at all
    assert policy["frame-ancestors"] == ["'none'"]


async def test_docs_pages_allow_exactly_their_inline_start_up_scripts(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        page = await client.get(path)
        assert page.status_code == 200
        policy = _directives(page.headers["content-security-policy"])
        inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
        assert policy["default-src"] == ["'none'"], path
        assert policy["script-src"] == ["'self'", *(_hash(s) for s in inline)], path
        assert "'unsafe-inline'" not in policy["script-src"], path


async def test_other_html_pages_get_the_strictest_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/problems/rate-limited")
    assert page.headers["content-type"].startswith("text/html")
    assert _directives(page.headers["content-security-policy"])["default-src"] == ["'none'"]
    assert "style-src" not in page.headers["content-security-policy"]
