"""The routes every versioned content document has: list, draft, read (JSON or YAML), replace, validate, publish,
retire and diff. A feature router adds them with `add_version_routes` and declares its own routes itself."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel

from app.auth.caller import Caller
from app.auth.dependencies import Authorize
from app.auth.permissions import Operation
from app.content_versions import service as versions
from app.content_versions.http import (
    YAML_RESPONSE,
    ContentKey,
    DocumentBody,
    IfMatch,
    VersionNumber,
    wants_yaml,
    yaml_response,
)
from app.content_versions.schemas import ContentDiff, ContentStatus
from app.content_versions.service import Kind, etag
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
    problem_responses,
)
from app.core.pagination import DEFAULT_PAGE_SIZE, CursorQuery, LimitQuery

COMMON = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed)
WRITE = problem_responses(NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType)

Reader = Annotated[Caller, Depends(Authorize(Operation.read_content))]
Author = Annotated[Caller, Depends(Authorize(Operation.author_content))]
Publisher = Annotated[Caller, Depends(Authorize(Operation.publish_content))]
StatusFilter = Annotated[
    ContentStatus | None,
    Query(alias="status", description="Only versions with this status: `draft`, `published` or `retired`."),
]

R = TypeVar("R", bound=BaseModel)


def _no_representation_parameters() -> None:
    """The parameters of a GET without another representation: none."""


@dataclass(frozen=True)
class OtherRepresentation:
    """Another representation of GET `/{key}/versions/{version}` (the FHIR one of a questionnaire), chosen by
    `wanted(request)`. `parameters` is a dependency declaring its own query parameters and headers (they join the
    route's, and the OpenAPI document's); `render(found, caller, session, settings, parameters)` answers with the
    version as read (`found`); `responses` documents it."""

    wanted: Callable[[Request], bool]
    parameters: Callable[..., Any]
    render: Callable[..., Response]
    responses: Mapping[int | str, dict[str, Any]]


@dataclass(frozen=True)
class VersionRoutes(Generic[R]):
    """A feature's service functions and texts for the shared routes. Operation ids are built from `noun`
    (`list_{noun}s`, `create_{noun}_draft`, ...) and each route's description is the matching `docs` entry."""

    noun: str
    kind: Kind[Any, Any, R, Any]
    docs: Mapping[str, str]
    body: dict[str, Any]  # openapi_extra of the document body
    report: type[BaseModel]
    # the feature's own steps, called as the routes below call them (the session comes first; validate_version
    # also gets the application's settings, last)
    validate_version: Callable[..., BaseModel]
    retire: Callable[..., R]
    diff: Callable[..., ContentDiff]
    publish: Callable[..., R] | None = None  # None: the feature declares its own publish route
    key_not_found: bool = False  # whether listing one key's versions documents a 404
    other_representation: OtherRepresentation | None = None  # another representation of one version's GET


