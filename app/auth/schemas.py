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
    Field(description="When the key stops working: a future date-time with a time zone (ISO 8601)"),
]


class ClientCreate(StrictInput):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"name": "Case management system (production)", "roles": ["assessor"]}},
    )

    name: str = Field(min_length=1, max_length=200)
    roles: list[JsonEnum[Role]] = Field(min_length=1, max_length=len(Role))
    expires_at: KeyExpiry | None = Field(default=None, description="Optional expiry of the first key")


class KeyRotate(StrictInput):
    model_config = ConfigDict(extra="forbid")

    grace_hours: int | None = Field(
        default=None, ge=0, le=720, description="How long the old keys stay valid (default from settings)"
    )
    expires_at: KeyExpiry | None = Field(default=None, description="Optional expiry of the new key")


class KeyRead(BaseModel):
    id: str
    prefix: str = Field(description="The first characters of the key, to tell keys apart")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ClientRead(BaseModel):
    id: str
    name: str
    roles: list[Role]
    created_at: datetime
    revoked_at: datetime | None
    keys: list[KeyRead]


class ClientList(Page[ClientRead]):
    """Oldest first."""


class IssuedKey(BaseModel):
    """The secret key is shown once, in this response only."""

    client: ClientRead
    key_id: str
    api_key: str = Field(
        description="Send as 'Authorization: Bearer <api_key>'. It is not stored and cannot be shown again."
    )
