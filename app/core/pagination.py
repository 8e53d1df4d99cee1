"""Keyset pagination for every list endpoint: one cursor format, one page shape, one way to page a select.

A list declares its `Keyset`: a name and the columns it is sorted on, which together identify a row (a sort key may
also be a `Computed` expression, such as a value taken from another table, as long as real columns break its
ties). A cursor
is base64url of compact JSON `[version, list name, position, check]`: the position is the sort key of the last
row returned, and the check is a truncated SHA-256 over the rest and the list's filters. A cursor is not a
secret and grants nothing: the select it is applied to is scoped to the caller like any other, so the check
exists to refuse, with a clear 422, a cursor that was edited, belongs to another list, or is replayed with other
filters (which would otherwise skip or repeat rows without saying so).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, Table, TypeDecorator, UniqueConstraint, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeEngine

from app.core.errors import FieldError, ValidationFailed

CURSOR_VERSION = 1
MAX_CURSOR_CHARS = 512
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
_CHECK_CHARS = 16

CursorQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_CHARS,
        description="The `next_cursor` of the previous page, sent with the same filters; omit for the first page.",
    ),
]
LimitQuery = Annotated[
    int,
    Query(ge=1, le=MAX_PAGE_SIZE, description=f"Items per page, 1-{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."),
]

ItemT = TypeVar("ItemT")
RowT = TypeVar("RowT")
StatementT = TypeVar("StatementT", bound="Select[*tuple[Any, ...]]")

Position = tuple[Any, ...]
Scope = Mapping[str, Any]


class Page(BaseModel, Generic[ItemT]):
    """The response of every list endpoint."""

    items: list[ItemT] = Field(description="This page's items, at most `limit`, in the list's order.")
    next_cursor: str | None = Field(
        description="Send as `cursor` (with the same filters) for the next page; null on the last page."
    )


@dataclass(frozen=True)
class Paged(Generic[RowT]):
    """One page of rows, at most `limit`, and the cursor of the page after it (None on the last page)."""

    items: list[RowT]
    next_cursor: str | None


def _refused(detail: str) -> ValidationFailed:
    return ValidationFailed(
        f"The cursor is refused: {detail}", errors=[FieldError(pointer="/cursor", detail=detail, location="query")]
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a cursor holds aware times only")
        return value.astimezone(UTC).isoformat()
    return value


@dataclass(frozen=True)
class Computed:
    """A sort key that is an SQL expression rather than a column of the listed table (for example a correlated
    subquery). `key` names it in `Keyset.position` (the row attribute that holds it); its values must never be
    NULL in the rows the list selects, since row-value comparisons with NULL match nothing."""

    key: str
    expression: ColumnElement[Any]

    @property
    def type(self) -> TypeEngine[Any]:
        return self.expression.type

    def desc(self) -> ColumnElement[Any]:
        return self.expression.desc()

    def asc(self) -> ColumnElement[Any]:
        return self.expression.asc()


SortKey = InstrumentedAttribute[Any] | Computed


def _sql(column: SortKey) -> ColumnElement[Any]:
    return column.expression if isinstance(column, Computed) else cast(ColumnElement[Any], column)


def _python_type(column: SortKey) -> type:
    sql_type = column.type
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance
    python_type: type = sql_type.python_type
    return python_type


def _check(payload: list[Any], scope: Scope) -> str:
    canonical = json.dumps([payload, dict(scope)], sort_keys=True, separators=(",", ":"), default=_json_value)
    return hashlib.sha256(canonical.encode()).hexdigest()[:_CHECK_CHARS]


@dataclass(frozen=True)
class Keyset:
    """The total order of one list, newest or oldest first.

    `columns` are the sort key, most significant first; with the `within` columns (those every select of the list
    fixes by equality, such as the organisation) they must cover the table's primary key or a unique constraint,
    so that no two rows share a position and paging returns each row exactly once. A `Computed` key counts for
    nothing there: the columns of the table (the first column's) must be unique without it.
    """

    name: str
    columns: tuple[SortKey, ...]
    descending: bool = False
    within: tuple[InstrumentedAttribute[Any], ...] = field(default=())

    def __post_init__(self) -> None:
        mapped = [c for c in (*self.columns, *self.within) if not isinstance(c, Computed)]
        if not mapped:
            raise ValueError(f"keyset {self.name!r} has no column of a table")
        table = cast(Table, mapped[0].class_.__table__)
        keys = {c.key for c in mapped}
        unique = [{c.name for c in table.primary_key.columns}] + [
            {c.name for c in constraint.columns}
            for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint)
        ]
        if not any(names <= keys for names in unique):
            raise ValueError(f"keyset {self.name!r} does not identify a row of {table.name}: add a unique column")
        if not all(_python_type(column) in (datetime, int, str) for column in self.columns):
            raise ValueError(f"keyset {self.name!r}: a cursor holds times, integers and strings only")

    def position(self, row: Any) -> Position:
        """The sort key of a row: the mapped object the columns belong to."""
        return tuple(getattr(row, column.key) for column in self.columns)

    def apply(self, statement: StatementT, after: Position | None, limit: int) -> StatementT:
        """`statement` in this order, starting after `after`, with one row more than `limit` (to see if more
        follow; `page` drops it)."""
        if after is not None:
            key = tuple_(*(_sql(column) for column in self.columns))
            bound = tuple_(*(literal(value, column.type) for value, column in zip(after, self.columns, strict=True)))
            statement = statement.where(key < bound if self.descending else key > bound)
        order = [column.desc() if self.descending else column.asc() for column in self.columns]
        return statement.order_by(*order).limit(limit + 1)

    def encode(self, position: Position, scope: Scope) -> str:
        payload: list[Any] = [CURSOR_VERSION, self.name, [_json_value(v) for v in position]]
        raw = json.dumps([*payload, _check(payload, scope)], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str | None, scope: Scope) -> Position | None:
        """The position a cursor of this list holds (None for no cursor); a 422 naming `cursor` if it is not
        one this list issued for these filters."""
        if cursor is None:
            return None
        if len(cursor) > MAX_CURSOR_CHARS:
            raise _refused(f"longer than {MAX_CURSOR_CHARS} characters")
        try:
            decoded = json.loads(base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _refused("not a cursor this API returned") from None
        if not (isinstance(decoded, list) and len(decoded) == 4 and isinstance(decoded[0], int)):
            raise _refused("not a cursor this API returned")
        version, name, values, check = decoded
        if version != CURSOR_VERSION:
            raise _refused("issued by another version of the API: start again without a cursor")
        if name != self.name:
            raise _refused(f"issued by another list ({name}), not by {self.name}")
        if check != _check([version, name, values], scope):
            raise _refused("altered, or the filters changed since it was issued: start again without a cursor")
        position = self._typed(values)
        if position is None:
            raise _refused("not a cursor this API returned")
        return position

    def _typed(self, values: Any) -> Position | None:
        if not isinstance(values, list) or len(values) != len(self.columns):
            return None
        typed: list[Any] = []
        for value, column in zip(values, self.columns, strict=True):
            kind = _python_type(column)
            if kind is datetime and isinstance(value, str):
                try:
                    value = datetime.fromisoformat(value)
                except ValueError:
                    return None
                if value.tzinfo is None:
                    return None
            elif not isinstance(value, kind) or isinstance(value, bool):
                return None
            typed.append(value)
        return tuple(typed)

    def page(
        self,
        rows: Sequence[RowT],
        limit: int,
        scope: Scope,
        position_of: Callable[[RowT], Position] | None = None,
    ) -> Paged[RowT]:
        """The first `limit` of the rows `apply` selected, and the cursor after them if the extra row came back.
        `position_of` gives a row's sort key when the row is not the mapped object itself."""
        items = list(rows[:limit])
        if len(rows) <= limit or not items:
            return Paged(items, None)
        last = items[-1]
        position = position_of(last) if position_of is not None else self.position(last)
        return Paged(items, self.encode(position, scope))
