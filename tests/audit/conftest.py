from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.rulesets.seed import seed_default_content


@pytest.fixture(autouse=True)
def seeded(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)
