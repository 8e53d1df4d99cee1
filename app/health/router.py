from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from app.auth.dependencies import PUBLIC
from app.core.errors import PROBLEM_TYPES, NotFound, ServiceUnavailable, problem_responses
from app.health.service import readiness

router = APIRouter(tags=["operations"], dependencies=[PUBLIC])


class Health(BaseModel):
    status: str = Field(description="`ok` from /healthz; `ready` from /readyz.")
    detail: str | None = Field(default=None, description="Readiness detail from /readyz; absent from /healthz.")


@router.get("/healthz")
def healthz() -> Health:
    """Liveness: the process is up (it does not touch the database)."""
    return Health(status="ok")


@router.get("/readyz", responses=problem_responses(ServiceUnavailable))
def readyz(request: Request) -> Health:
    """Readiness: the database is reachable and at the migration head."""
    ok, detail = readiness(request.app.state.engine, request.app.state.migration_heads)
    if not ok:
        raise ServiceUnavailable(detail)
    return Health(status="ready", detail=detail)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/problems/{kind}", response_class=HTMLResponse, responses=problem_responses(NotFound))
def problem_type(
    kind: Annotated[
        str,
        Path(
            description="The problem kind: the last segment of a problem's `type`, e.g. `validation-error`.",
            examples=["validation-error"],
        ),
    ],
) -> HTMLResponse:
    """A short description of a problem `type` used in error responses."""
    cls = PROBLEM_TYPES.get(kind)
    if cls is None:
        raise NotFound(f"No problem type '{kind}'")
    html = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{cls.title}</title></head>"
        f"<body><h1>{cls.title}</h1><p>HTTP status {cls.status}.</p><p>{cls.description}</p></body></html>"
    )
    return HTMLResponse(html)
