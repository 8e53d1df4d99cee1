"""schemathesis against our own OpenAPI document, authenticated with every role: no 5xx, every response as
documented (status, media type, schema, headers), every error problem+json.

Bounded and deterministic in `make test` (fixed example count, derandomized); `make soak` raises the counts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext

from app.fhir.media import FHIR_FORMATS
from app.main import create_app
from app.rulesets.seed import seed_default_content
from tests.conftest import (
    create_postgres_database,
    drop_postgres_database,
    make_settings,
    make_tenant,
    migrate,
    require_postgres,
)
from tests.hardening.support import SOAK

EXAMPLES = 8
STATEFUL_SCENARIOS, STATEFUL_STEPS = 15, 10
SOAK_EXAMPLES = int(os.environ.get("RISKAPI_FUZZ_EXAMPLES", "300"))
SOAK_STATEFUL_SCENARIOS, SOAK_STATEFUL_STEPS = 200, 25
PROBLEM = "application/problem+json"

pytestmark = pytest.mark.xdist_group("fuzz")


class FuzzTarget:
    def __init__(self, app: FastAPI, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers
        self.requests = 0
        self.statuses: dict[int, int] = {}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzz_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    admin_url: str | None = None
    name = f"riskapi_fuzz_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fuzz.db'}"
    else:
        admin_url = require_postgres()
        url = create_postgres_database(admin_url, name)
    migrate(url)
    app = create_app(make_settings(url, log_level="CRITICAL"))
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)
    tenant = make_tenant(app)
    target = FuzzTarget(app, tenant.headers(acting_user="fuzz-professional"))
    yield target
    app.state.engine.dispose()
    if admin_url is not None:
        drop_postgres_database(admin_url, name)
    print(f"\nFUZZ FIGURES ({request.param}): {target.requests} requests, statuses {sorted(target.statuses.items())}")


def _load_schema() -> Any:
    """The document is the app's own (no database needed to build it); requests go to the fixture's app."""
    loaded = schemathesis.openapi.from_dict(create_app(make_settings("sqlite:///:memory:")).openapi())
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_x00=True)
    return loaded


schema = _load_schema()


def _asks_for_fhir(case: Any) -> bool:
    """As app/fhir/media.py `wants_fhir` reads a request: `_format` naming JSON, else Accept."""
    requested = (case.query or {}).get("_format")
    if requested is not None:
        return str(requested).strip().lower() in FHIR_FORMATS
    return "application/fhir+json" in str((case.headers or {}).get("Accept", "")).lower()


def problem_json_for_errors(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx is RFC 9457 problem+json with a type, a title, the status and the request id; or, when the
    request asked for FHIR (`_format`, or Accept), an OperationOutcome with at least one issue."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if _asks_for_fhir(case):
        assert content_type == "application/fhir+json", f"{response.status_code} answered as {content_type!r}"
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert all(issue["severity"] == "error" and issue["code"] for issue in outcome["issue"])
        return True
    assert content_type == PROBLEM, f"{response.status_code} answered as {content_type!r}"
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith("/problems/")
    assert body["title"]
    assert body["request_id"]
    return True


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


def check_one(case: Any, target: FuzzTarget) -> None:
    case.headers = {**(case.headers or {}), **target.headers}
    target.requests += 1
    response = case.call_and_validate(checks=CHECKS, additional_checks=[problem_json_for_errors], app=target.app)
    target.statuses[response.status_code] = target.statuses.get(response.status_code, 0) + 1


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )


@schema.parametrize()
@fuzz_settings(EXAMPLES)
def test_every_operation_answers_as_documented(case: Any, fuzz_target: FuzzTarget) -> None:
    check_one(case, fuzz_target)


@pytest.mark.slow
@pytest.mark.skipif(not SOAK, reason="a soak variant: run by `make soak`")
@schema.parametrize()
@fuzz_settings(SOAK_EXAMPLES)
def test_soak_every_operation_answers_as_documented(case: Any, fuzz_target: FuzzTarget) -> None:
    check_one(case, fuzz_target)


def run_workflows(target: FuzzTarget, scenarios: int, steps: int) -> None:
    """Links inferred from the document chain calls (create, then read, amend, override, publish...)."""
    # Revoking or rotating the fuzzer's own key (its id is in GET /v1/clients) would end the run with 401s.
    workflow = schema.exclude(path_regex=r"^/v1/clients/").as_state_machine()

    class Workflow(workflow):  # type: ignore[misc, valid-type]
        def before_call(self, case: Any) -> None:
            case.headers = {**(case.headers or {}), **target.headers}

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": target.app}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            target.requests += 1
            target.statuses[response.status_code] = target.statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS, additional_checks=[problem_json_for_errors])

    Workflow.run(
        settings=settings(
            max_examples=scenarios,
            stateful_step_count=steps,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        )
    )


def test_stateful_workflows_answer_as_documented(fuzz_target: FuzzTarget) -> None:
    run_workflows(fuzz_target, STATEFUL_SCENARIOS, STATEFUL_STEPS)


@pytest.mark.slow
@pytest.mark.skipif(not SOAK, reason="a soak variant: run by `make soak`")
def test_soak_stateful_workflows_answer_as_documented(fuzz_target: FuzzTarget) -> None:
    run_workflows(fuzz_target, SOAK_STATEFUL_SCENARIOS, SOAK_STATEFUL_STEPS)
