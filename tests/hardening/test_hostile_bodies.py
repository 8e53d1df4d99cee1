"""Hostile bodies against every route that takes one: each is refused by an explicit limit, and nothing is stored."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.permissions import Role
from tests.conftest import Tenant
from tests.hardening.support import (
    RouteInfo,
    assessment_body,
    example_body,
    fill_path,
    has_route,
    required_query,
    route_table,
    row_counts,
)

PROBLEM = "application/problem+json"


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# (id, body, content type, status, problem type, text the detail or first error must contain)
HOSTILE: list[tuple[str, bytes, str, int, str, str]] = [
    ("deep-nesting", _deep(64), "application/json", 422, "validation-error", "json_max_depth"),
    ("stack-nesting", b"[" * 100_000 + b"]" * 100_000, "application/json", 422, "validation-error", "nested"),
    (
        "huge-array",
        json.dumps({"answers": {"x": list(range(5000))}}).encode(),
        "application/json",
        422,
        "validation-error",
        "json_max_array_items",
    ),
    (
        "many-keys",
        json.dumps({"answers": {f"q{i}": "yes" for i in range(2000)}}).encode(),
        "application/json",
        422,
        "validation-error",
        "json_max_object_keys",
    ),
    (
        "long-string",
        json.dumps({"subject_ref": "x" * 20_000}).encode(),
        "application/json",
        422,
        "validation-error",
        "json_max_string_chars",
    ),
    (
        "10mb-string",
        b'{"subject_ref": "' + b"x" * (10 * 1024 * 1024) + b'"}',
        "application/json",
        413,
        "payload-too-large",
        "Limit is",
    ),
    ("invalid-utf8", b'{"subject_ref": "caf\xe9"}', "application/json", 400, "bad-request", "UTF-8"),
    ("nan", b'{"answers": {"child_age_years": NaN}}', "application/json", 400, "bad-request", "NaN"),
    ("infinity", b'{"answers": {"child_age_years": Infinity}}', "application/json", 400, "bad-request", "Infinity"),
    (
        "minus-infinity",
        b'{"answers": {"child_age_years": -Infinity}}',
        "application/json",
        400,
        "bad-request",
        "Infinity",
    ),
    (
        "overflow-float",
        b'{"answers": {"child_age_years": 1e400}}',
        "application/json",
        400,
        "bad-request",
        "out of range",
    ),
    (
        "duplicate-keys",
        b'{"subject_ref": "a", "subject_ref": "b"}',
        "application/json",
        400,
        "bad-request",
        "repeats the key 'subject_ref'",
    ),
    ("nul-in-string", b'{"subject_ref": "a\\u0000b"}', "application/json", 400, "bad-request", "U+0000"),
    ("lone-surrogate", b'{"subject_ref": "\\udc00"}', "application/json", 400, "bad-request", "surrogate"),
    ("truncated", b'{"subject_ref": ', "application/json", 400, "bad-request", "not valid JSON"),
    (
        "yaml-bomb",
        b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + b"".join(f"a{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 10)}]\n".encode() for i in range(9)),
        "application/yaml",
        422,
        "validation-error",
        "json_max_nodes",
    ),
    (
        "yaml-deep",
        b"a: " + b"[" * 64 + b"]" * 64 + b"\n",
        "application/yaml",
        422,
        "validation-error",
        "json_max_depth",
    ),
    ("text-plain", b"subject_ref=x", "text/plain", 415, "unsupported-media-type", "not accepted"),
    ("form", b"subject_ref=x", "application/x-www-form-urlencoded", 415, "unsupported-media-type", "not accepted"),
    ("xml", b"<assessment/>", "application/xml", 415, "unsupported-media-type", "not accepted"),
    (
        "multipart",
        b"--b\r\n\r\nx\r\n--b--",
        "multipart/form-data; boundary=b",
        415,
        "unsupported-media-type",
        "not accepted",
    ),
]


def body_routes(app: FastAPI) -> list[RouteInfo]:
    return [r for r in route_table(app) if r.method in ("POST", "PUT", "PATCH") and r.has_body]


async def test_every_body_route_refuses_each_hostile_input_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routes = body_routes(app)
    assert len(routes) >= 10, "the route table lost its body routes?"
    engine = app.state.engine
    before = row_counts(engine)
    for case, body, media_type, status, kind, needle in HOSTILE:
        headers = {**tenant.headers(), "Content-Type": media_type}
        for route in routes:
            response = await client.request(route.method, fill_path(route), content=body, headers=headers)
            where = f"{case}: {route}"
            assert response.status_code == status, f"{where}: {response.status_code} {response.text[:300]}"
            assert response.headers["content-type"] == PROBLEM, where
            problem = response.json()
            assert problem["type"] == f"/problems/{kind}", where
            assert problem["request_id"] == response.headers["x-request-id"], where
            said = problem.get("detail", "") + " ".join(e["detail"] for e in problem.get("errors", []))
            assert needle in said, f"{where}: {said}"
            if status == 422:
                assert problem["errors"][0]["pointer"] is not None
        assert row_counts(engine) == before, f"{case} stored something"


async def test_a_chunked_json_body_over_the_limit_is_413_without_storing(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    async def chunks() -> Iterator[bytes]:  # type: ignore[misc]
        yield b'{"subject_ref": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    before = row_counts(app.state.engine)
    for route in body_routes(app):
        response = await client.request(
            route.method,
            fill_path(route),
            content=chunks(),  # type: ignore[arg-type]
            headers={**tenant.headers(), "Content-Type": "application/json"},
        )
        assert response.status_code == 413, route
        assert response.json()["type"] == "/problems/payload-too-large"
    assert row_counts(app.state.engine) == before


@pytest.mark.parametrize("url", ["/v1/clients?cursor=%00", "/problems/a%00b"])
async def test_nul_in_the_url_is_a_400(client: httpx.AsyncClient, tenant: Tenant, url: str) -> None:
    response = await client.get(url, headers=tenant.headers(Role.admin))
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


# --- injection fragments in every string field --------------------------------------------------------------

FRAGMENTS = [
    "' OR '1'='1'; DROP TABLE assessments; --",
    '"; SELECT pg_sleep(30); --',
    "<script>alert(document.cookie)</script>",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "../../../../etc/passwd",
    "\u202egnp.exe \U0001f600 \u0301",
]


def string_leaves(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, (*path, index))


def replaced(value: Any, path: tuple[str | int, ...], new: str) -> Any:
    result = copy.deepcopy(value)
    target = result
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return result


async def test_injection_fragments_in_every_documented_string_field_never_break_the_service(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    openapi = app.openapi()
    sent = 0
    for route in body_routes(app):
        example = example_body(openapi, route)
        if example is None:
            continue
        for leaf in string_leaves(example):
            for fragment in FRAGMENTS:
                response = await client.request(
                    route.method, fill_path(route), json=replaced(example, leaf, fragment), headers=tenant.headers()
                )
                sent += 1
                where = f"{route} {leaf} {fragment!r}"
                assert response.status_code < 500, f"{where}: {response.text[:300]}"
                if response.status_code >= 400:
                    assert response.headers["content-type"] == PROBLEM, where
                assert fragment not in response.headers.get("content-type", "")
    assert sent > 0
    for table in ("assessments", "api_clients", "organisations"):
        assert table in row_counts(app.state.engine) or table == "assessments"


async def test_injection_fragments_are_stored_verbatim_as_data(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    assert has_route(app, "POST", "/v1/assessments"), "POST /v1/assessments is missing from the route table"
    headers = tenant.headers(Role.assessor)
    for fragment in FRAGMENTS:
        created = await client.post("/v1/assessments", json=assessment_body(fragment[:256]), headers=headers)
        assert created.status_code == 201, created.text
        read = await client.get(f"/v1/assessments/{created.json()['id']}", headers=headers)
        assert read.json()["subject_ref"] == fragment[:256]
    assert row_counts(app.state.engine)["assessments"] >= len(FRAGMENTS)


# --- numbers past what a column holds, in every query parameter ----------------------------------------------

HUGE_NUMBERS = [str(2**70), "9" * 40, str(-(2**63) - 1)]


async def test_every_integer_query_parameter_bounds_huge_numbers(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Found by the soak fuzz: `?ruleset_version=2**70` reached SQL and overflowed (500) on both databases."""
    openapi = app.openapi()
    probed = 0
    for route in route_table(app):
        operation = openapi["paths"][route.path][route.method.lower()]
        for parameter in operation.get("parameters", []):
            if parameter["in"] not in ("query", "path"):
                continue
            schema = parameter["schema"]
            kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            if "integer" not in kinds and parameter["name"] != "cursor":
                continue
            for number in HUGE_NUMBERS:
                values = {parameter["name"]: number} if parameter["in"] == "path" else None
                url = httpx.URL(fill_path(route, values), params={**required_query(openapi, route)})
                if parameter["in"] == "query":
                    url = url.copy_merge_params({parameter["name"]: number})
                body = {} if route.has_body else None
                response = await client.request(route.method, url, json=body, headers=tenant.headers())
                where = f"{route} {parameter['name']}={number}: {response.text[:200]}"
                assert response.status_code in (400, 404, 422), where
                assert response.headers["content-type"] == PROBLEM, where
                probed += 1
    assert probed >= 10


EDGE_TIMES = ["0001-01-01T00:00:01+00:01", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z"]


async def test_every_date_time_parameter_survives_the_edges_of_the_calendar(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Found by the soak fuzz: an offset that takes a date past year 1 or 9999 in UTC overflowed (500)."""
    openapi = app.openapi()
    probed = 0
    for route in route_table(app):
        operation = openapi["paths"][route.path][route.method.lower()]
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            formats = {schema.get("format")} | {s.get("format") for s in schema.get("anyOf", [])}
            if parameter["in"] != "query" or "date-time" not in formats:
                continue
            for moment in EDGE_TIMES:
                url = httpx.URL(fill_path(route), params={**required_query(openapi, route), parameter["name"]: moment})
                response = await client.request(route.method, url, headers=tenant.headers())
                where = f"{route} {parameter['name']}={moment}: {response.text[:200]}"
                assert response.status_code in (200, 400, 404, 422), where
                probed += 1
    assert probed >= 4
    for moment in EDGE_TIMES:
        response = await client.post(
            "/v1/clients", json={"name": "edge", "roles": ["assessor"], "expires_at": moment}, headers=tenant.headers()
        )
        assert response.status_code in (201, 422), response.text
