"""A revision by JSON Merge Patch (RFC 7396): `answers_patch` applied to the amended revision's stored answers, the
merged set validated as a whole, every error pointing where the patch can fix it (docs/answers.md, "Amending with a
patch"). The race of two patches on one revision: tests/assessments/test_patch_race.py."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.assessments.models import Assessment, IdempotencyRecord
from app.auth.permissions import Role
from app.content.examples import revision_patch_request
from tests.assessments.conftest import IMMEDIATE, LOW, answers, create
from tests.conftest import Tenant
from tests.rulesets.factories import QUESTIONNAIRE_YAML, YAML, ruleset_yaml

ANSWERS_DOC = Path(__file__).resolve().parents[2] / "docs" / "answers.md"
SEXTORTION_FOLLOW_UPS = ["sextortion_demand", "sextortion_paid", "sextortion_claimed_hack_or_fake"]


def merged(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The expected merge for flat patches (the test's own, independent of the service's)."""
    out = copy.deepcopy(stored)
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


async def amend(
    client: httpx.AsyncClient, tenant: Tenant, assessment_id: str, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post(
        f"/v1/assessments/{assessment_id}/revisions", json=body, headers={**tenant.headers(Role.assessor), **headers}
    )


async def stored_answers(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str) -> dict[str, Any]:
    shown = await client.get(
        f"/v1/assessments/{assessment_id}", params={"include": "answers"}, headers=tenant.headers(Role.assessor)
    )
    assert shown.status_code == 200, shown.text
    result: dict[str, Any] = shown.json()["answers"]
    return result


def errors_of(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [(e["pointer"], e["detail"]) for e in response.json()["errors"]]


def count(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Assessment)) or 0)


async def test_a_patch_changes_removes_and_replaces_and_the_revision_stores_the_whole_set(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await create(client, tenant, which=IMMEDIATE)
    patch: dict[str, Any] = {
        "sextortion_demand": ["more_images", "meeting"],  # a list is replaced whole
        "prot_trusted_adult": None,  # an optional answer removed
        "assessment_date": None,  # removing what was never answered changes nothing
        "not_an_item": None,  # nor does removing an id that is no item at all
        "vuln_self_harm_suicidal": "history",
    }
    response = await amend(client, tenant, first["id"], {"answers_patch": patch})
    assert response.status_code == 201, response.text
    revision = response.json()
    assert "answers" not in revision
    assert revision["supersedes"] == first["id"]
    assert revision["questionnaire"] == first["questionnaire"]
    assert revision["ruleset"] == first["ruleset"]
    expected = merged(answers(IMMEDIATE), patch)
    assert await stored_answers(client, tenant, revision["id"]) == expected
    assert expected["sextortion_demand"] == ["more_images", "meeting"]
    assert "prot_trusted_adult" not in expected
    # the amended revision keeps its own answers; the new one replays from the merged set
    assert await stored_answers(client, tenant, first["id"]) == answers(IMMEDIATE)
    replay = await client.get(f"/v1/assessments/{revision['id']}/replay", headers=tenant.headers(Role.assessor))
    assert replay.json()["identical"] is True, replay.text
    # the same as sending the merged set in full
    other = await create(client, tenant, which=IMMEDIATE)
    full = await amend(client, tenant, other["id"], {"answers": expected})
    strip = {"id", "created_at", "review_by", "supersedes", "trace"}
    assert {k: v for k, v in full.json().items() if k not in strip} == {
        k: v for k, v in revision.items() if k not in strip
    }
    events = await client.get(
        "/v1/audit/events", params={"action": "assessment.amend"}, headers=tenant.headers(Role.auditor)
    )
    details = [e["details"] for e in events.json()["items"]]
    assert details[0]["answers_patch"] is True
    assert "answers_patch" not in details[1]


async def test_a_patch_that_leaves_items_answered_that_are_no_longer_asked_lists_them(
    client: httpx.AsyncClient, tenant: Tenant, app: FastAPI
) -> None:
    first = await create(client, tenant, which=IMMEDIATE)
    before = count(app)
    refused = await amend(client, tenant, first["id"], {"answers_patch": {"sextortion_threat": "no"}})
    assert errors_of(refused) == [
        (
            f"/answers_patch/{item}",
            "answered in the amended revision, but no longer asked given the other answers (enable_when): "
            f'send "{item}": null to remove it',
        )
        for item in SEXTORTION_FOLLOW_UPS
    ]
    assert refused.json()["detail"] == (
        "3 answers are invalid once answers_patch is applied to the amended revision's answers; answered but no "
        "longer asked: sextortion_demand, sextortion_paid, sextortion_claimed_hack_or_fake (send each as null to "
        "remove it)"
    )
    assert count(app) == before

    # the patch itself answers one of them: still a 422, at the same pointer, saying the same remedy
    also = await amend(
        client, tenant, first["id"], {"answers_patch": {"sextortion_threat": "no", "sextortion_paid": "no"}}
    )
    assert errors_of(also)[1] == (
        "/answers_patch/sextortion_paid",
        'not asked given the other answers (enable_when): send "sextortion_paid": null to remove it',
    )

    fixed = {"sextortion_threat": "no", **dict.fromkeys(SEXTORTION_FOLLOW_UPS)}
    accepted = await amend(client, tenant, first["id"], {"answers_patch": fixed})
    assert accepted.status_code == 201, accepted.text
    assert await stored_answers(client, tenant, accepted.json()["id"]) == merged(answers(IMMEDIATE), fixed)


async def test_an_item_the_patch_newly_makes_asked_must_be_answered_by_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await create(client, tenant)
    refused = await amend(client, tenant, first["id"], {"answers_patch": {"sextortion_threat": "yes"}})
    assert errors_of(refused) == [
        (f"/answers_patch/{item}", "required item is missing: add it to answers_patch")
        for item in SEXTORTION_FOLLOW_UPS
    ]
    serious = await amend(
        client, tenant, first["id"], {"answers_patch": {"prof_judgement": "serious_concern_significant_harm"}}
    )
    assert errors_of(serious) == [
        (
            "/answers_patch/prof_judgement_rationale",
            "required item is missing (required_when holds for these answers): add it to answers_patch",
        )
    ]
    assert (
        serious.json()["detail"]
        == "1 answer is invalid once answers_patch is applied to the amended revision's answers"
    )


async def test_invalid_values_in_the_patch_point_into_the_patch(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await create(client, tenant, which=IMMEDIATE)
    patch = {
        "child_age_years": 18,
        "sextortion_demand": ["more_images", "bogus"],
        "not_an_item": "yes",
        "immediate_danger_now": None,
        "image_coerced": {"answer": "yes", "note": None},  # RFC 7396 merges objects too; no answer is an object
    }
    refused = await amend(client, tenant, first["id"], {"answers_patch": patch})
    assert errors_of(refused) == [
        ("/answers_patch/not_an_item", "unknown item 'not_an_item'"),
        ("/answers_patch/child_age_years", "18 is outside the allowed range 0..17"),
        ("/answers_patch/image_coerced", 'expected "yes", "no" or "unknown", got {"answer": "yes"}'),
        (
            "/answers_patch/sextortion_demand/1",
            '"bogus" is not an option of this item (options: money_or_gift_cards, more_images, sexual_acts, meeting, '
            "other, unknown)",
        ),
        (
            "/answers_patch/immediate_danger_now",
            "required item is missing: answers_patch removes it with null; send a value instead",
        ),
    ]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "Send the revision's answers: `answers` (the complete set) or `answers_patch` (the changes)"),
        (
            {"answers": answers(LOW), "answers_patch": {"child_age_years": 13}},
            "Send either `answers` (the complete set) or `answers_patch` (the changes), not both",
        ),
        (
            {"ruleset": {"key": "online-harm-england", "version": 1}},
            "Send the revision's answers: `answers` (the complete set) or `answers_patch` (the changes)",
        ),
    ],
    ids=["neither", "both", "only-versions"],
)
async def test_a_revision_takes_answers_or_a_patch_not_both(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], detail: str
) -> None:
    first = await create(client, tenant)
    refused = await amend(client, tenant, first["id"], body)
    assert refused.json()["detail"] == detail
    assert [pointer for pointer, _ in errors_of(refused)] == ["/answers", "/answers_patch"]


