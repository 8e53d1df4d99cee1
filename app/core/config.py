"""Settings from environment variables (prefix RISKAPI_), validated once at start-up."""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.seams import StateReadSeam

DEFAULT_SQLITE_PATH = Path("var/riskapi.db")
DEVELOPMENT_SECRET = "development-only-secret"  # noqa: S105 - refused outside development


class Environment(enum.StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RISKAPI_", extra="ignore")

    environment: Environment = Environment.development
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    redis_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Structural limits on JSON/YAML request documents (app/core/json_guard.py; docs/adr/0005). The default rule
    # set is depth 9, 82 items in its longest array, 79 keys in its widest object, 734 characters, 5,320 values.
    json_max_depth: int = Field(default=32, ge=8, le=256)
    json_max_array_items: int = Field(default=1000, ge=100)
    json_max_object_keys: int = Field(default=1000, ge=100)
    json_max_string_chars: int = Field(default=10_000, ge=1000)
    json_max_nodes: int = Field(default=100_000, ge=10_000)
    rate_limit_per_minute: int = Field(default=600, ge=0)
    key_rotation_grace_hours: int = Field(default=24, ge=0, le=24 * 30)
    idempotency_retention_hours: int = Field(default=48, ge=24)
    log_level: str = "INFO"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    dev_key_path: Path = Path("var/dev-api-key")
    # Total bytes of a request's header names and values (app/core/middleware.py; README "Limits"): far above what a
    # client of this API sends (a key, X-Acting-User of at most 256 characters, a few standard headers), at
    # uvicorn's h11 default, and below nginx's default large_client_header_buffers (4 x 8 KiB).
    max_header_bytes: int = Field(default=16 * 1024, ge=4096)
    # Failed authentications (missing, malformed, unknown, revoked or expired key) per source address per minute,
    # checked before a key is looked up (0 turns it off); the source is the peer address unless the peer is one of
    # trusted_proxies (comma-separated IPs or CIDRs), then the right-most untrusted X-Forwarded-For entry.
    auth_failures_per_minute: int = Field(default=30, ge=0)
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    # Counted steps the checks of one rule set may take on validate and publish (app/scoring/budget.py;
    # docs/rule-language.md). The shipped default rule set takes 21,859.
    ruleset_check_max_steps: int = Field(default=1_000_000, ge=10_000)
    # A test seam (app/core/seams.py), passed in code by tests and None everywhere else; it accepts no string, so an
    # environment variable cannot set it.
    state_read_seam: StateReadSeam | None = Field(default=None, exclude=True, repr=False)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment is Environment.production:
            secret = self.secret_key.get_secret_value()
            if secret == DEVELOPMENT_SECRET or len(secret) < 32:
                raise ValueError("RISKAPI_SECRET_KEY must be set to a random value of 32+ characters in production")
            if self.database_url.startswith("sqlite") and ":memory:" in self.database_url:
                raise ValueError("an in-memory database loses every assessment on restart")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The environment's settings: for `create_app`'s default and the CLI entry points only (services are passed
    theirs)."""
    return Settings()


async def settings_from_app(request: Request) -> Settings:
    """The settings the app was created with (`create_app(settings)`), for routes and dependencies."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_from_app)]
