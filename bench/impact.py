"""Impact analysis on 10,000 stored assessments: prints figures, asserts nothing.

    python bench/impact.py            # a temporary SQLite database
    RISKAPI_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test python bench/impact.py

Seeds the shipped content, 10,000 assessments (the shipped rule set's embedded test answers, cycled, scored with
the shipped rule set) directly into the database, drafts a rule set with changed weights, and times
`POST /v1/rulesets/{key}/versions/1/impact` over HTTP in process (the rate limit is off).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.assessments.models import Assessment
from app.auth.permissions import Role
from app.content import default_ruleset
from app.core.db import utcnow
from app.main import create_app
from app.rulesets.seed import seed_default_content
from app.rulesets.service import get_ruleset_for_replay
from tests.conftest import (
    create_postgres_database,
    drop_postgres_database,
    make_settings,
    make_tenant,
    migrate,
)

COUNT = 10_000
RUNS = 3


def changed_weights(document: dict[str, Any]) -> dict[str, Any]:
    """The shipped rule set under a new key, every `add` weight raised by one (still monotone)."""
    changed = {**document, "key": "bench-rules"}
    changed.pop("version", None)
    scores = []
    for score in document.get("scores", []):
        terms = [({**t, "add": t["add"] + 1} if "add" in t and "when" in t else t) for t in score.get("terms") or []]
        scores.append({**score, "terms": terms} if score.get("terms") is not None else score)
    changed["scores"] = scores
    return changed


def seed_assessments(app: Any, organisation_id: str) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)
    with app.state.sessionmaker.begin() as session:
        resolved = get_ruleset_for_replay(session, organisation_id, "online-harm-england", 1)
        cases = [test.answers for test in resolved.compiled.ruleset.tests]
        results = [resolved.compiled.evaluate(answers) for answers in cases]
        now = utcnow()
        rows = [
            {
                "id": str(uuid.uuid4()),
                "organisation_id": organisation_id,
                "subject_ref": f"case-{i}",
                "questionnaire_key": resolved.questionnaire_key,
                "questionnaire_version": resolved.questionnaire_version,
                "questionnaire_hash": resolved.questionnaire_hash,
                "ruleset_key": resolved.ruleset_key,
                "ruleset_version": resolved.ruleset_version,
                "ruleset_hash": resolved.ruleset_hash,
                "engine_version": results[i % len(cases)]["engine_version"],
                "answers": cases[i % len(cases)],
                "result": results[i % len(cases)],
                "computed_level": results[i % len(cases)]["computed_level"],
                "client_id": "bench",
                "acting_user": "bench",
                "created_at": now,
            }
            for i in range(COUNT)
        ]
        for start in range(0, COUNT, 1000):
            session.execute(insert(Assessment), rows[start : start + 1000])


async def measure(app: Any, headers: dict[str, str]) -> list[float]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:
        draft = await client.post(
            "/v1/rulesets/bench-rules/versions", json=changed_weights(default_ruleset()), headers=headers
        )
        assert draft.status_code == 201, draft.text
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            response = await client.post(
                "/v1/rulesets/bench-rules/versions/1/impact", json={"limit": COUNT}, headers=headers
            )
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            body = response.json()
        print(
            f"  assessed={body['assessed']} changed={body['changed']} rises={len(body['rises'])} "
            f"unscorable={len(body['unscorable'])} server elapsed_ms={body['elapsed_ms']}"
        )
        return timings


def run(label: str, url: str) -> None:
    migrate(url)
    app = create_app(make_settings(url))
    try:
        tenant = make_tenant(app, (Role.rule_author,))
        started = time.perf_counter()
        seed_assessments(app, tenant.organisation_id)
        print(f"{label}: seeded {COUNT} assessments in {time.perf_counter() - started:.1f} s")
        timings = asyncio.run(measure(app, tenant.headers(Role.rule_author)))
        print(
            f"{label}: impact over {COUNT} stored assessments (HTTP, rate limit off): "
            f"median {statistics.median(timings):.2f} s, best {min(timings):.2f} s, runs {RUNS}"
        )
    finally:
        app.state.engine.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        run("sqlite", f"sqlite:///{Path(directory) / 'bench.db'}")
    admin_url = os.environ.get("RISKAPI_TEST_POSTGRES_URL")
    if admin_url:
        name = f"riskapi_bench_{os.getpid()}"
        url = create_postgres_database(admin_url, name)
        try:
            run("postgresql", url)
        finally:
            drop_postgres_database(admin_url, name)
    else:
        print("postgresql: skipped (set RISKAPI_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
