"""The committed openapi.json is precise enough for code generation: a client generated from it by
openapi-python-client (any generator warning fails) runs an integrator's first workflow against a real server,
through the generated functions and models only: authenticate, list questionnaires, create an assessment with an
Idempotency-Key (and replay it), read it, override it, verify the audit chain, send a YAML document.

The client is generated once per test session into a temporary folder and never committed."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import new_database
from tests.servers import Server, start_server

pytestmark = pytest.mark.xdist_group("servers")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "riskapi_client"
# Run from the repository's root; docs/http.md shows the same command ("Generate a client").
GENERATE = [
    "openapi-python-client", "generate", "--path", "openapi.json", "--meta", "none",
    "--config", "docs/examples/openapi-python-client.yaml", "--fail-on-warning",
]  # fmt: skip
EXAMPLE_REQUEST = ROOT / "docs" / "examples" / "assessment-request.json"
SHIPPED_QUESTIONNAIRE = ROOT / "app" / "content" / "online-exposure.v1.yaml"
ACTING_USER = "nurse-42"


def documented_command() -> str:
    return shlex.join([*GENERATE, "--output-path", PACKAGE])


def test_docs_show_the_command_this_test_generates_with() -> None:
    assert documented_command() in (ROOT / "docs" / "http.md").read_text()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, importable while the session lasts; sys.path and sys.modules restored after."""
    folder = tmp_path_factory.mktemp("generated-client")
    executable = Path(sys.executable).with_name(GENERATE[0])
    run = subprocess.run(
        [str(executable), *GENERATE[1:], "--output-path", str(folder / PACKAGE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"openapi-python-client failed on openapi.json:\n{output}"
    assert "warning" not in output.lower(), f"openapi-python-client warned about openapi.json:\n{output}"
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]
        importlib.invalidate_caches()


def dev_setup(database_url: str, folder: Path) -> subprocess.Popen[str]:
    """`riskapi dev-setup`, as `make run` does: migrate, load the default content, create the demo organisation and
    a development key holding every role (written to folder/dev-api-key)."""
    environment = {
        **os.environ,
        "RISKAPI_DATABASE_URL": database_url,
        "RISKAPI_ENVIRONMENT": "test",
        "RISKAPI_DEV_KEY_PATH": str(folder / "dev-api-key"),
        "RISKAPI_DEV_LOG_KEY_PATH": str(folder / "dev-log-signing-key"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "dev-setup"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from new_database(request.param, tmp_path, "client")


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A real server set up as `make run` sets one up, and its development key. The server starts while dev-setup
    runs (it is ready once the database is migrated, hence the long bound on a busy machine); the test begins when
    both are done."""
    setup = dev_setup(database_url, tmp_path)
    try:
        server = start_server(database_url, tmp_path / "server.log", ready_timeout=120)
    finally:
        output, _ = setup.communicate(timeout=120)
    try:
        assert setup.returncode == 0, f"riskapi dev-setup failed:\n{output}"
        yield server, (tmp_path / "dev-api-key").read_text().strip()
    finally:
        server.stop()


def declares_acting_user(operation: ModuleType) -> bool:
    return "x_acting_user" in inspect.signature(operation.sync_detailed).parameters


def call(operation: ModuleType, **arguments: Any) -> Any:
    """The operation's sync_detailed, naming the acting user wherever the operation declares the header."""
    if declares_acting_user(operation):
        arguments["x_acting_user"] = ACTING_USER
    return operation.sync_detailed(**arguments)


def test_generated_client_runs_the_first_workflow(generated: ModuleType, served: tuple[Server, str]) -> None:
    server, api_key = served
    models = importlib.import_module(f"{PACKAGE}.models")
    api = {
        name: importlib.import_module(f"{PACKAGE}.api.{name}")
        for name in (
            "questionnaires.list_questionnaires",
            "assessments.create_assessment",
            "assessments.get_assessment",
            "assessments.override_assessment",
            "audit.verify_audit_chain",
            "questionnaires.validate_questionnaire_document",
        )
    }
    case_data = ("assessments.create_assessment", "assessments.get_assessment", "assessments.override_assessment")
    assert all(declares_acting_user(api[name]) for name in case_data), "case-data operations take X-Acting-User"
    example = json.loads(EXAMPLE_REQUEST.read_text())

    with generated.AuthenticatedClient(
        base_url=server.base, token=api_key, raise_on_unexpected_status=True, timeout=httpx.Timeout(30)
    ) as client:
        listed = call(api["questionnaires.list_questionnaires"], client=client)
        assert listed.status_code == HTTPStatus.OK
        assert isinstance(listed.parsed, models.QuestionnaireVersionPage)
        published = [q for q in listed.parsed.items if q.status == models.ContentStatus.PUBLISHED]
        questionnaire = max((q for q in published if q.key == example["questionnaire"]["key"]), key=lambda q: q.version)
        assert questionnaire.version == example["questionnaire"]["version"]

        body = models.AssessmentCreate(
            questionnaire=models.QuestionnaireRef(key=questionnaire.key, version=questionnaire.version),
            subject_ref=f"case-{uuid.uuid4().hex[:8]}",
            answers=models.AssessmentCreateAnswers.from_dict(example["answers"]),
        )
        idempotency_key = str(uuid.uuid4())
        created = call(api["assessments.create_assessment"], client=client, body=body, idempotency_key=idempotency_key)
        assert created.status_code == HTTPStatus.CREATED, created.content
        assessment = created.parsed
        assert isinstance(assessment, models.AssessmentRead)
        assert (assessment.level, assessment.computed_level) == ("low", "low")  # worked vignette V1
        assert assessment.subject_ref == body.subject_ref
        assert assessment.acting_user == ACTING_USER
        assert assessment.overrides == []
        assert created.headers["location"].endswith(f"/v1/assessments/{assessment.id}")

        retried = call(api["assessments.create_assessment"], client=client, body=body, idempotency_key=idempotency_key)
        assert retried.status_code == HTTPStatus.CREATED
        assert retried.headers.get("idempotent-replayed") == "true"
        assert isinstance(retried.parsed, models.AssessmentRead)
        assert retried.parsed.id == assessment.id

        read = call(api["assessments.get_assessment"], client=client, assessment_id=assessment.id)
        assert read.status_code == HTTPStatus.OK
        assert isinstance(read.parsed, models.AssessmentRead)
        assert (read.parsed.id, read.parsed.level, read.parsed.created_at) == (
            assessment.id,
            "low",
            assessment.created_at,
        )

        # The default content allows raising only: from the computed "low" to "high".
        override = models.OverrideCreate(level="high", rationale="Disclosed further contact since the assessment.")
        overridden = call(
            api["assessments.override_assessment"], client=client, assessment_id=assessment.id, body=override
        )
        assert overridden.status_code == HTTPStatus.CREATED, overridden.content
        assert isinstance(overridden.parsed, models.AssessmentRead)
        assert (overridden.parsed.level, overridden.parsed.computed_level) == ("high", "low")
        last = overridden.parsed.overrides[-1]
        assert isinstance(last, models.OverrideRead)
        assert (last.previous_level, last.level, last.acting_user) == ("low", "high", ACTING_USER)

        verified = call(api["audit.verify_audit_chain"], client=client)
        assert verified.status_code == HTTPStatus.OK
        report = verified.parsed
        assert isinstance(report, models.VerificationRead)
        assert report.ok, report.problem
        assert report.first_broken_sequence is None
        assert report.events >= 3  # the create, its replay and the override at least
        assert report.records_checked >= 1
        assert report.record_problems == []

        # A YAML document body goes as the bytes given (docs/examples/openapi-python-client.yaml).
        file = importlib.import_module(f"{PACKAGE}.types").File
        yaml_body = file(payload=io.BytesIO(SHIPPED_QUESTIONNAIRE.read_bytes()))
        checked = call(api["questionnaires.validate_questionnaire_document"], client=client, body=yaml_body)
        assert checked.status_code == HTTPStatus.OK, checked.content
        assert isinstance(checked.parsed, models.ValidationReport)
        assert checked.parsed.valid, checked.parsed.errors
