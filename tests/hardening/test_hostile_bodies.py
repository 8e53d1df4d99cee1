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
from app.content import read_text
from app.scoring import load_document
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
    valid_answers,
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
    (
        "big-int",
        b'{"answers": {"child_age_years": 18446744073709551616}}',
        "application/json",
        422,
        "validation-error",
        "I-JSON",
    ),
    (
        "json-as-yaml-after-a-tab",  # libyaml refuses the TAB: the guard refuses the body, never passes it on
        b'\t{"subject_ref": "a\\u0000b", "answers": {"child_age_years": NaN}}',
        "application/yaml",
        400,
        "bad-request",
        "not valid YAML",
    ),
    ("yaml-nul", b'subject_ref: "a\\0b"\n', "application/yaml", 400, "bad-request", "U+0000"),
    ("yaml-nan", b"answers: {child_age_years: .nan}\n", "application/yaml", 400, "bad-request", "NaN"),
    ("yaml-infinity", b"answers: {child_age_years: -.inf}\n", "application/yaml", 400, "bad-request", "Infinity"),
    ("yaml-big-int", b"answers: {x: 18446744073709551616}\n", "application/yaml", 422, "validation-error", "I-JSON"),
    ("yaml-binary", b"subject_ref: !!binary aGVsbG8=\n", "application/yaml", 400, "bad-request", "binary"),
    ("yaml-int-key", b"answers: {1: x}\n", "application/yaml", 400, "bad-request", "key"),
    ("yaml-duplicate-key", b"a: 1\na: 2\n", "application/yaml", 400, "bad-request", "repeats the key 'a'"),
    ("yaml-recursive-alias", b"a: &a [*a]\n", "application/yaml", 400, "bad-request", "alias"),
    ("yaml-undefined-alias", b"a: *nowhere\n", "application/yaml", 400, "bad-request", "alias"),
    ("yaml-two-documents", b"a: 1\n---\nb: 2\n", "application/yaml", 400, "bad-request", "not valid YAML"),
    (
        "yaml-flow-1001",  # past libyaml's own nesting limit (1,000): still our depth limit that refuses it
        b"a: " + b"[" * 1001 + b"]" * 1001 + b"\n",
        "application/yaml",
        422,
        "validation-error",
        "json_max_depth",
    ),
    (
        "yaml-deep-by-alias",  # 20 levels anchored, repeated 20 levels down: 40 once expanded
        b"a: &a " + b"[" * 20 + b"]" * 20 + b"\nb: " + b"[" * 20 + b"*a" + b"]" * 20 + b"\n",
        "application/yaml",
        422,
        "validation-error",
        "json_max_depth",
    ),
    (
        "yaml-string-bomb",  # 9,000 characters repeated 90 x 90 times: few values, 73 MB once expanded
        b"s: &s "
        + b"x" * 9000
        + b"\nl: &l ["
        + b", ".join([b"*s"] * 90)
        + b"]\nm: ["
        + b", ".join([b"*l"] * 90)
        + b"]\n",
        "application/yaml",
        422,
        "validation-error",
        "max_body_bytes",
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


def _assessment_with(placeholder: str, fragment: bytes) -> bytes:
    """A valid assessment body with one JSON fragment written in where `placeholder` was."""
    body = json.dumps(assessment_body("subject-1") | {"answers": {**valid_answers(), "note": placeholder}}).encode()
    return body.replace(json.dumps(placeholder).encode(), fragment)


# The issue's payloads (attack 4), in a create body that would be stored if the guard let it through:
# (id, fragment, status, problem type, text the detail or first error must contain, the 422's pointer).
ISSUE_PAYLOADS: list[tuple[str, bytes, int, str, str, str]] = [
    ("nul", b'"a\\u0000b"', 400, "bad-request", "U+0000", ""),
    ("200k-string", b'"' + b"x" * 200_000 + b'"', 422, "validation-error", "json_max_string_chars", "/answers/note"),
    (
        "5000-items",
        json.dumps(list(range(5000))).encode(),
        422,
        "validation-error",
        "json_max_array_items",
        "/answers/note",
    ),
    ("nan", b"NaN", 400, "bad-request", "NaN", ""),
    ("lone-surrogate", b'"\\ud800"', 400, "bad-request", "surrogate", ""),
    ("2^64", str(2**64).encode(), 422, "validation-error", "I-JSON", "/answers/note"),
    # too deep for the parser to read at all: refused before parsing, at the root
    ("100000-deep", b"[" * 100_000 + b"]" * 100_000, 422, "validation-error", "json_max_depth", ""),
]


@pytest.mark.parametrize(
    ("case", "fragment", "status", "kind", "needle", "pointer"), ISSUE_PAYLOADS, ids=[p[0] for p in ISSUE_PAYLOADS]
)
async def test_the_guard_cannot_be_bypassed_by_the_media_type(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    case: str,
    fragment: bytes,
    status: int,
    kind: str,
    needle: str,
    pointer: str,
) -> None:
    """One reading of the request: one Content-Type, whose media type picks the parser the guard checks with."""
    body = _assessment_with(case, fragment)
    auth = list(tenant.headers(Role.assessor).items())
    json_type, yaml_type = ("Content-Type", "application/json"), ("Content-Type", "application/yaml")
    attempts = [
        ("as JSON", body, [json_type], status, kind, needle),
        ("as YAML after a TAB", b"\t" + body, [yaml_type], 400, "bad-request", "not valid YAML"),
        ("JSON then YAML", body, [json_type, yaml_type], 400, "bad-request", "exactly one Content-Type"),
        ("YAML then JSON", body, [yaml_type, json_type], 400, "bad-request", "exactly one Content-Type"),
        ("JSON twice", body, [json_type, json_type], 400, "bad-request", "exactly one Content-Type"),
    ]
    before = row_counts(app.state.engine)
    for how, content, content_types, want_status, want_kind, want_needle in attempts:
        response = await client.post("/v1/assessments", content=content, headers=[*auth, *content_types])
        where = f"{case} {how}: {response.status_code} {response.text[:300]}"
        assert response.status_code == want_status, where
        assert response.headers["content-type"] == PROBLEM, where
        problem = response.json()
        assert problem["type"] == f"/problems/{want_kind}", where
        said = problem.get("detail", "") + " ".join(e["detail"] for e in problem.get("errors") or [])
        assert want_needle in said, where
        if want_status == 422:
            assert problem["errors"][0]["pointer"] == pointer, where
    assert row_counts(app.state.engine) == before, f"{case} stored something"


async def test_a_valid_create_body_is_still_stored_as_sent(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = assessment_body("subject-1")
    created = await client.post("/v1/assessments", content=json.dumps(body), headers=tenant.headers(Role.assessor))
    assert created.status_code == 201, created.text
    assert created.json()["subject_ref"] == "subject-1"


RULESET_WITH_ALIASES = """\
title: "Rules with anchors"
questionnaire: {key: online-exposure, version: 1}
levels: [low, high]
disclaimer: "This result supports, and does not replace, professional judgement."
tests:
  - name: "base"
    answers: &calm {child_age_years: 14, contact_stranger: "no", shared_images: "no"}
    expect: {level: low}
  - name: "the base again"
    answers: *calm
    expect: {level: low}
  - name: "the base, one answer changed"
    answers:
      <<: *calm
      contact_stranger: "yes"
    expect: {level: high}
"""


async def test_aliases_and_merge_keys_in_a_draft_are_stored_expanded_as_checked(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = {**tenant.headers(Role.rule_author), "Content-Type": "application/yaml"}
    created = await client.post("/v1/rulesets/aliased-rules/versions", content=RULESET_WITH_ALIASES, headers=headers)
    assert created.status_code == 201, created.text
    calm = {"child_age_years": 14, "contact_stranger": "no", "shared_images": "no"}
    expected = [calm, calm, {**calm, "contact_stranger": "yes"}]
    assert [t["answers"] for t in created.json()["document"]["tests"]] == expected
    stored = await client.get("/v1/rulesets/aliased-rules/versions/1", headers=tenant.headers(Role.rule_author))
    assert [t["answers"] for t in stored.json()["document"]["tests"]] == expected


async def test_aliases_that_expand_past_the_body_limit_are_refused_before_anything_is_stored(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """The issue's 14.5 KB draft that became a 100 MB row: repeated answers, each holding a long text."""
    lines = ['title: "Expands"', "questionnaire: {key: online-exposure, version: 1}", "levels: [low, high]"]
    lines += [f"note: &note {'x' * 9_000}", "answers: &answers [" + ", ".join(["*note"] * 100) + "]", "tests:"]
    lines += [f'  - {{name: "t{i}", answers: {{notes: *answers}}, expect: {{level: low}}}}' for i in range(150)]
    before = row_counts(app.state.engine)
    headers = {**tenant.headers(Role.rule_author), "Content-Type": "application/yaml"}
    response = await client.post("/v1/rulesets/expanding/versions", content="\n".join(lines), headers=headers)
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"] == PROBLEM
    assert "max_body_bytes" in response.json()["errors"][0]["detail"]
    assert row_counts(app.state.engine) == before


@pytest.mark.parametrize("name", ["online-exposure.v1.yaml", "online-harm-england.v1.yaml"])
async def test_the_shipped_yaml_with_its_anchors_and_merges_is_accepted_as_a_draft(
    client: httpx.AsyncClient, tenant: Tenant, name: str
) -> None:
    kind = "questionnaires" if name.startswith("online-exposure") else "rulesets"
    shipped_key = name.split(".", 1)[0]
    text = read_text(name).replace(f"\nkey: {shipped_key}\n", "\nkey: our-copy\n", 1)
    headers = {**tenant.headers(Role.rule_author), "Content-Type": "application/yaml"}
    created = await client.post(f"/v1/{kind}/our-copy/versions", content=text, headers=headers)
    assert created.status_code == 201, created.text[:300]
    assert created.json()["document"] == load_document(text)


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
