"""The OpenAPI document, completed with the problems that the middleware and the Authorize dependency can return
on every route of a kind (so generated clients and schemathesis know every documented status)."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import (
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
    problem_responses,
)

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _add(operation: dict[str, Any], *errors: type[ProblemError]) -> None:
    responses = operation.setdefault("responses", {})
    for status, spec in problem_responses(*errors).items():
        if str(status) not in responses:
            responses[str(status)] = {
                "description": spec["description"],
                "content": copy.deepcopy(PROBLEM_CONTENT),
            }


PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _problems_only(operation: dict[str, Any]) -> None:
    """Every error body is application/problem+json with the Problem schema (FastAPI would also list
    application/json, and its own HTTPValidationError for 422, which this service never sends)."""
    for status, response in operation.get("responses", {}).items():
        if status[:1] in ("4", "5") and "content" in response:
            response["content"] = copy.deepcopy(PROBLEM_CONTENT)


def install_openapi(app: FastAPI) -> None:
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
                _problems_only(operation)
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
