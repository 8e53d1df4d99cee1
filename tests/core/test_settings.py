from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Environment, Settings


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="RISKAPI_SECRET_KEY"):
        Settings(environment=Environment.production)


def test_production_refuses_an_in_memory_database() -> None:
    with pytest.raises(ValidationError, match="in-memory"):
        Settings(environment=Environment.production, secret_key="x" * 40, database_url="sqlite:///:memory:")


def test_settings_come_from_riskapi_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKAPI_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("RISKAPI_DATABASE_URL", "postgresql+psycopg://u@h/db")
    settings = Settings()
    assert settings.max_body_bytes == 2048
    assert not settings.is_sqlite
    assert "development-only" not in repr(settings)


PRODUCTION = {
    "environment": Environment.production,
    "secret_key": "x" * 40,
    "log_signing_key_file": "/run/secrets/riskapi-log-signing-key",
}


def test_production_requires_an_https_public_base_url() -> None:
    with pytest.raises(ValidationError, match="RISKAPI_PUBLIC_BASE_URL must be set"):
        Settings(**PRODUCTION)
    with pytest.raises(ValidationError, match="RISKAPI_PUBLIC_BASE_URL must be set"):
        Settings(**PRODUCTION, public_base_url="http://riskapi.example.org")
    assert Settings(**PRODUCTION, public_base_url="https://riskapi.example.org").base_url == (
        "https://riskapi.example.org"
    )


def test_the_development_base_url_is_the_default_outside_production() -> None:
    assert Settings().base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("riskapi.example.org", "absolute"),
        ("ftp://riskapi.example.org", "absolute"),
        ("https://riskapi.example.org/", "trailing slash"),
        ("https://riskapi.example.org/api?x=1", "query"),
        ("https://riskapi.example.org#top", "fragment"),
    ],
)
def test_a_public_base_url_is_absolute_without_trailing_slash_query_or_fragment(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(public_base_url=value)


def test_the_retry_schedule_and_the_allowlist_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKAPI_WEBHOOK_RETRY_SCHEDULE_SECONDS", "0.5, 2,10")
    monkeypatch.setenv("RISKAPI_WEBHOOK_OUTBOUND_ALLOWLIST", "hooks.trust.nhs.uk, 10.20.0.0/16")
    settings = Settings()
    assert settings.webhook_retry_schedule_seconds == [0.5, 2.0, 10.0]
    assert settings.webhook_outbound_allowlist == ["hooks.trust.nhs.uk", "10.20.0.0/16"]
    monkeypatch.setenv("RISKAPI_WEBHOOK_RETRY_SCHEDULE_SECONDS", "5,0")
    with pytest.raises(ValidationError, match="positive"):
        Settings()


def test_a_delivery_lease_outlasts_one_attempt() -> None:
    with pytest.raises(ValidationError, match="RISKAPI_WORKER_LEASE_SECONDS"):
        Settings(worker_lease_seconds=10, webhook_connect_timeout_seconds=5, webhook_read_timeout_seconds=10)
    assert Settings(worker_lease_seconds=16, webhook_connect_timeout_seconds=5).worker_lease_seconds == 16
