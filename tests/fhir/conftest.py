from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.rulesets.factories import seed


@pytest.fixture
def seeded(app: FastAPI) -> FastAPI:
    seed(app)
    return app
