"""The hardening suite runs against an app whose database holds the shipped default content."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from app.rulesets.seed import seed_default_content


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    with application.state.sessionmaker.begin() as session:
        seed_default_content(session)
    yield application
    application.state.engine.dispose()
