"""Every route must declare who may call it: an Authorize policy, or the explicit Public marker."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.auth.dependencies import Authorize, Public
from app.main import create_app
from tests.conftest import make_settings

# Served by the docs package, not by our routers: public by nature.
DOCS_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static-offline-docs"}


def _policies(dependant: Dependant) -> list[object]:
    found: list[object] = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, Authorize | Public):
            found.append(sub.call)
        found.extend(_policies(sub))
    return found


def routes_without_one_policy(app: FastAPI) -> list[str]:
    problems: list[str] = []
    for route in iter_route_contexts(app.routes):
        if route.path in DOCS_PATHS:
            continue
        if not isinstance(route.original_route, APIRoute):
            problems.append(f"non-API route {route.path}: give it a policy or list it with the docs paths")
            continue
        policies = _policies(route.dependant)
        kinds = {(type(p), getattr(p, "operation", None)) for p in policies}
        if len(kinds) != 1:
            problems.append(f"{sorted(route.methods or [])} {route.path}: {len(kinds)} policies")
    return problems


def test_every_route_has_exactly_one_access_policy() -> None:
    app = create_app(make_settings("sqlite:///:memory:"))
    assert routes_without_one_policy(app) == []


def test_the_walk_catches_a_route_without_a_policy() -> None:
    app = create_app(make_settings("sqlite:///:memory:"))

    @app.get("/v1/forgotten")
    def forgotten() -> None:
        return None

    assert routes_without_one_policy(app) == ["['GET'] /v1/forgotten: 0 policies"]


def test_operation_ids_are_unique_and_readable() -> None:
    app = create_app(make_settings("sqlite:///:memory:"))
    ids = [op["operationId"] for path in app.openapi()["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert all(i.isidentifier() for i in ids)


def test_bearer_scheme_is_declared_for_the_authorize_button() -> None:
    app = create_app(make_settings("sqlite:///:memory:"))
    schemes = app.openapi()["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
