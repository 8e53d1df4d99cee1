"""The examples of the OpenAPI document work when tried.

One real server per backend, seeded as `make run` seeds it (`riskapi dev-setup`: migrations, the shipped content,
a demo organisation and an all-roles key). Every operation of the document it serves runs once or more, in the
order of PLAN, with its documented request body and parameter examples; path parameters, ETags and other values
no example can know are bound to resources the earlier steps created. Each must answer its documented success
status. Destructive operations (revoke, retire) come last, on resources the test made for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.assessments.models import Assessment
from app.content.examples import assessment_request_json
from app.core.db import utcnow
from app.events.models import Event
from app.events.service import EventType
from app.openapi_dump import openapi_text
from app.verifiable_log import service as verifiable_log
from app.verifiable_log.keys import load_log_keys, new_signer_key
from tests.conftest import backends, create_postgres_database, drop_postgres_database, make_settings, require_postgres
from tests.servers import ROOT, start_server

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
ACTING_USER = "nurse-42"
LOG_SIGNING_KEY = new_signer_key("riskapi-examples")  # the server signs checkpoints with it

Context = dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One request: an operation of the document, the values bound by the test (path parameters, ETags, ...) by
    parameter name, and what to remember from the response for later steps."""

    method: str
    path: str
    bind: Mapping[str, Any] = field(default_factory=dict)  # a value, or a function of the context that gives it
    remember: Callable[[httpx.Response, Context], None] | None = None
    example: str | None = None  # the named body example to send; default: the first
    before: Callable[[Context], None] | None = None  # what the server's other processes would have done by then


def _etag(name: str) -> Callable[[httpx.Response, Context], None]:
    def remember(response: httpx.Response, context: Context) -> None:
        context[name] = response.headers["ETag"]

    return remember


def _remember_client(response: httpx.Response, context: Context) -> None:
    issued = response.json()
    context["client_id"] = issued["client"]["id"]
    context["first_key_id"] = issued["key_id"]


def _remember(name: str) -> Callable[[httpx.Response, Context], None]:
    def remember(response: httpx.Response, context: Context) -> None:
        context[name] = response.json()["id"]

    return remember


def _fresh_key(_: Context) -> str:
    return str(uuid.uuid4())


QUESTIONNAIRE = {"key": lambda c: c["questionnaire_key"]}
QUESTIONNAIRE_V1 = {**QUESTIONNAIRE, "version": 1}
RULESET = {"key": lambda c: c["ruleset_key"]}
RULESET_V1 = {**RULESET, "version": 1}
SHIPPED_RULESET = {"key": "online-harm-england", "version": 1}
SHIPPED_QUESTIONNAIRE = {"key": "online-exposure", "version": 1}
FIRST = {"assessment_id": lambda c: c["first_revision"]}
PATCHED = {"assessment_id": lambda c: c["patched"]}
AMENDED = {"assessment_id": lambda c: c["amended"]}
CLIENT = {"client_id": lambda c: c["client_id"]}
HOOK = {"endpoint_id": lambda c: c["endpoint_id"]}


def _an_assessment_event(context: Context) -> str:
    """The id of an assessment.created event of the organisation the steps work in (the assessment steps emit
    them)."""
    engine = create_engine(context["database_url"])
    try:
        with Session(engine) as session, session.begin():
            assessment = session.get(Assessment, context["first_revision"])
            assert assessment is not None
            found = session.scalar(
                select(Event.id).where(
                    Event.organisation_id == assessment.organisation_id, Event.type == EventType.assessment_created
                )
            )
            assert found is not None, "creating the assessment wrote no assessment.created event"
            return found
    finally:
        engine.dispose()


def _sign_checkpoint(context: Context) -> None:
    """What the worker does meanwhile: extend the organisation's tree over its audit events and sign a checkpoint
    (the server's key, so the server's origin); its size is `tree_size` for the steps after."""
    settings = make_settings(context["database_url"], log_signing_key=LOG_SIGNING_KEY)
    engine = create_engine(context["database_url"])
    try:
        with Session(engine) as session, session.begin():
            assessment = session.get(Assessment, context["first_revision"])
            assert assessment is not None
            extended, signed = verifiable_log.advance(
                session, assessment.organisation_id, load_log_keys(settings), utcnow()
            )
            assert signed is not None, extended
            context["tree_size"] = signed.tree_size
    finally:
        engine.dispose()


SIGNED = {"tree_size": lambda c: c["tree_size"]}