async def test_null_or_another_type_is_not_a_patch(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await create(client, tenant)
    for body, pointer in (
        ({"answers_patch": None}, "/answers_patch"),
        ({"answers": None}, "/answers"),
        ({"answers_patch": ["child_age_years"]}, "/answers_patch"),
        ({"answers_patch": "child_age_years=13"}, "/answers_patch"),
    ):
        refused = await amend(client, tenant, first["id"], body)
        assert [p for p, _ in errors_of(refused)] == [pointer], (body, refused.text)


async def test_a_patch_to_an_old_or_entered_in_error_revision_is_a_409(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await create(client, tenant)
    patch = {"answers_patch": {"conduct_late_night_use": "yes"}}
    assert (await amend(client, tenant, first["id"], patch)).status_code == 201
    again = await amend(client, tenant, first["id"], patch)
    assert again.status_code == 409, again.text


async def test_a_retried_patch_replays_its_201(client: httpx.AsyncClient, tenant: Tenant, app: FastAPI) -> None:
    first = await create(client, tenant)
    body = {"answers_patch": {"conduct_late_night_use": "yes", "prot_trusted_adult": None}}
    sent = await amend(client, tenant, first["id"], body, **{"Idempotency-Key": "patch-1"})
    retried = await amend(client, tenant, first["id"], body, **{"Idempotency-Key": "patch-1"})
    assert sent.status_code == retried.status_code == 201, retried.text
    assert retried.content == sent.content
    assert retried.headers["location"] == sent.headers["location"]
    assert retried.headers["idempotent-replayed"] == "true"
    assert count(app) == 2
    other = await amend(
        client,
        tenant,
        first["id"],
        {"answers_patch": {"conduct_late_night_use": "no"}},
        **{"Idempotency-Key": "patch-1"},
    )
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    # a refused patch leaves the key free
    refused = await amend(
        client, tenant, sent.json()["id"], {"answers_patch": {"child_age_years": 99}}, **{"Idempotency-Key": "p-2"}
    )
    assert refused.status_code == 422
    corrected = await amend(
        client, tenant, sent.json()["id"], {"answers_patch": {"child_age_years": 15}}, **{"Idempotency-Key": "p-2"}
    )
    assert corrected.status_code == 201, corrected.text
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 2


async def test_a_patch_as_large_as_the_body_limits_allow(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The most members one object may hold (RISKAPI_JSON_MAX_OBJECT_KEYS, 1000): removals of ids that are no
    items change nothing; as values, each is its own error."""
    first = await create(client, tenant)
    removals = {f"extra_{i}": None for i in range(999)} | {"conduct_late_night_use": "yes"}
    accepted = await amend(client, tenant, first["id"], {"answers_patch": removals})
    assert accepted.status_code == 201, accepted.text
    values = {f"extra_{i:04}": "yes" for i in range(1000)}
    refused = await amend(client, tenant, accepted.json()["id"], {"answers_patch": values})
    assert errors_of(refused)[0] == ("/answers_patch/extra_0000", "unknown item 'extra_0000'")
    assert len(refused.json()["errors"]) == 1000


# --- a revision that also moves to another questionnaire version --------------------------------------------------

CHECK, RULES = "patch-check", "patch-rules"


async def publish_check_content(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """Questionnaire `patch-check` v1 and v2 (v2 caps the age at 15) and rule set `patch-rules` v1 and v2 scoring
    each."""
    author = {**tenant.headers(Role.rule_author), **YAML}
    publisher = tenant.headers(Role.rule_publisher)
    for version, text in ((1, QUESTIONNAIRE_YAML), (2, QUESTIONNAIRE_YAML.replace("max: 17", "max: 15"))):
        drafted = await client.post(f"/v1/questionnaires/{CHECK}/versions", content=text, headers=author)
        assert drafted.status_code == 201, drafted.text
        published = await client.post(f"/v1/questionnaires/{CHECK}/versions/{version}/publish", headers=publisher)
        assert published.status_code == 200, published.text
        rules = ruleset_yaml(CHECK).replace(f"{{key: {CHECK}, version: 1}}", f"{{key: {CHECK}, version: {version}}}")
        drafted = await client.post(f"/v1/rulesets/{RULES}/versions", content=rules, headers=author)
        assert drafted.status_code == 201, drafted.text
        published = await client.post(f"/v1/rulesets/{RULES}/versions/{version}/publish", headers=publisher)
        assert published.status_code == 200, published.text


async def test_a_carried_over_answer_the_new_version_refuses_is_named_as_such(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await publish_check_content(client, tenant)
    created = await client.post(
        "/v1/assessments",
        json={
            "questionnaire": {"key": CHECK, "version": 1},
            "ruleset": {"key": RULES, "version": 1},
            "subject_ref": "case-check",
            "answers": {"child_age_years": 16, "contact_stranger": "no", "shared_images": "no"},
        },
        headers=tenant.headers(Role.assessor),
    )
    assert created.status_code == 201, created.text
    to_v2 = {"ruleset": {"key": RULES, "version": 2}, "answers_patch": {"contact_stranger": "yes"}}
    refused = await amend(client, tenant, created.json()["id"], to_v2)
    assert errors_of(refused) == [
        (
            "/answers_patch/child_age_years",
            "carried over from the amended revision: 16 is outside the allowed range 0..15; "
            'send "child_age_years" with a new value, or null to remove it',
        )
    ]
    to_v2["answers_patch"]["child_age_years"] = 15
    accepted = await amend(client, tenant, created.json()["id"], to_v2)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["questionnaire"]["version"] == 2
    assert await stored_answers(client, tenant, accepted.json()["id"]) == {
        "child_age_years": 15,
        "contact_stranger": "yes",
        "shared_images": "no",
    }


def documented_json(heading: str) -> list[Any]:
    """The JSON blocks of docs/answers.md under `heading`, up to the next heading of its level or above."""
    section = ANSWERS_DOC.read_text().split(f"\n{heading}\n", 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)]


async def test_the_documented_patch_and_its_errors_are_what_the_service_does(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    (example,) = documented_json("## Amending with a patch (`answers_patch`)")
    assert example == revision_patch_request()
    first = await create(client, tenant, which="V1 ")
    patched = await amend(client, tenant, first["id"], example)
    assert (patched.status_code, patched.json()["level"]) == (201, "medium"), patched.text

    (refusal,) = documented_json("### Errors of a patched revision")
    v3 = await create(client, tenant, which=IMMEDIATE)
    refused = await amend(client, tenant, v3["id"], {"answers_patch": {"sextortion_threat": "no"}})
    assert refused.status_code == 422
    assert {"detail": refused.json()["detail"], "errors": refused.json()["errors"]} == refusal
