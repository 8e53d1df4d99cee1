"""Request bodies are read as JSON means them: no string-to-integer (or any scalar) coercion, and a missing body
says so instead of a bare "Field required"."""

from __future__ import annotations

import enum
import re
import types
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError

from app.auth.permissions import Role
from app.main import BODY_MODELS_READ_BY_DEPENDENCIES, create_app
from tests.conftest import Tenant, make_settings

# What Pydantic's lax mode would turn into the field's type, and the JSON a careless client sends for it.
COERCIBLE: dict[type, list[Any]] = {
    int: ["1", 1.0, True],
    float: ["1.5"],
    bool: ["true", 1, "yes"],
    str: [1, 1.5, True],
}


def _body_models(dependant: Dependant) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for field in dependant.body_params:
        found.extend(_models_in(field.field_info.annotation))
    for sub in dependant.dependencies:
        found.extend(_body_models(sub))
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        nested = [m for f in annotation.model_fields.values() for m in _models_in(f.annotation)]
        return [annotation, *nested]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def request_body_models() -> list[type[BaseModel]]:
    app = create_app(make_settings("sqlite:///:memory:"))
    models: dict[str, type[BaseModel]] = {}
    for model in BODY_MODELS_READ_BY_DEPENDENCIES:
        models.update((m.__qualname__, m) for m in _models_in(model))
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            models.update((m.__qualname__, m) for m in _body_models(route.dependant))
    return list(models.values())


def _scalars(annotation: Any) -> list[type]:
    """The scalar types a field accepts directly (Optional and Annotated unwrapped; containers not)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _scalars(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _scalars(arg)]
    return [annotation] if annotation in COERCIBLE else []


def _natural_json(annotation: Any) -> Any:
    """A value in the JSON form a client naturally sends for a type Python-mode strictness would refuse, or None."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _natural_json(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return next((v for arg in get_args(annotation) if (v := _natural_json(arg)) is not None), None)
    if origin is list:
        item = _natural_json(get_args(annotation)[0])
        return None if item is None else [item]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return next(iter(annotation)).value
    if annotation is datetime:
        return "2999-01-01T00:00:00Z"
    if annotation is date:
        return "2999-01-01"
    if origin is Literal:
        return None
    return None


def _errors_at(model: type[BaseModel], name: str, value: Any) -> list[str]:
    try:
        model.model_validate({name: value})
    except ValidationError as exc:
        return [e["type"] for e in exc.errors() if e["loc"][:1] == (name,)]
    return []


def test_every_request_body_model_refuses_coerced_scalars_and_takes_json_forms() -> None:
    models = request_body_models()
    names = {m.__name__ for m in models}
    assert {"AssessmentCreate", "QuestionnaireRef", "ClientCreate", "ImpactRequest", "ContentRef"} <= names
    coerced, refused_natural, checked = [], [], 0
    for model in models:
        for name, field in model.model_fields.items():
            alias = field.alias or name
            for scalar in _scalars(field.annotation):
                for value in COERCIBLE[scalar]:
                    checked += 1
                    if not any(t.endswith("_type") for t in _errors_at(model, alias, value)):
                        coerced.append(f"{model.__name__}.{name}: {value!r} accepted as {scalar.__name__}")
            natural = _natural_json(field.annotation)
            if natural is not None:
                wrong = [t for t in _errors_at(model, alias, natural) if t.endswith("_type") or t == "enum"]
                if wrong:
                    refused_natural.append(f"{model.__name__}.{name}: {natural!r} refused ({wrong})")
    assert checked > 30
    assert coerced == []
    assert refused_natural == []


async def test_a_string_version_is_422_naming_it(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {
        "questionnaire": {"key": "online-exposure", "version": "1"},
        "ruleset": {"key": "online-harm-england", "version": 1.0},
        "subject_ref": "case-1",
        "answers": {},
    }
    response = await client.post("/v1/assessments", json=body, headers=tenant.headers(Role.assessor))
    assert response.status_code == 422, response.text
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {"/questionnaire/version", "/ruleset/version"}


async def test_json_forms_of_times_and_roles_are_still_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(
        "/v1/clients",
        json={"name": "cms", "roles": ["assessor", "auditor"], "expires_at": "2999-01-01T00:00:00+01:00"},
        headers=tenant.headers(Role.admin),
    )
    assert created.status_code == 201, created.text
    flag = await client.post(
        "/v1/rulesets/online-harm-england/versions/1/publish",
        json={"make_current": "true"},
        headers=tenant.headers(Role.rule_publisher),
    )
    assert flag.status_code == 422
    assert flag.json()["errors"][0]["pointer"] == "/make_current"


def _bound(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1) == "version" else "ab", path)


DEPENDENCY_BODY_REFS = {f"#/components/schemas/{m.__name__}" for m in BODY_MODELS_READ_BY_DEPENDENCIES}


def _requires_body(dependant: Dependant) -> bool:
    return any(f.field_info.is_required() for f in dependant.body_params) or any(
        _requires_body(d) for d in dependant.dependencies
    )


def _reads_a_dependency_body(route: APIRoute) -> bool:
    """A JSON body a dependency reads (declared in `openapi_extra` with a `$ref` to its model)."""
    content = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
    return content.get("application/json", {}).get("schema", {}).get("$ref") in DEPENDENCY_BODY_REFS


async def test_every_operation_that_needs_a_body_says_so_when_it_has_none(app: FastAPI, tenant: Tenant) -> None:
    operations = [
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
        and (_requires_body(route.dependant) or _reads_a_dependency_body(route.original_route))
        for method in sorted(route.methods or ())
    ]
    assert ("POST", "/v1/assessments") in operations
    assert ("PUT", "/v1/organisation/current-rulesets") in operations
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for method, path in operations:
            for content, media_type in ((None, None), (b"", "application/json")):
                headers = tenant.headers() | ({"Content-Type": media_type} if media_type else {})
                response = await http.request(method, _bound(path), content=content, headers=headers)
                assert response.status_code == 400, (method, path, content, response.text)
                body = response.json()
                assert body["detail"] == "A JSON body is required", (method, path)
                assert body["errors"] == [{"pointer": "", "detail": "A JSON body is required", "location": "body"}]


async def test_a_null_body_is_a_body_of_the_wrong_type(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/assessments", content=b"null", headers={**tenant.headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == [""]


async def test_a_document_route_without_a_body_says_which_media_types_it_reads(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post("/v1/rulesets/validate", headers=tenant.headers(Role.rule_author))
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "A JSON or YAML body is required"
    assert body["errors"][0]["pointer"] == ""