def _draft_lifecycle(kind: str, named: dict[str, Any], etag: str, reads: Sequence[Step] = ()) -> list[Step]:
    """The operations of one kind of content document, in order: the example document becomes draft 1, is read
    (then `reads`), replaced, validated and published; then draft 2 is created and diffed."""
    base = f"/v1/{kind}"
    version = {**named, "version": 1}
    matching = {**version, "If-Match": lambda c: c[etag]}
    return [
        Step("get", f"{base}/schema"),
        Step("get", base),
        Step("post", f"{base}/validate"),
        Step("post", f"{base}/{{key}}/versions", named, remember=_etag(etag)),
        Step("get", f"{base}/{{key}}/versions", named),
        Step("get", f"{base}/{{key}}/versions/{{version}}", version),
        *reads,
        Step("put", f"{base}/{{key}}/versions/{{version}}", matching, remember=_etag(etag)),
        Step("post", f"{base}/{{key}}/versions/{{version}}/validate", version),
        Step("post", f"{base}/{{key}}/versions/{{version}}/publish", matching),
        Step("post", f"{base}/{{key}}/versions", named),
        Step("get", f"{base}/{{key}}/diff", named),
    ]


PLAN: list[Step] = [
    Step("get", "/healthz"),
    Step("get", "/readyz"),
    Step("get", "/metrics"),
    Step("get", "/problems/{kind}"),
    # API clients: one made here for the revocations at the end
    Step("get", "/v1/clients"),
    Step("post", "/v1/clients", remember=_remember_client),
    Step("post", "/v1/clients/{client_id}/rotate", CLIENT),
    # assessments: create (vignette V1), read it with its answers, amend it by a patch (what was learned later),
    # then with the complete answers, override the amended revision (a raise)
    Step("post", "/v1/assessments", {"Idempotency-Key": _fresh_key}, remember=_remember("first_revision")),
    Step("get", "/v1/assessments"),
    Step("get", "/v1/assessments/{assessment_id}", FIRST),
    Step("get", "/v1/assessments/{assessment_id}/revisions", FIRST),
    Step("get", "/v1/assessments/{assessment_id}/questionnaire-response", FIRST),
    Step(
        "post",
        "/v1/assessments/{assessment_id}/revisions",
        FIRST,
        remember=_remember("patched"),
        example="answers_patch",
    ),
    Step("post", "/v1/assessments/{assessment_id}/revisions", PATCHED, remember=_remember("amended")),
    Step("post", "/v1/assessments/{assessment_id}/override", AMENDED),
    Step("post", "/v1/assessments/{assessment_id}/rescore", AMENDED),
    Step("get", "/v1/assessments/{assessment_id}/replay", AMENDED),
    Step("get", "/v1/assessments/{assessment_id}/report", AMENDED),
    # its decision receipt (a checkpoint signed on demand) and the stored record the receipt commits to
    Step("get", "/v1/assessments/{assessment_id}/receipt", AMENDED),
    Step("get", "/v1/assessments/{assessment_id}/record", AMENDED),
    # questionnaires: the example document becomes draft 1, is replaced, validated and published; then draft 2
    *_draft_lifecycle(
        "questionnaires",
        QUESTIONNAIRE,
        "questionnaire_etag",
        reads=[
            Step("get", "/v1/questionnaires/{key}/versions/{version}/answers-schema", SHIPPED_QUESTIONNAIRE),
            # the FHIR representation of the shipped questionnaire, as a FHIR tool asks for it
            Step("get", "/v1/questionnaires/{key}/versions/{version}", {**SHIPPED_QUESTIONNAIRE, "_format": "json"}),
        ],
    ),
    # rule sets: the same for the example rule set (published and made current), dry runs on the shipped one
    *_draft_lifecycle("rulesets", RULESET, "ruleset_etag"),
    Step("post", "/v1/rulesets/{key}/versions/{version}/evaluate", SHIPPED_RULESET),
    Step("get", "/v1/rulesets/{key}/versions/{version}/fixtures", SHIPPED_RULESET),
    Step("post", "/v1/rulesets/{key}/versions/{version}/impact", RULESET_V1),
    Step("get", "/v1/fhir/Questionnaire"),  # canonical resolution (the shipped questionnaire)
    Step("get", "/v1/fhir/CodeSystem"),
    Step("get", "/v1/organisation/current-rulesets"),
    Step("get", "/v1/organisation/fhir"),
    Step("put", "/v1/organisation/fhir"),  # the system `riskapi dev-setup` set, again
    Step("put", "/v1/organisation/current-rulesets"),  # back to the shipped rule set, so the example one can retire
    Step("get", "/v1/events"),  # the changes feed: every change above, from the oldest kept event
    # webhooks: subscribe, read, change, rotate the secret, see the attempts, redeliver an assessment event
    Step("get", "/v1/webhooks"),
    Step("post", "/v1/webhooks", remember=_remember("endpoint_id")),
    Step("get", "/v1/webhooks/{endpoint_id}", HOOK),
    Step("patch", "/v1/webhooks/{endpoint_id}", HOOK),
    Step("post", "/v1/webhooks/{endpoint_id}/rotate-secret", HOOK),
    Step("get", "/v1/webhooks/{endpoint_id}/attempts", HOOK),
    Step(
        "post", "/v1/webhooks/{endpoint_id}/deliveries/{event_id}/redeliver", {**HOOK, "event_id": _an_assessment_event}
    ),
    Step("get", "/v1/audit/events"),
    Step("get", "/v1/audit/verify"),
    # the verifiable log: the public keys, a checkpoint signed over everything above, proofs at its size
    Step("get", "/v1/audit/keys"),
    Step("get", "/v1/audit/checkpoint", before=_sign_checkpoint),
    Step("get", "/v1/audit/checkpoints/{tree_size}", SIGNED),
    Step("get", "/v1/audit/proofs/inclusion", {"sequence": 1, **SIGNED}),
    Step("get", "/v1/audit/proofs/consistency", {"from": SIGNED["tree_size"], "to": SIGNED["tree_size"]}),
    # last, each on a resource made above for it
    Step("post", "/v1/assessments/{assessment_id}/entered-in-error", AMENDED),
    Step("post", "/v1/clients/{client_id}/keys/{key_id}/revoke", {**CLIENT, "key_id": lambda c: c["first_key_id"]}),
    Step("post", "/v1/clients/{client_id}/revoke", CLIENT),
    Step("post", "/v1/questionnaires/{key}/versions/{version}/retire", QUESTIONNAIRE_V1),
    Step("post", "/v1/rulesets/{key}/versions/{version}/retire", RULESET_V1),
]


