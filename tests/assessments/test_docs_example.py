"""The README's curl example posts docs/examples/assessment-request.json: keep it a valid, LOW assessment, scored as
on a fresh `make run`. The database is set up by `riskapi dev-setup` itself (migrations, the shipped content, the
demo organisation and its all-roles key), so the example meets the rule set a new organisation actually gets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from tests.conftest import backends, make_settings, new_database
from tests.test_openapi_examples import dev_setup

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "assessment-request.json"


@pytest.fixture
def seeded() -> None:
    """Replaces the package's seeding: here `riskapi dev-setup` seeds, as `make run` does."""


@pytest.fixture(params=backends())
def made_run_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An empty database set up as `make run` sets it up: its URL and the development key dev-setup wrote."""
    for url in new_database(request.param, tmp_path, "docs_example"):
        yield url, dev_setup(url, tmp_path / "dev-api-key")


@pytest.fixture
async def made_run_client(made_run_database: tuple[str, str]) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    url, key = made_run_database
    application = create_app(make_settings(url))
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, key
    finally:
        application.state.engine.dispose()


async def test_the_readme_example_request_is_scored_low(made_run_client: tuple[httpx.AsyncClient, str]) -> None:
    client, key = made_run_client
    response = await client.post(
        "/v1/assessments",
        content=EXAMPLE.read_bytes(),
        headers={
            "Authorization": f"Bearer {key}",
            "X-Acting-User": "nurse-42",
            "Content-Type": "application/json",
            "Idempotency-Key": "7f1c2a",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["level"] == "low"
    assert body["level_label"] == "Low"
    assert body["information_gaps"] == []
    assert body["notices"] == []  # England's procedures: the rule set's own
    # the latest shipped content, which the demo organisation of a fresh `make run` uses without choosing it
    assert body["questionnaire"]["key"] == "online-exposure"
    assert body["questionnaire"]["version"] == 2
    assert (body["ruleset"]["key"], body["ruleset"]["version"]) == ("online-harm-england", 2)
    assert response.headers["location"] == f"/v1/assessments/{body['id']}"
    assert json.loads(EXAMPLE.read_text())["subject_ref"] == body["subject_ref"]
