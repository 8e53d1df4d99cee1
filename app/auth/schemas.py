from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.auth.permissions import Role
from app.core.pagination import Page
from app.core.strict_input import JsonDateTime, JsonEnum, StrictInput


def _in_the_future(value: datetime) -> datetime:
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError as exc:  # an offset that takes year 1 or 9999 past the calendar's edge in UTC
        raise ValueError("is outside the range of dates in UTC") from exc
    if in_utc <= datetime.now(UTC):
        raise ValueError("must be in the future")
    return in_utc


KeyExpiry = Annotated[
    JsonDateTime,
    AfterValidator(_in_the_future),
    Field(description="When the key stops working: a future date-time with a time zone (ISO 8601)."),
]


class ClientCreate(StrictInput):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"name": "Case management system (production)", "roles": ["assessor"]}},
    )

    name: str = Field(
        min_length=1,
        max_length=200,
        description="A name to tell the client apart, e.g. the calling system (1-200 characters).",
    )
    roles: list[JsonEnum[Role]] = Field(
        min_length=1,
        max_length=len(Role),
        description="The roles the client's keys carry (docs/roles.md), at least one.",
    )
    expires_at: KeyExpiry | None = Field(
        default=None, description="When the first key stops working (ISO 8601 with a time zone); default: never."
    )


class KeyRotate(StrictInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"grace_hours": 24}]})

    grace_hours: int | None = Field(
        default=None,
        ge=0,
        le=720,
        description="Hours the client's older keys stay valid (0-720); default: RISKAPI_KEY_ROTATION_GRACE_HOURS (24).",
    )
    expires_at: KeyExpiry | None = Field(
        default=None, description="When the new key stops working (ISO 8601 with a time zone); default: never."
    )


class KeyRead(BaseModel):
    id: str = Field(description="The key's id (a UUID); not the secret.")
    prefix: str = Field(description="The first characters of the key, e.g. `rk_3f9a2c`, to tell keys apart.")
    created_at: datetime = Field(description="When the key was issued (ISO 8601, UTC).")
    expires_at: datetime | None = Field(
        description="When the key stops (or stopped) working, set at issue or shortened by a rotation; null: never."
    )
    revoked_at: datetime | None = Field(description="When the key was revoked; null while it is not.")
    last_used_at: datetime | None = Field(
        description="When the key last authenticated a request, to the minute; null if never."
    )


class ClientRead(BaseModel):
    id: str = Field(description="The client's id (a UUID).")
    name: str = Field(description="The name given when the client was created.")
    roles: list[Role] = Field(description="The roles every key of the client carries.")
    created_at: datetime = Field(description="When the client was created (ISO 8601, UTC).")
    revoked_at: datetime | None = Field(description="When the client and all its keys were revoked; null while active.")
    keys: list[KeyRead] = Field(description="Every key issued to the client, revoked and expired ones included.")


class ClientList(Page[ClientRead]):
    """Oldest first."""


class IssuedKey(BaseModel):
    """The secret key is shown once, in this response only."""

    client: ClientRead = Field(description="The client the key belongs to.")
    key_id: str = Field(description="The new key's id (a UUID), as listed in the client's `keys`.")
    api_key: str = Field(
        description="Send as 'Authorization: Bearer <api_key>'. It is not stored and cannot be shown again."
    )
