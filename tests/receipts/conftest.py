from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.rulesets.seed import seed_default_content
from tests.verifiable_log.log_support import signing_settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return signing_settings(database_url)


@pytest.fixture(autouse=True)
def seeded(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)
