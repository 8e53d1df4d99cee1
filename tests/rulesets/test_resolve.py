from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.auth.permissions import Role
from app.core.errors import NotFound, ValidationFailed
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
            resolve_ruleset(session, org, questionnaire_key="online-exposure", questionnaire_version=2)
        assert wrong_version.value.errors is not None
        assert wrong_version.value.errors[0].pointer == "/questionnaire/version"
        with pytest.raises(ValidationFailed) as wrong_key:
            resolve_ruleset(session, org, questionnaire_key="other", ruleset_key="online-harm-england")
        assert wrong_key.value.errors is not None
        assert wrong_key.value.errors[0].pointer == "/ruleset/key"
        with pytest.raises(NotFound):
            get_ruleset_for_replay(session, other_tenant.organisation_id, "draft-rules", 1)