def add_version_routes(router: APIRouter, routes: VersionRoutes[Any]) -> None:
    noun, kind, location = routes.noun, routes.kind, router.prefix

    def doc(name: str) -> str:
        return inspect.cleandoc(routes.docs[name])

    @router.get("", responses=COMMON, name=f"list_{noun}s", description=doc("list"), response_model=kind.page)
    def list_all(
        caller: Reader,
        session: SessionDep,
        status_filter: StatusFilter = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_PAGE_SIZE,
    ) -> Any:
        return versions.list_versions(
            session, kind, caller.organisation_id, key=None, status=status_filter, cursor=cursor, limit=limit
        )

    @router.get(
        "/{key}/versions",
        responses={**COMMON, **problem_responses(NotFound)} if routes.key_not_found else COMMON,
        name=f"list_{noun}_versions",
        description=doc("list_versions"),
        response_model=kind.page,
    )
    def list_of_key(
        key: ContentKey,
        caller: Reader,
        session: SessionDep,
        status_filter: StatusFilter = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_PAGE_SIZE,
    ) -> Any:
        return versions.list_versions(
            session, kind, caller.organisation_id, key=key, status=status_filter, cursor=cursor, limit=limit
        )

    @router.post(
        "/{key}/versions",
        status_code=status.HTTP_201_CREATED,
        responses={**COMMON, **WRITE},
        openapi_extra=routes.body,
        name=f"create_{noun}_draft",
        description=doc("create"),
        response_model=kind.read,
    )
    def create(key: ContentKey, document: DocumentBody, caller: Author, session: SessionDep, response: Response) -> Any:
        created = versions.create_draft(session, kind, caller, key, document)
        response.headers["ETag"] = etag(created)
        response.headers["Location"] = f"{location}/{key}/versions/{created.version}"
        return created

    other = routes.other_representation
    get_responses: dict[int | str, dict[str, Any]] = {**COMMON, **problem_responses(NotFound), **YAML_RESPONSE}
    if other is not None:
        get_responses = _merged_responses(get_responses, other.responses)

    @router.get(
        "/{key}/versions/{version}",
        response_model=kind.read,
        responses=get_responses,
        name=f"get_{noun}_version",
        description=doc("get"),
    )
    def get(
        key: ContentKey,
        version: VersionNumber,
        caller: Reader,
        session: SessionDep,
        settings: SettingsDep,
        request: Request,
        response: Response,
        # a default, not an annotation: the annotations are strings (PEP 563) that cannot name this closure's `other`
        parameters: Any = Depends(other.parameters if other is not None else _no_representation_parameters),
    ) -> Any:
        found = versions.get_version(session, kind, caller.organisation_id, key, version)
        if other is not None and other.wanted(request):
            return other.render(found, caller, session, settings, parameters)
        if wants_yaml(request):
            answer = yaml_response(found.document, etag(found))
            answer.headers["Vary"] = "Accept"
            return answer
        response.headers["ETag"] = etag(found)
        response.headers["Vary"] = "Accept"
        return found

    @router.put(
        "/{key}/versions/{version}",
        responses={**COMMON, **WRITE, **problem_responses(PreconditionFailed)},
        openapi_extra=routes.body,
        name=f"replace_{noun}_draft",
        description=doc("replace"),
        response_model=kind.read,
    )
    def replace(
        key: ContentKey,
        version: VersionNumber,
        document: DocumentBody,
        caller: Author,
        session: SessionDep,
        response: Response,
        if_match: IfMatch = None,
    ) -> Any:
        replaced = versions.replace_draft(session, kind, caller, key, version, document, if_match)
        response.headers["ETag"] = etag(replaced)
        return replaced

    @router.post(
        "/{key}/versions/{version}/validate",
        responses={**COMMON, **problem_responses(NotFound)},
        name=f"validate_{noun}_version",
        description=doc("validate"),
        response_model=routes.report,
    )
    def validate(
        key: ContentKey, version: VersionNumber, caller: Author, session: SessionDep, settings: SettingsDep
    ) -> Any:
        return routes.validate_version(session, caller.organisation_id, key, version, settings)

    publish = routes.publish
    if publish is not None:

        @router.post(
            "/{key}/versions/{version}/publish",
            responses={**COMMON, **problem_responses(NotFound, Conflict, PreconditionFailed)},
            name=f"publish_{noun}_version",
            description=doc("publish"),
            response_model=kind.read,
        )
        def publish_version(
            key: ContentKey,
            version: VersionNumber,
            caller: Publisher,
            session: SessionDep,
            response: Response,
            if_match: IfMatch = None,
        ) -> Any:
            published = publish(session, caller, key, version, if_match)
            response.headers["ETag"] = etag(published)
            return published

    @router.post(
        "/{key}/versions/{version}/retire",
        responses={**COMMON, **problem_responses(NotFound, Conflict)},
        name=f"retire_{noun}_version",
        description=doc("retire"),
        response_model=kind.read,
    )
    def retire(
        key: ContentKey, version: VersionNumber, caller: Publisher, session: SessionDep, response: Response
    ) -> Any:
        retired = routes.retire(session, caller, key, version)
        response.headers["ETag"] = etag(retired)
        return retired

    @router.get(
        "/{key}/diff",
        responses={**COMMON, **problem_responses(NotFound)},
        name=f"diff_{noun}_versions",
        description=doc("diff"),
        response_model=ContentDiff,
    )
    def diff(
        key: ContentKey,
        caller: Author,
        session: SessionDep,
        from_version: Annotated[
            int,
            Query(alias="from", ge=1, le=2_147_483_647, description="The version to compare from.", examples=[1]),
        ],
        to_version: Annotated[
            int, Query(alias="to", ge=1, le=2_147_483_647, description="The version to compare to.", examples=[2])
        ],
    ) -> Any:
        return routes.diff(session, caller.organisation_id, key, from_version, to_version)


def _merged_responses(
    base: Mapping[int | str, dict[str, Any]], extra: Mapping[int | str, dict[str, Any]]
) -> dict[int | str, dict[str, Any]]:
    """`base` with `extra`'s responses added; a status in both gets both's content and headers."""
    merged = {code: dict(spec) for code, spec in base.items()}
    for code, spec in extra.items():
        if code not in merged:
            merged[code] = dict(spec)
            continue
        target = merged[code]
        for part in ("content", "headers"):
            if part in spec:
                target[part] = {**target.get(part, {}), **spec[part]}
        if "description" in spec:
            target["description"] = spec["description"]
    return merged