# --- reading the document ------------------------------------------------------------------------------------


def operations(document: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def _resolve(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object a `$ref` (to `#/components/<section>/<name>`) stands for."""
    while "$ref" in schema:
        section, name = schema["$ref"].removeprefix("#/components/").split("/")
        schema = document["components"][section][name]
    return schema


NO_EXAMPLE = object()


def schema_example(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Any:
    """A schema's own example, or that of the first of its alternatives that has one (a nullable body)."""
    schema = _resolve(document, schema)
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []):
        found = schema_example(document, alternative)
        if found is not NO_EXAMPLE:
            return found
    return NO_EXAMPLE


def documented_example(document: Mapping[str, Any], holder: Mapping[str, Any]) -> Any:
    """The example of a parameter or a media type: its own `example`, the first of its `examples`, else its
    schema's (what Swagger UI's "Try it out" fills in)."""
    if "example" in holder:
        return holder["example"]
    if holder.get("examples"):
        return next(iter(holder["examples"].values()))["value"]
    return schema_example(document, holder.get("schema", {}))


def body_example(document: Mapping[str, Any], operation: Mapping[str, Any], name: str | None = None) -> Any:
    content = operation["requestBody"]["content"]["application/json"]
    if name is not None:
        return content["examples"][name]["value"]
    return documented_example(document, content)


def _first_example(operation: Mapping[str, Any]) -> str | None:
    examples = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("examples", {})
    return next(iter(examples), None)


def success_status(operation: Mapping[str, Any]) -> int:
    statuses = [int(status) for status in operation["responses"] if status.startswith("2")]
    assert len(statuses) == 1, f"{operation['operationId']} documents {statuses} as success"
    return statuses[0]


# --- the server -------------------------------------------------------------------------------------------------


def dev_setup(database_url: str, key_path: Path) -> str:
    """`riskapi dev-setup` as `make run` runs it; returns the all-roles development key it wrote."""
    environment = {
        **os.environ,
        "RISKAPI_DATABASE_URL": database_url,
        "RISKAPI_ENVIRONMENT": "test",
        "RISKAPI_DEV_KEY_PATH": str(key_path),
        "RISKAPI_DEV_LOG_KEY_PATH": str(key_path.with_name("dev-log-signing-key")),
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "dev-setup"], cwd=ROOT, env=environment, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return key_path.read_text().strip()


@dataclass
class Served:
    base: str
    key: str
    database_url: str


@pytest.fixture(params=backends())
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    if request.param == "sqlite":
        database_url, cleanup = f"sqlite:///{tmp_path / 'riskapi.db'}", None
    else:
        admin_url = require_postgres()
        name = f"riskapi_examples_{uuid.uuid4().hex[:8]}"
        database_url, cleanup = create_postgres_database(admin_url, name), (admin_url, name)
    try:
        key = dev_setup(database_url, tmp_path / "dev-api-key")
        server = start_server(database_url, tmp_path / "server.log", RISKAPI_LOG_SIGNING_KEY=LOG_SIGNING_KEY)
        try:
            yield Served(server.base, key, database_url)
        finally:
            server.stop()
    finally:
        if cleanup is not None:
            drop_postgres_database(*cleanup)


# --- the tests --------------------------------------------------------------------------------------------------


def test_every_operation_runs_with_its_documented_examples(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as http:
        document = http.get("/openapi.json").json()
        documented = operations(document)
        planned = {(step.method, step.path) for step in PLAN}
        assert not documented.keys() - planned, (
            f"operations the example test does not run: {documented.keys() - planned}"
        )
        assert not planned - documented.keys(), (
            f"steps for operations not in the document: {planned - documented.keys()}"
        )

        named = {
            (method, path, name)
            for (method, path), operation in documented.items()
            for name in operation.get("requestBody", {})
            .get("content", {})
            .get("application/json", {})
            .get("examples", {})
        }
        sent = {
            (step.method, step.path, step.example or _first_example(documented[step.method, step.path]))
            for step in PLAN
        }
        assert not named - sent, f"named body examples the example test does not send: {named - sent}"

        context: Context = {
            "database_url": served.database_url,
            "questionnaire_key": body_example(document, documented["post", "/v1/questionnaires/{key}/versions"])["key"],
            "ruleset_key": body_example(document, documented["post", "/v1/rulesets/{key}/versions"])["key"],
        }
        for step in PLAN:
            if step.before is not None:
                step.before(context)
            operation = documented[step.method, step.path]
            request = build_request(document, operation, step, context, served.key)
            response = http.send(http.build_request(step.method.upper(), **request))
            expected = success_status(operation)
            assert response.status_code == expected, (
                f"{step.method.upper()} {request['url']} answered {response.status_code}, documented {expected}:\n"
                f"{response.text[:2000]}"
            )
            if step.remember is not None:
                step.remember(response, context)


def build_request(
    document: Mapping[str, Any], operation: Mapping[str, Any], step: Step, context: Context, key: str
) -> dict[str, Any]:
    """The request a "Try it out" makes: every parameter with a value (bound by the step, else its example, else
    X-Acting-User's), the documented body example, and the development key."""
    url, query, headers = step.path, {}, {"Authorization": f"Bearer {key}"}
    unknown = set(step.bind) - {parameter["name"] for parameter in operation.get("parameters", [])}
    assert not unknown, f"{step.method} {step.path} binds parameters it does not declare: {unknown}"
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if name in step.bind:
            bound = step.bind[name]
            value = bound(context) if callable(bound) else bound
        elif (example := documented_example(document, parameter)) is not NO_EXAMPLE:
            value = example
        elif name.lower() == "x-acting-user":
            value = ACTING_USER
        else:
            assert not parameter.get("required"), f"{step.method} {step.path}: no value for {name}"
            continue
        if parameter["in"] == "path":
            url = url.replace("{" + name + "}", str(value))
        elif parameter["in"] == "query":
            query[name] = value
        elif parameter["in"] == "header":
            headers[name] = str(value)
    request: dict[str, Any] = {"url": url, "params": query, "headers": headers}
    if "requestBody" in operation:
        body = body_example(document, operation, step.example)
        assert body is not NO_EXAMPLE, f"{step.method} {step.path} documents no request body example"
        request["json"] = body
    return request


def test_each_error_status_of_an_operation_has_its_own_example() -> None:
    document = json.loads(openapi_text())
    for (method, path), operation in operations(document).items():
        seen: dict[str, str] = {}
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            media = response["content"]["application/problem+json"]
            examples = [_resolve(document, example)["value"] for example in media["examples"].values()]
            assert examples, f"{method} {path} {status} has no example"
            for example in examples:
                assert example["status"] == int(status), f"{method} {path} {status}: example says {example['status']}"
                assert example["type"].startswith("/problems/")
                assert "errors" not in example or status == "422", f"{method} {path} {status} lists field errors"
                if "errors" in example and "requestBody" not in operation:
                    assert all(error.get("location", "body") != "body" for error in example["errors"]), (
                        f"{method} {path} has no body, but its 422 example points into one"
                    )
                text = json.dumps(example, sort_keys=True)
                assert text not in seen, f"{method} {path}: {status} and {seen[text]} share an example"
                seen[text] = status


def test_the_docs_example_request_is_the_app_example() -> None:
    committed = (ROOT / "docs" / "examples" / "assessment-request.json").read_text(encoding="utf-8")
    assert committed == assessment_request_json(), "run `make docs` to regenerate docs/examples/assessment-request.json"
