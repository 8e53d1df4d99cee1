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
