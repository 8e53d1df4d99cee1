"""Application factory: wires settings, database, middleware, error handlers, routers and offline docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel

from app.assessments.integrity import AssessmentRecords
from app.assessments.router import router as assessments_router
from app.assessments.schemas import AssessmentCreate
from app.audit.router import router as audit_router
from app.audit.service import CaseRecords
from app.auth.openapi import describe_access
from app.auth.router import router as clients_router
from app.core.config import Settings, get_settings
from app.core.db import create_db_engine, make_sessionmaker
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.middleware import RequestContextMiddleware
from app.core.openapi import install_openapi
from app.core.query_parameters import RefuseUnknownQueryParameters
from app.core.ratelimit import build_rate_limiters
from app.core.security_headers import SecurityHeadersMiddleware
from app.events.router import router as events_router
from app.fhir.outcome import negotiate
from app.fhir.router import router as fhir_router
from app.health.router import router as health_router
from app.health.service import head_revisions
from app.organisation.router import router as organisation_router
from app.questionnaires.router import router as questionnaires_router
from app.receipts.router import router as receipts_router
from app.rulesets.router import router as rulesets_router
from app.verifiable_log.keys import load_log_keys
from app.verifiable_log.router import router as verifiable_log_router
from app.verifiable_log.verification import TreeCheck
from app.webhooks.router import router as webhooks_router

API_DESCRIPTION = """
Scores a structured questionnaire about one child's online exposure against a **versioned rule set**
grounded in published UK guidance, and keeps an **auditable assessment**: the risk level, every reason in
plain words, the escalation triggers that fired and what to do next.

The result **supports, and does not replace, professional judgement.**

Authenticate with `Authorization: Bearer <api key>` (use *Authorize* above). Case-data routes also need
`X-Acting-User`, the opaque id of the professional on whose behalf your system calls. Errors are
`application/problem+json` (RFC 9457).
"""

# Matched in this order on every request: the write path first (ADR 0007); the docs list tags in this order too.
ROUTERS: list[APIRouter] = [
    assessments_router,
    receipts_router,
    audit_router,
    verifiable_log_router,
    events_router,
    questionnaires_router,
    rulesets_router,
    fhir_router,
    organisation_router,
    clients_router,
    webhooks_router,
    health_router,
]


# Request bodies a dependency reads by media type (the create body: JSON or a FHIR QuestionnaireResponse), which
# FastAPI cannot see: their routes declare them with `openapi_extra` and a `$ref` to these components.
BODY_MODELS_READ_BY_DEPENDENCIES: tuple[type[BaseModel], ...] = (AssessmentCreate,)


# The case records `audit verify` checks against the events that created them.
CASE_RECORDS: tuple[CaseRecords, ...] = (AssessmentRecords(),)


# The documentation pages: served by the docs package, with the security headers their scripts need, and not
# checked for unknown query parameters (Swagger UI's OAuth redirect receives the authorization server's own).
DOCS_URL, REDOC_URL, OAUTH2_REDIRECT_URL = "/docs", "/redoc", "/docs/oauth2-redirect"
DOCS_PATHS = frozenset({DOCS_URL, REDOC_URL, OAUTH2_REDIRECT_URL})


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    engine = create_db_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPIOffline(
        title="riskapi",
        version="1.0.0",
        summary="Online-risk assessment for people who protect children",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        swagger_ui_parameters={"persistAuthorization": True},
        docs_url=DOCS_URL,
        redoc_url=REDOC_URL,
        swagger_ui_oauth2_redirect_url=OAUTH2_REDIRECT_URL,
        # Entered before every router's and route's dependencies, so before authentication (docs/http.md).
        dependencies=[Depends(RefuseUnknownQueryParameters(exempt_paths=DOCS_PATHS))],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.migration_heads = head_revisions()
    app.state.rate_limiter, app.state.auth_failure_limiter = build_rate_limiters(settings, engine)
    app.state.case_records = CASE_RECORDS
    app.state.log_keys = load_log_keys(settings)  # a bad key stops start-up here, naming the setting
    app.state.log_check = TreeCheck(app.state.log_keys)  # `audit verify` checks the tree and checkpoints with it
    install_error_handlers(app)
    app.state.problem_negotiator = negotiate  # problems as an OperationOutcome under FHIR's Accept
    for router in ROUTERS:
        app.include_router(router)
    install_openapi(app, describe_operation=describe_access, body_models=BODY_MODELS_READ_BY_DEPENDENCIES)
    app.add_middleware(
        RequestContextMiddleware, max_body_bytes=settings.max_body_bytes, max_header_bytes=settings.max_header_bytes
    )
    app.add_middleware(SecurityHeadersMiddleware, docs_paths=DOCS_PATHS)
    return app
