"""The Idempotency-Key's fingerprint and its problem type, without a database (the behaviour on both databases:
tests/assessments/test_idempotency.py)."""

from __future__ import annotations

import json
from pathlib import Path

from app.assessments.dependencies import request_fingerprint
from app.core.errors import PROBLEM_TYPES, IdempotencyKeyReused
from app.health.router import problem_type

OPENAPI = Path(__file__).resolve().parents[1] / "openapi.json"
PATH = "/v1/assessments"


def test_the_fingerprint_sorts_query_parameters_and_normalises_the_media_type() -> None:
    base = request_fingerprint("POST", PATH, [("a", "1"), ("b", "2")], "application/json", {"x": 1})
    assert base == request_fingerprint("POST", PATH, [("b", "2"), ("a", "1")], None, {"x": 1})
    assert base == request_fingerprint(
        "POST", PATH, [("b", "2"), ("a", "1")], "APPLICATION/JSON ; charset=UTF-8", {"x": 1}
    )
    others = [
        request_fingerprint("POST", PATH, [("a", "1")], "application/json", {"x": 1}),
        request_fingerprint("POST", PATH, [("a", "1"), ("b", "2"), ("b", "2")], None, {"x": 1}),
        request_fingerprint("POST", PATH, [("a", "1"), ("b", "2=")], None, {"x": 1}),
        request_fingerprint("POST", f"{PATH}/x/override", [("a", "1"), ("b", "2")], None, {"x": 1}),
        request_fingerprint("PUT", PATH, [("a", "1"), ("b", "2")], None, {"x": 1}),
        request_fingerprint("POST", PATH, [("a", "1"), ("b", "2")], "application/merge-patch+json", {"x": 1}),
        request_fingerprint("POST", PATH, [("a", "1"), ("b", "2")], None, {"x": 2}),
        request_fingerprint("POST", PATH, [("a", "1"), ("b", "2")], None, {"x": 1.5}),
        request_fingerprint("POST", PATH, [("a", "1"), ("b", "2")], None, None),
    ]
    assert base not in others
    assert len(set(others)) == len(others)


def test_the_reused_key_problem_has_its_own_type_page_and_documented_responses() -> None:
    assert PROBLEM_TYPES["idempotency-key-reused"] is IdempotencyKeyReused
    page = bytes(problem_type("idempotency-key-reused").body).decode()
    assert "Idempotency-Key" in page
    assert "HTTP status 422" in page
    paths = json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"]
    for path in (
        PATH,
        f"{PATH}/{{assessment_id}}/revisions",
        f"{PATH}/{{assessment_id}}/override",
        f"{PATH}/{{assessment_id}}/entered-in-error",
    ):
        operation = paths[path]["post"]
        assert "/problems/idempotency-key-reused" in operation["responses"]["422"]["description"], path
        (header,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert "idempotency-key-reused" in header["description"], path
