"""Settings from environment variables (prefix RISKAPI_), validated once at start-up."""

from __future__ import annotations

import enum
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.seams import StateReadSeam

DEFAULT_SQLITE_PATH = Path("var/riskapi.db")
DEVELOPMENT_SECRET = "development-only-secret"  # noqa: S105 - refused outside development
DEVELOPMENT_BASE_URL = "http://127.0.0.1:8000"
# Retry delays of a webhook delivery after each failed attempt (seconds): 11 attempts over about 27 hours.
DEFAULT_RETRY_SCHEDULE = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0)


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
    # Events out (docs/webhooks.md). Links in event payloads are absolute URLs under public_base_url (absolute, no
    # trailing slash, query or fragment; required and https in production, the development address otherwise).
    public_base_url: str | None = None
    event_retention_days: int = Field(default=30, ge=1, le=3650)
    # Seconds before each retry of a failed delivery; one more failure after the last is a dead letter. Each delay
    # is jittered by up to webhook_retry_jitter of itself, either way.
    webhook_retry_schedule_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE)
    )
    webhook_retry_jitter: float = Field(default=0.2, ge=0, le=0.5)
    # Consecutive failed attempts (of any of its deliveries) after which an endpoint is disabled.
    webhook_disable_after_failures: int = Field(default=20, ge=1)
    # Hosts and networks (comma-separated: names, IPs or CIDRs) a webhook may reach although they are loopback,
    # private, link-local, unique-local or metadata addresses; production refuses those otherwise.
    webhook_outbound_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_read_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_response_cap_bytes: int = Field(default=4096, ge=0, le=1024 * 1024)
    # After a secret rotation the previous secret signs too (two signatures) for this long.
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0, le=24 * 30)
    # The worker: polling interval (at most a second), how long a claimed delivery stays claimed, how often overdue
    # reviews are looked for, and where its own /metrics is served (none when unset).
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=1.0)
    worker_lease_seconds: float = Field(default=60.0, ge=5, le=3600)
    review_due_scan_seconds: float = Field(default=60.0, gt=0, le=86400)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Assessments created before events were kept (migration 0006) raise assessment.review_due only when this is set
    # and their review date in force is on or after it.
    review_due_cutoff: date | None = None
    # The verifiable log (docs/verifiable-log.md). The worker signs a checkpoint of each organisation's tree at most
    # this often, when the tree grew.
    checkpoint_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Checkpoint signing keys, never in the database: a C2SP signer key (`PRIVATE+KEY+name+id+key`, made by
    # `riskapi audit keys generate`) in the setting, or a file of keys, one per line. Every signer key signs every
    # checkpoint (two during a rotation's overlap); a line holding a verifier key (`name+id+key`) is a retired key,
    # still published by GET /v1/audit/keys so old checkpoints keep verifying. Production refuses to start with
    # neither; in development, with neither set, the key `riskapi dev-setup` writes to dev_log_key_path is used.
    log_signing_key: SecretStr | None = None
    log_signing_key_file: Path | None = None
    dev_log_key_path: Path = Path("var/dev-log-signing-key")
    # Checkpoint origins are `<log_origin_prefix>/<organisation slug>`; by default the public base URL's host and
    # path followed by `/audit` (e.g. `riskapi.example.org/audit/county-council`).
    log_origin_prefix: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\s+]+$")
    # A test seam (app/core/seams.py), passed in code by tests and None everywhere else; it accepts no string, so an
    # environment variable cannot set it.
    state_read_seam: StateReadSeam | None = Field(default=None, exclude=True, repr=False)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("webhook_retry_schedule_seconds", "webhook_outbound_allowlist", mode="before")
    @classmethod
    def _comma_separated_values(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("webhook_retry_schedule_seconds")
    @classmethod
    def _positive_delays(cls, value: list[float]) -> list[float]:
        if not value or any(delay <= 0 for delay in value):
            raise ValueError("the retry schedule is one or more positive numbers of seconds")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _absolute_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("RISKAPI_PUBLIC_BASE_URL must be an absolute http(s) URL")
        if value.endswith("/") or parts.query or parts.fragment or "?" in value or "#" in value:
            raise ValueError("RISKAPI_PUBLIC_BASE_URL takes no trailing slash, query or fragment")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        attempt = self.webhook_connect_timeout_seconds + self.webhook_read_timeout_seconds
        if self.worker_lease_seconds <= attempt:
            raise ValueError(
                f"RISKAPI_WORKER_LEASE_SECONDS ({self.worker_lease_seconds:g}) must exceed one delivery attempt's "
                f"connect and read timeouts ({attempt:g} s), or another worker may send a delivery still in flight"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment is Environment.production:
            secret = self.secret_key.get_secret_value()
            if secret == DEVELOPMENT_SECRET or len(secret) < 32:
                raise ValueError("RISKAPI_SECRET_KEY must be set to a random value of 32+ characters in production")
            if self.database_url.startswith("sqlite") and ":memory:" in self.database_url:
                raise ValueError("an in-memory database loses every assessment on restart")
            if self.public_base_url is None or not self.public_base_url.startswith("https://"):
                raise ValueError("RISKAPI_PUBLIC_BASE_URL must be set to the service's https address in production")
            if self.log_signing_key is None and self.log_signing_key_file is None:
                raise ValueError(
                    "RISKAPI_LOG_SIGNING_KEY or RISKAPI_LOG_SIGNING_KEY_FILE must name the checkpoint signing key in "
                    "production (make one with `riskapi audit keys generate`)"
                )
        return self

    @property
    def base_url(self) -> str:
        """The absolute address links in events start with (the development address unless configured)."""
        return self.public_base_url or DEVELOPMENT_BASE_URL

    @property
    def origin_prefix(self) -> str:
        """What every organisation's checkpoint origin starts with (`<prefix>/<slug>`)."""
        if self.log_origin_prefix is not None:
            return self.log_origin_prefix
        parts = urlsplit(self.base_url)
        return f"{parts.netloc}{parts.path}/audit"

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
