"""The base of every request body model: a JSON value is taken as what it is, never coerced into another type.

Pydantic's default (lax) mode turns `"1"` and `1.0` into the integer 1 and `"true"`, `"yes"` or `1` into True, so a
client's type mistake would be stored as if it were meant; answers have always been strict (app/scoring/answers.py)
and the envelope around them is too. FastAPI validates a body in Python mode on the parsed JSON, where strictness
also refuses the string forms JSON uses for a date-time or an enum member: a field of such a type is declared
with the types below, which take exactly that string form (and the Python value) and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Strict
from pydantic_core import PydanticCustomError


class StrictInput(BaseModel):
    """A request body (or a part of one): unknown fields and coerced values are a 422 naming the field."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _date_time_string(value: Any) -> Any:
    # Lax date-time parsing would also read a number as a Unix time: JSON's form of a date-time is a string.
    if isinstance(value, str | datetime):
        return value
    raise PydanticCustomError("datetime_type", "Input should be a date-time string with a time zone (ISO 8601)")


JsonDateTime = Annotated[AwareDatetime, Strict(False), BeforeValidator(_date_time_string)]
"""An ISO 8601 date-time with a zone, as JSON writes it (a string)."""

EnumT = TypeVar("EnumT", bound=Enum)
JsonEnum = Annotated[EnumT, Strict(False)]
"""A member of an enum, as JSON writes it (its value): `JsonEnum[Role]`."""
