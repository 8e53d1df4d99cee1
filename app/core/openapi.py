"""The OpenAPI document, completed with the problems that the middleware and the Authorize dependency can return
on every route of a kind (so generated clients and schemathesis know every documented status)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute

from app.core.errors import (
    EXAMPLE_PARAMETER_ERRORS,
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPES,
    BadRequest,
    Forbidden,
    HeadersTooLarge,
    PayloadTooLarge,
    ProblemError,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
    problem_example,
    problem_responses,
)

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _add(operation: dict[str, Any], *errors: type[ProblemError]) -> None:
    responses = operation.setdefault("responses", {})
    for status, spec in problem_responses(*errors).items():
        if str(status) not in responses:
            responses[str(status)] = {"description": spec["description"], "content": copy.deepcopy(spec["content"])}


PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}
PROBLEMS_BY_STATUS: dict[int, type[ProblemError]] = {cls.status: cls for cls in PROBLEM_TYPES.values()}

PARAMETER_VALIDATION_EXAMPLE = f"{ValidationFailed.kind}-in-a-parameter"


def _problems_only(operation: dict[str, Any], shared_examples: dict[str, Any]) -> None:
    """Every error body is application/problem+json with the Problem schema (FastAPI would also list
    application/json, and its own HTTPValidationError for 422, which this service never sends), with an example
    of each problem the status stands for. The examples are shared in `components/examples`, once per problem
    kind: written out in every operation, they would make up most of the document."""
    has_body = "requestBody" in operation
    for status, response in operation.get("responses", {}).items():
        if status[:1] not in ("4", "5") or "content" not in response:
            continue
        examples: dict[str, Any] = {}
        for media in response["content"].values():
            examples.update(media.get("examples", {}))
        if not examples:
            error = PROBLEMS_BY_STATUS.get(int(status), ProblemError)
            examples[error.kind] = problem_example(error)
        refs: dict[str, Any] = {}
        for kind, example in examples.items():
            name = kind
            if kind == ValidationFailed.kind and not has_body:
                name = PARAMETER_VALIDATION_EXAMPLE
                example = problem_example(ValidationFailed, errors=EXAMPLE_PARAMETER_ERRORS)
            shared_examples.setdefault(name, copy.deepcopy(example))
            refs[kind] = {"$ref": f"#/components/examples/{name}"}
        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": dict(PROBLEM_SCHEMA), "examples": refs}}


OperationDescriber = Callable[[Dependant, dict[str, Any]], None]
"""Completes one operation of the document from its route's dependency tree, in place."""


def _describe_operations(schema: dict[str, Any], routes: Sequence[BaseRoute], describe: OperationDescriber) -> None:
    """Hands every documented operation to `describe` with its route's dependencies: what a route's dependencies
    declare (who may call it, app/auth/openapi.py) is known to the feature that owns them, not to this module."""
    paths = schema.get("paths", {})
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.original_route.include_in_schema:
            continue
        path_item = paths.get(route.path_format, {})
        for method in route.methods or ():
            operation = path_item.get(method.lower())
            if operation is not None:
                describe(route.dependant, operation)


def _add_body_models(schema: dict[str, Any], models: Sequence[type[BaseModel]]) -> None:
    """Components for the request bodies a dependency reads (declared with `openapi_extra` and a `$ref`), which
    FastAPI does not see; a component FastAPI already made is kept as it is."""
    if not models:
        return
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in definitions.get("$defs", {}).items():
        for member in definition.get("properties", {}).values():
            if "default" in member and member["default"] is None:
                del member["default"]  # as FastAPI shows an optional member: left out when not sent
        components.setdefault(name, definition)
    schema["components"]["schemas"] = dict(sorted(components.items()))


def install_openapi(
    app: FastAPI,
    describe_operation: OperationDescriber | None = None,
    body_models: Sequence[type[BaseModel]] = (),
) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        _add_body_models(schema, body_models)
        shared_examples: dict[str, Any] = {}
        for path_item in schema.get("paths", {}).values():
            for method in HTTP_METHODS:
                operation = path_item.get(method)
                if operation is None:
                    continue
                # Any request: a NUL in the URL (400), a Content-Length past the body limit (413), too many header
                # bytes (431), all refused by the middleware before routing (app/core/middleware.py, limits.py);
                # an unknown or repeated query parameter (400, app/core/query_parameters.py).
                _add(operation, BadRequest, PayloadTooLarge, HeadersTooLarge)
                if operation.get("security"):
                    _add(operation, Unauthenticated, Forbidden, RateLimited, ServiceUnavailable)
                if method in ("post", "put", "patch"):
                    # Whether or not the route reads one, a body is checked: its media type (415), and a JSON
                    # document's structural limits (422, app/core/json_guard.py).
                    _add(operation, UnsupportedMediaType, ValidationFailed)
                if operation.get("parameters"):
                    _add(operation, ValidationFailed)
                _problems_only(operation, shared_examples)
        if describe_operation is not None:
            _describe_operations(schema, app.routes, describe_operation)
        schema.setdefault("components", {})["examples"] = dict(sorted(shared_examples.items()))
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
