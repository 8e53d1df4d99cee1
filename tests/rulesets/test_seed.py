from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.rulesets.models import RuleSetVersion
from app.rulesets.seed import ShippedContentError, seed_default_content
from app.rulesets.service import resolve_ruleset
from tests.conftest import Tenant


def test_seed_is_idempotent_and_resolves_by_default(app: FastAPI, tenant: Tenant) -> None:
    with app.state.sessionmaker.begin() as session:
        first = seed_default_content(session)
    with app.state.sessionmaker.begin() as session:
        second = seed_default_content(session)
        resolved = resolve_ruleset(session, tenant.organisation_id, questionnaire_key="online-exposure")
    assert all("published" in line for line in first)
    assert all("already present" in line for line in second)
    assert (resolved.ruleset_key, resolved.ruleset_version, resolved.status) == ("online-harm-england", 2, "published")
    result = resolved.compiled.evaluate(resolved.compiled.ruleset.tests[0].answers)
    assert result["ruleset"]["content_hash"] == resolved.ruleset_hash
    assert result["questionnaire"]["content_hash"] == resolved.questionnaire_hash


def test_seed_refuses_shipped_content_changed_without_a_version_bump(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)
    with app.state.sessionmaker.begin() as session:
        row = session.scalar(select(RuleSetVersion).where(RuleSetVersion.key == "online-harm-england"))
        assert row is not None
        row.content_hash = "0" * 64
    with app.state.sessionmaker() as session, pytest.raises(ShippedContentError, match="without a version bump"):
        seed_default_content(session)
