"""`matches`: which events an endpoint gets, by type and by its minimum levels (the worker's fan-out calls it)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.permissions import Role
from app.events.service import EventType, assessment_data
from app.rulesets.models import RuleSetVersion
from app.webhooks.models import WebhookEndpoint
from app.webhooks.service import matches
from tests.conftest import Tenant
from tests.rulesets.factories import QUESTIONNAIRE_YAML, YAML, ruleset_yaml, seed
from tests.webhooks.conftest import HOOKS, admin

SHIPPED = ("low", "medium", "high", "immediate")
CUSTOM = ("universal", "targeted", "specialist")
ORDERS = {("online-harm-england", 1): SHIPPED, ("tiers", 1): CUSTOM}


@dataclass
class Endpoint:
    event_types: list[str]
    min_levels: list[dict[str, Any]] = field(default_factory=list)


def order_of(key: str, version: int) -> Sequence[str] | None:
    return ORDERS.get((key, version))


def data(level: str, ruleset_key: str = "online-harm-england", version: int = 1) -> dict[str, Any]:
    return assessment_data(
        base_url="http://127.0.0.1:8000",
        assessment_id="a0000000-0000-4000-8000-000000000001",
        computed_level=level,
        level=level,
        ruleset_key=ruleset_key,
        ruleset_version=version,
    )


def test_only_the_subscribed_types_match() -> None:
    endpoint = Endpoint(["assessment.created", "ruleset.published"])
    assert matches(endpoint, "assessment.created", data("low"), order_of)
    assert matches(endpoint, "ruleset.published", {"ruleset": {"key": "x", "version": 2}}, order_of)
    assert not matches(endpoint, "assessment.revised", data("immediate"), order_of)
    assert not matches(endpoint, "webhook.endpoint_disabled", {}, order_of)


def test_a_minimum_level_lets_through_that_level_and_the_more_concerning_ones() -> None:
    endpoint = Endpoint(["assessment.created"], [{"ruleset_key": "online-harm-england", "level": "high"}])
    sent = [level for level in SHIPPED if matches(endpoint, "assessment.created", data(level), order_of)]
    assert sent == ["high", "immediate"]


def test_what_a_minimum_cannot_judge_is_sent() -> None:
    endpoint = Endpoint(
        ["assessment.created", "ruleset.published"], [{"ruleset_key": "online-harm-england", "level": "high"}]
    )
    assert matches(endpoint, "assessment.created", data("low", "another-rule-set"), order_of)  # not named
    assert matches(endpoint, "ruleset.published", {"ruleset": {"key": "online-harm-england", "version": 1}}, order_of)
    assert matches(endpoint, "assessment.created", data("low", version=9), order_of)  # an unknown version
    assert matches(endpoint, "assessment.created", data("purple"), order_of)  # not a level of the version
    assert matches(endpoint, "assessment.created", {"level": "low"}, order_of)  # no rule set
    renamed = {("online-harm-england", 1): ("green", "amber", "red")}  # a version without the named level
    assert matches(endpoint, "assessment.created", data("green"), lambda k, v: renamed.get((k, v)))


def _custom_levels(text: str) -> str:
    """The authoring tests' rule set with levels of its own: universal, targeted, specialist."""
    names = dict(zip(("low", "medium", "high"), CUSTOM, strict=True))
    text = text.replace("levels: [low, medium, high]", f"levels: [{', '.join(CUSTOM)}]")
    return re.sub(r"level: (low|medium|high)\b", lambda m: f"level: {names[m[1]]}", text)


async def publish_custom_level_rule_set(client: httpx.AsyncClient, tenant: Tenant) -> None:
    author = {**tenant.headers(Role.rule_author), **YAML}
    publisher = tenant.headers(Role.rule_publisher)
    created = await client.post("/v1/questionnaires/tiers-check/versions", content=QUESTIONNAIRE_YAML, headers=author)
    assert created.status_code == 201, created.text
    assert (await client.post("/v1/questionnaires/tiers-check/versions/1/publish", headers=publisher)).is_success
    document = _custom_levels(ruleset_yaml("tiers-check", expected_stranger_level="targeted"))
    created = await client.post("/v1/rulesets/tiers/versions", content=document, headers=author)
    assert created.status_code == 201, created.text
    published = await client.post("/v1/rulesets/tiers/versions/1/publish", headers=publisher)
    assert published.status_code == 200, published.text


async def test_a_custom_level_rule_set_never_loses_its_urgent_events(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    seed(app)
    await publish_custom_level_rule_set(client, tenant)
    subscribed = await client.post(
        HOOKS,
        json={
            "url": "https://cms.example.org/hook",
            "event_types": ["assessment.created"],
            "min_levels": [{"ruleset_key": "online-harm-england", "level": "immediate"}],
        },
        headers=admin(tenant),
    )
    assert subscribed.status_code == 201, subscribed.text
    # the shipped levels mean nothing to the custom rule set, and its own are checked against its versions
    wrong = await client.patch(
        f"{HOOKS}/{subscribed.json()['id']}",
        json={"min_levels": [{"ruleset_key": "tiers", "level": "high"}]},
        headers=admin(tenant),
    )
    assert wrong.status_code == 422, wrong.text
    [error] = wrong.json()["errors"]
    assert error["pointer"] == "/min_levels/0/level"
    assert error["detail"].endswith("valid levels: universal, targeted, specialist")

    with app.state.sessionmaker() as session:
        endpoint = session.get(WebhookEndpoint, subscribed.json()["id"])
        assert endpoint is not None
        stored = {
            (row.key, row.version): tuple(row.document["levels"])
            for row in session.scalars(
                select(RuleSetVersion).where(RuleSetVersion.key.in_(["tiers", "online-harm-england"]))
            )
        }

    def stored_order(key: str, version: int) -> Sequence[str] | None:
        return stored.get((key, version))

    created = EventType.assessment_created.value
    assert stored[("tiers", 1)] == CUSTOM
    for level in CUSTOM:  # a rule set the list does not name: every level is sent, the most urgent included
        assert matches(endpoint, created, data(level, "tiers"), stored_order)
    assert [level for level in SHIPPED if matches(endpoint, created, data(level), stored_order)] == ["immediate"]

    narrowed = await client.patch(
        f"{HOOKS}/{endpoint.id}",
        json={"min_levels": [{"ruleset_key": "tiers", "level": "specialist"}]},
        headers=admin(tenant),
    )
    assert narrowed.status_code == 200, narrowed.text
    with app.state.sessionmaker() as session:
        endpoint = session.get(WebhookEndpoint, endpoint.id)
        assert endpoint is not None
    assert [level for level in CUSTOM if matches(endpoint, created, data(level, "tiers"), stored_order)] == [
        "specialist"
    ]
    assert all(matches(endpoint, created, data(level), stored_order) for level in SHIPPED)
