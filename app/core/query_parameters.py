"""Unknown and repeated query parameters are refused, on every operation, so that a misspelt filter
(`?subject=` for `?subject_ref=`) is a 400 that names it instead of a page of everything.

One app-level dependency (`FastAPI(dependencies=...)`, app/main.py) does it for every route. FastAPI enters app
dependencies before router and route dependencies, so the check runs before authentication: it reads only the URL,
the names it reports are public in the OpenAPI document, and a caller sees the mistake even with a bad key. The
middleware's early refusals (413, 415, 431, malformed bodies) come before it.

What an operation accepts is what its dependency tree declares (the route's own parameters, its router's and the
app's dependencies, and theirs), by alias, as FastAPI reads them: computed once per route, on its first request
with a query string.
"""

from __future__ import annotations

import types
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_parameterless_sub_dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from app.core.errors import BadRequest, FieldError

# A query string can name thousands of parameters: the problem lists this many, each cut to this length.
_SHOWN_NAMES = 20
_NAME_CHARS = 100
_MANY_VALUED = (list, set, frozenset, tuple, Sequence)


@dataclass(frozen=True)
class AcceptedParameters:
    """The query parameters of one operation: in the order the route declares them, and those that take one value."""

    names: tuple[str, ...]
    single_valued: frozenset[str]


class RefuseUnknownQueryParameters:
    """The app-level dependency: a 400 naming every query parameter the matched operation does not declare, and
    every single-valued one given more than once (FastAPI would silently keep the last)."""

    def __init__(self, exempt_paths: Iterable[str] = ()) -> None:
        self.exempt_paths = frozenset(exempt_paths)
        self._accepted: dict[int, tuple[APIRoute, AcceptedParameters]] = {}

    async def __call__(self, request: Request) -> None:
        if not request.scope.get("query_string"):
            return
        route = request.scope.get("route")
        if not isinstance(route, APIRoute) or route.path_format in self.exempt_paths:
            return
        accepted = self._accepted_by(route, request.app)
        counts = Counter(name for name, _ in request.query_params.multi_items())
        unknown = [name for name in counts if name not in accepted.names]
        repeated = [name for name, count in counts.items() if count > 1 and name in accepted.single_valued]
        if unknown or repeated:
            raise _refusal(unknown, repeated, counts, accepted)

    def _accepted_by(self, route: APIRoute, app: FastAPI) -> AcceptedParameters:
        cached = self._accepted.get(id(route))
        if cached is not None and cached[0] is route:
            return cached[1]
        # An included route's own dependant holds its router's dependencies, not the app's: add those.
        path = route.path_format
        app_level = [get_parameterless_sub_dependant(depends=d, path=path) for d in app.router.dependencies]
        accepted = accepted_parameters([route.dependant, *app_level])
        self._accepted[id(route)] = (route, accepted)
        return accepted


def accepted_parameters(dependants: Iterable[Dependant]) -> AcceptedParameters:
    """Every query parameter the dependency trees declare, by the name a client sends (the alias)."""
    names: dict[str, None] = {}
    many: set[str] = set()
    pending = list(dependants)
    while pending:
        dependant = pending.pop(0)
        for field in dependant.query_params:
            model = _query_model(field.field_info.annotation)
            parameters = model.model_fields.items() if model else [(field.alias, field.field_info)]
            for name, info in parameters:
                alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias or name
                names.setdefault(alias)
                if _many_valued(info):
                    many.add(alias)
        pending.extend(dependant.dependencies)
    return AcceptedParameters(tuple(names), frozenset(names) - many)


def _unwrapped(annotation: Any) -> list[Any]:
    """The types an annotation accepts, with Optional, unions and Annotated taken apart."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrapped(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) if arg is not type(None) for t in _unwrapped(arg)]
    return [annotation]


def _query_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a parameter declared as `Annotated[SomeModel, Query()]` (its fields are the parameters)."""
    kinds = _unwrapped(annotation)
    kind = kinds[0] if len(kinds) == 1 else None
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _many_valued(info: FieldInfo) -> bool:
    return any((get_origin(kind) or kind) in _MANY_VALUED for kind in _unwrapped(info.annotation))


def _pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(name[:_NAME_CHARS] for name in names[:_SHOWN_NAMES])
    more = len(names) - _SHOWN_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _refusal(
    unknown: Sequence[str], repeated: Sequence[str], counts: Counter[str], accepted: AcceptedParameters
) -> BadRequest:
    sentences: list[str] = []
    errors: list[FieldError] = []
    if unknown:
        accepts = f"accepts: {_listed(accepted.names)}" if accepted.names else "accepts none"
        sentences.append(f"Unknown query parameter(s): {_listed(unknown)}; this operation {accepts}")
        detail = "not a parameter of this operation"
        errors.extend(FieldError(pointer=_pointer(n[:_NAME_CHARS]), detail=detail, location="query") for n in unknown)
    if repeated:
        sentences.append(f"Query parameter(s) given more than once: {_listed(repeated)}; each takes one value")
        errors.extend(
            FieldError(pointer=_pointer(n), detail=f"given {counts[n]} times; send it once", location="query")
            for n in repeated
        )
    return BadRequest(". ".join(sentences), errors=errors[:_SHOWN_NAMES])
