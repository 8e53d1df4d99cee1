from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from cachetools import TTLCache
from fastapi import FastAPI

from app.auth.permissions import Role
from app.core.errors import NotFound, ValidationFailed
from app.rulesets import repository as rulesets_repository
from app.rulesets import service as rulesets_service
from app.rulesets.service import get_ruleset_for_replay, resolve_ruleset
from tests.conftest import Tenant
from tests.rulesets.factories import YAML, ruleset_yaml


async def test_resolution_errors_name_the_field(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, seeded: FastAPI
) -> None:
    created = await client.post(
        "/v1/rulesets/draft-rules/versions",
        content=ruleset_yaml("online-exposure"),
        headers={**tenant.headers(Role.rule_author), **YAML},
    )
    assert created.status_code == 201
    with seeded.state.sessionmaker() as session:
        org = tenant.organisation_id
        with pytest.raises(ValidationFailed) as draft:
            resolve_ruleset(
                session, org, questionnaire_key="online-exposure", ruleset_key="draft-rules", ruleset_version=1
            )
        assert draft.value.errors is not None
        assert draft.value.errors[0].pointer == "/ruleset/version"
        with pytest.raises(NotFound):
            resolve_ruleset(
                session,
                other_tenant.organisation_id,
                questionnaire_key="online-exposure",
                ruleset_key="draft-rules",
                ruleset_version=1,
            )
        with pytest.raises(ValidationFailed) as wrong_version:
            resolve_ruleset(session, org, questionnaire_key="online-exposure", questionnaire_version=3)
        assert wrong_version.value.errors is not None
        assert wrong_version.value.errors[0].pointer == "/questionnaire/version"
        with pytest.raises(ValidationFailed) as wrong_key:
            resolve_ruleset(session, org, questionnaire_key="other", ruleset_key="online-harm-england")
        assert wrong_key.value.errors is not None
        assert wrong_key.value.errors[0].pointer == "/ruleset/key"
        with pytest.raises(NotFound):
            get_ruleset_for_replay(session, other_tenant.organisation_id, "draft-rules", 1)


def test_requests_that_miss_the_compile_cache_together_compile_once(
    tenant: Tenant, seeded: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each would otherwise compile the same rule set under the GIL (bench/results.md, write path round 3)."""
    compiles: list[str] = []
    compile_ruleset = rulesets_service.compile_ruleset

    def counted(ruleset: Any, questionnaire: Any) -> Any:
        compiles.append(ruleset.key)
        time.sleep(0.2)  # long enough for every thread to miss the cache before the first one fills it
        return compile_ruleset(ruleset, questionnaire)

    rulesets_service._compiled_entry.cache_clear()
    monkeypatch.setattr(rulesets_service, "compile_ruleset", counted)
    rulesets_service.invalidate_resolution_cache()

    def resolve() -> str:
        with seeded.state.sessionmaker() as session:
            resolved = resolve_ruleset(session, tenant.organisation_id, questionnaire_key="online-exposure")
            return resolved.ruleset_hash

    with ThreadPoolExecutor(4) as pool:
        hashes = set(pool.map(lambda _: resolve(), range(4)))
    assert len(hashes) == 1
    assert compiles == ["online-harm-england"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_resolution_is_reused_for_its_lifetime_then_resolved_again(
    tenant: Tenant, seeded: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    configured = rulesets_service._resolved
    monkeypatch.setattr(rulesets_service, "_resolved", TTLCache(configured.maxsize, configured.ttl, timer=clock))
    lookups: list[str] = []
    original = rulesets_repository.resolve_current_row

    def counted(*args: Any) -> Any:
        lookups.append(args[1])
        return original(*args)

    monkeypatch.setattr(rulesets_repository, "resolve_current_row", counted)
    org = tenant.organisation_id
    assert rulesets_service.cached_resolution(org, questionnaire_key="online-exposure") is None
    with seeded.state.sessionmaker() as session:
        first = resolve_ruleset(session, org, questionnaire_key="online-exposure")
        clock.now += rulesets_service.RESOLVE_CACHE_SECONDS - 0.1
        assert rulesets_service.cached_resolution(org, questionnaire_key="online-exposure") is first
        assert resolve_ruleset(session, org, questionnaire_key="online-exposure") is first
        assert lookups == [org]
        clock.now += 0.2
        assert rulesets_service.cached_resolution(org, questionnaire_key="online-exposure") is None
        again = resolve_ruleset(session, org, questionnaire_key="online-exposure")
    assert lookups == [org, org]
    assert again.ruleset_hash == first.ruleset_hash
    assert again.compiled is first.compiled  # the compiled rule set is content-addressed, cached apart


def test_a_failed_resolution_is_not_cached(tenant: Tenant, seeded: FastAPI) -> None:
    with seeded.state.sessionmaker() as session, pytest.raises(ValidationFailed):
        resolve_ruleset(session, tenant.organisation_id, questionnaire_key="no-such-questionnaire")
    assert rulesets_service.cached_resolution(tenant.organisation_id, questionnaire_key="no-such-questionnaire") is None
