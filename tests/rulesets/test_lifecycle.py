"""The whole life of a rule-set version over HTTP (issue 6, "done means")."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.auth.permissions import Role
from tests.conftest import Tenant
from tests.rulesets.factories import QUESTIONNAIRE_YAML, YAML, ruleset_yaml
from tests.rulesets.test_rulesets_api import actions

R = Role
RULES = "/v1/rulesets/lifecycle-rules/versions"


async def assess(client: httpx.AsyncClient, tenant: Tenant, answers: dict[str, object], **ruleset: object) -> dict:
    body: dict[str, object] = {
        "questionnaire": {"key": "lifecycle-check", "version": 1},
        "subject_ref": "case-1",
        "answers": answers,
    }
    if ruleset:
        body["ruleset"] = ruleset
    response = await client.post("/v1/assessments", json=body, headers=tenant.headers(R.assessor))
    assert response.status_code in (200, 201, 422), response.text
    return {"status": response.status_code, **response.json()}


async def test_draft_validate_fix_impact_publish_use_replay_retire(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    author = {**tenant.headers(R.rule_author), **YAML}
    publisher = tenant.headers(R.rule_publisher)

    # the organisation's own questionnaire and a first published rule set, current for new assessments
    await client.post("/v1/questionnaires/lifecycle-check/versions", content=QUESTIONNAIRE_YAML, headers=author)
    assert (await client.post("/v1/questionnaires/lifecycle-check/versions/1/publish", headers=publisher)).is_success
    first = await client.post(RULES, content=ruleset_yaml("lifecycle-check"), headers=author)
    assert first.status_code == 201, first.text
    published_v1 = await client.post(f"{RULES}/1/publish", json={"make_current": True}, headers=publisher)
    assert published_v1.status_code == 200, published_v1.text

    # stored assessments scored with version 1
    rising = {"child_age_years": 14, "contact_stranger": "yes", "shared_images": "no", "screen_hours": "mid"}
    steady = {"child_age_years": 15, "contact_stranger": "no", "shared_images": "no"}
    old = [
        await assess(client, tenant, rising),
        await assess(client, tenant, rising),
        await assess(client, tenant, steady),
    ]
    assert [a["computed_level"] for a in old] == ["medium", "medium", "low"]
    assert {a["ruleset"]["version"] for a in old} == {1}

    # a draft of version 2 from YAML, with a mistake
    broken = ruleset_yaml("lifecycle-check", stranger_points=3).replace("q: contact_stranger", "q: contact_strangr")
    draft = await client.post(RULES, content=broken, headers=author)
    assert draft.status_code == 201, draft.text
    assert draft.json()["version"] == 2
    report = (await client.post(f"{RULES}/2/validate", headers=tenant.headers(R.rule_author))).json()
    assert report["valid"] is False
    assert any(
        e["pointer"].startswith("/scores/0/terms/0/when") and "contact_strangr" in e["detail"] for e in report["errors"]
    )
    refused = await client.post(f"{RULES}/2/publish", headers=publisher)
    assert refused.status_code == 422

    # fix it (If-Match from the draft), validate clean with every embedded test passing
    fixed = await client.put(
        f"{RULES}/2",
        content=ruleset_yaml("lifecycle-check", stranger_points=3),
        headers={**author, "If-Match": draft.headers["etag"]},
    )
    assert fixed.status_code == 200, fixed.text
    report = (await client.post(f"{RULES}/2/validate", headers=tenant.headers(R.rule_author))).json()
    assert report["valid"] is True, report
    assert report["tests"]
    assert all(t["passed"] for t in report["tests"])

    # impact on the stored assessments: two rise medium -> high, one stays low; no answers in the answer
    impact = await client.post(f"{RULES}/2/impact", json={"limit": 100}, headers=tenant.headers(R.rule_author))
    assert impact.status_code == 200, impact.text
    body = impact.json()
    assert body["assessed"] == 3
    assert body["changed"] == 2
    assert {(c["from"], c["to"], c["count"]) for c in body["matrix"]} == {("medium", "high", 2), ("low", "low", 1)}
    assert sorted(r["assessment_id"] for r in body["rises"]) == sorted(a["id"] for a in old[:2])
    assert {"id": "young_images", "kind": "trigger"} in body["rules_never_fired"]
    assert "answers" not in impact.text
    assert "case-1" not in impact.text

    # publish version 2 and make it current: new assessments use it
    published_v2 = await client.post(f"{RULES}/2/publish", json={"make_current": True}, headers=publisher)
    assert published_v2.status_code == 200, published_v2.text
    new = await assess(client, tenant, rising)
    assert new["ruleset"]["version"] == 2
    assert new["computed_level"] == "high"

    # old assessments still replay identically with their own version
    for stored in old:
        replay = await client.get(f"/v1/assessments/{stored['id']}/replay", headers=tenant.headers(R.assessor))
        assert replay.status_code == 200, replay.text
        assert replay.json()["identical"] is True
        assert replay.json()["replayed"]["ruleset"]["version"] == 1

    # retire version 1: replay still works, new assessments cannot name it
    retired = await client.post(f"{RULES}/1/retire", headers=publisher)
    assert retired.status_code == 200, retired.text
    replay = await client.get(f"/v1/assessments/{old[0]['id']}/replay", headers=tenant.headers(R.assessor))
    assert replay.json()["identical"] is True
    named = await assess(client, tenant, rising, key="lifecycle-rules", version=1)
    assert named["status"] == 422
    assert named["errors"][0]["pointer"] == "/ruleset/version"

    events = actions(seeded, tenant.organisation_id)
    for action in (
        "ruleset.draft_created",
        "ruleset.draft_replaced",
        "ruleset.impact_analysed",
        "ruleset.published",
        "ruleset.current_set",
        "ruleset.retired",
    ):
        assert action in events


async def test_impact_of_a_version_for_a_later_questionnaire_version_re_scores_earlier_answers(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    author = {**tenant.headers(R.rule_author), **YAML}
    publisher = tenant.headers(R.rule_publisher)
    questionnaires = "/v1/questionnaires/later-check/versions"
    rules = "/v1/rulesets/later-rules/versions"
    assert (await client.post(questionnaires, content=QUESTIONNAIRE_YAML, headers=author)).status_code == 201
    assert (await client.post(f"{questionnaires}/1/publish", headers=publisher)).is_success
    assert (await client.post(rules, content=ruleset_yaml("later-check"), headers=author)).status_code == 201
    assert (await client.post(f"{rules}/1/publish", json={"make_current": True}, headers=publisher)).is_success

    def body(answers: dict[str, object]) -> dict[str, object]:
        return {"questionnaire": {"key": "later-check"}, "subject_ref": "case-later", "answers": answers}

    async def assess(answers: dict[str, object]) -> dict:
        response = await client.post("/v1/assessments", json=body(answers), headers=tenant.headers(R.assessor))
        assert response.status_code == 201, response.text
        return dict(response.json())

    rising = await assess(
        {"child_age_years": 14, "contact_stranger": "yes", "shared_images": "no", "screen_hours": "mid"}
    )
    silent = await assess({"child_age_years": 15, "contact_stranger": "no", "shared_images": "no"})
    assert (rising["computed_level"], silent["computed_level"]) == ("medium", "low")

    # questionnaire version 2 requires screen_hours; rule set version 2 scores it, a stranger weighing more
    later = QUESTIONNAIRE_YAML.replace(
        'question: "Daily screen time",', 'question: "Daily screen time", required: true,'
    )
    assert later != QUESTIONNAIRE_YAML
    assert (await client.post(questionnaires, content=later, headers=author)).status_code == 201
    assert (await client.post(f"{questionnaires}/2/publish", headers=publisher)).is_success
    v2 = (
        ruleset_yaml("later-check", stranger_points=3)
        .replace("version: 1}", "version: 2}")
        .replace('shared_images: "no"}', 'shared_images: "no", screen_hours: low}')
        .replace('shared_images: "yes"}', 'shared_images: "yes", screen_hours: low}')
    )
    assert (await client.post(rules, content=v2, headers=author)).status_code == 201

    impact = await client.post(f"{rules}/2/impact", headers=tenant.headers(R.rule_author))
    assert impact.status_code == 200, impact.text
    report = impact.json()
    assert report["questionnaire"] == {"key": "later-check", "version": 2}
    assert (report["assessed"], report["changed"]) == (1, 1)
    assert report["matrix"] == [{"from": "medium", "to": "high", "count": 1}]
    assert report["rises"] == [{"assessment_id": rising["id"], "from": "medium", "to": "high"}]
    assert report["unscorable"] == [{"assessment_id": silent["id"], "errors": ["screen_hours"]}]

    # answers of the later version are not re-scored by a version for the earlier one
    assert (await client.post(f"{rules}/2/publish", json={"make_current": True}, headers=publisher)).is_success
    newer = await assess(
        {"child_age_years": 15, "contact_stranger": "no", "shared_images": "no", "screen_hours": "low"}
    )
    assert (newer["questionnaire"]["version"], newer["ruleset"]["version"]) == (2, 2)
    earlier = (await client.post(f"{rules}/1/impact", headers=tenant.headers(R.rule_author))).json()
    assert (earlier["assessed"], earlier["unscorable"]) == (2, [])
    assert sorted((c["from"], c["to"], c["count"]) for c in earlier["matrix"]) == [
        ("low", "low", 1),
        ("medium", "medium", 1),
    ]
    latest = (await client.post(f"{rules}/2/impact", headers=tenant.headers(R.rule_author))).json()
    assert (latest["assessed"], len(latest["unscorable"])) == (2, 1)
