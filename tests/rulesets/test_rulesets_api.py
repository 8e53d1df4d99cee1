from __future__ import annotations

import httpx
import yaml
from fastapi import FastAPI
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.permissions import Role
from tests.conftest import Tenant
from tests.rulesets.factories import PROBLEM, QUESTIONNAIRE_YAML, YAML, ruleset_yaml

SYSTEM_RULES = "/v1/rulesets/online-harm-england/versions/1"
R = Role


async def publish_questionnaire(client: httpx.AsyncClient, tenant: Tenant, key: str) -> None:
    created = await client.post(
        f"/v1/questionnaires/{key}/versions",
        content=QUESTIONNAIRE_YAML,
        headers={**tenant.headers(R.rule_author), **YAML},
    )
    assert created.status_code == 201, created.text
    published = await client.post(
        f"/v1/questionnaires/{key}/versions/1/publish", headers=tenant.headers(R.rule_publisher)
    )
    assert published.status_code == 200, published.text


async def draft_ruleset(client: httpx.AsyncClient, tenant: Tenant, key: str, text: str) -> httpx.Response:
    return await client.post(
        f"/v1/rulesets/{key}/versions", content=text, headers={**tenant.headers(R.rule_author), **YAML}
    )


def actions(app: FastAPI, organisation_id: str) -> list[str]:
    """Audited content actions, in order (the tenant fixture's own key issuing is audited too: left out here)."""
    with app.state.sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.organisation_id == organisation_id, AuditEvent.action.not_like("client.%"))
                .order_by(AuditEvent.sequence)
            )
        )


async def test_shipped_rule_set_is_readable_by_every_role(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    listed = await client.get("/v1/rulesets?status=published", headers=tenant.headers(R.assessor))
    assert listed.status_code == 200
    assert [(i["key"], i["version"], i["owner"]) for i in listed.json()["items"]] == [
        ("online-harm-england", 1, "system"),
        ("online-harm-england", 2, "system"),
    ]
    got = await client.get(SYSTEM_RULES, headers=tenant.headers(R.auditor))
    assert got.status_code == 200
    assert got.json()["questionnaire"] == {"key": "online-exposure", "version": 1}
    assert got.headers["etag"].startswith('"')
    as_yaml = await client.get(SYSTEM_RULES, headers={**tenant.headers(R.assessor), "Accept": "application/yaml"})
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text)["key"] == "online-harm-england"


async def test_evaluate_is_a_dry_run_with_pointers_for_bad_answers(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    fixtures = (await client.get(f"{SYSTEM_RULES}/fixtures", headers=tenant.headers(R.assessor))).json()
    case = fixtures["items"][0]
    evaluated = await client.post(
        f"{SYSTEM_RULES}/evaluate?explain=trace", json={"answers": case["answers"]}, headers=tenant.headers(R.auditor)
    )
    assert evaluated.status_code == 200, evaluated.text
    body = evaluated.json()
    assert body["level"] == body["computed_level"] == case["expect"]["level"]
    assert body["ruleset"]["content_hash"] == fixtures["ruleset"]["content_hash"]
    assert "trace" in body
    assert "counterfactuals" not in body
    bad = await client.post(
        f"{SYSTEM_RULES}/evaluate", json={"answers": {"child_age_years": 99}}, headers=tenant.headers(R.assessor)
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == PROBLEM
    assert "/answers/child_age_years" in {e["pointer"] for e in bad.json()["errors"]}
    unknown = await client.post(
        f"{SYSTEM_RULES}/evaluate?explain=magic", json={"answers": {}}, headers=tenant.headers(R.assessor)
    )
    assert unknown.status_code == 422
    assert actions(seeded, tenant.organisation_id) == []  # a dry run writes nothing


async def test_keys_are_global_and_other_organisations_drafts_are_invisible(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, seeded: FastAPI
) -> None:
    text = ruleset_yaml("online-exposure")
    system_key = await draft_ruleset(client, tenant, "online-harm-england", text)
    assert system_key.status_code == 409
    assert system_key.headers["content-type"] == PROBLEM
    mine = await draft_ruleset(client, tenant, "our-rules", text)
    assert mine.status_code == 201, mine.text
    assert mine.json()["version"] == 1
    assert mine.json()["status"] == "draft"
    assert mine.headers["location"] == "/v1/rulesets/our-rules/versions/1"
    theirs = await draft_ruleset(client, other_tenant, "our-rules", text)
    assert theirs.status_code == 409
    hidden = await client.get("/v1/rulesets/our-rules/versions/1", headers=other_tenant.headers(R.assessor))
    assert hidden.status_code == 404
    listed = await client.get("/v1/rulesets", headers=other_tenant.headers(R.assessor))
    assert "our-rules" not in {i["key"] for i in listed.json()["items"]}
    second = await draft_ruleset(client, tenant, "our-rules", text)
    assert second.json()["version"] == 2


async def test_roles_are_enforced(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    text = ruleset_yaml("online-exposure")
    assert (await draft_ruleset(client, tenant, "x-rules", text)).status_code == 201
    as_assessor = await client.post(
        "/v1/rulesets/x-rules/versions", content=text, headers={**tenant.headers(R.assessor), **YAML}
    )
    assert as_assessor.status_code == 403
    author_publishes = await client.post(
        "/v1/rulesets/x-rules/versions/1/publish", headers=tenant.headers(R.rule_author)
    )
    assert author_publishes.status_code == 403
    impact_without_user = await client.post(
        "/v1/rulesets/x-rules/versions/1/impact", headers=tenant.headers(R.rule_author, acting_user=None)
    )
    assert impact_without_user.status_code == 400


async def test_replace_needs_a_fresh_etag_and_published_versions_are_immutable(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    await publish_questionnaire(client, tenant, "school-check")
    created = await draft_ruleset(client, tenant, "school-rules", ruleset_yaml("school-check", stranger_points=1))
    url = "/v1/rulesets/school-rules/versions/1"
    author = {**tenant.headers(R.rule_author), **YAML}
    fixed = ruleset_yaml("school-check")
    missing = await client.put(url, content=fixed, headers=author)
    assert missing.status_code == 412
    stale = await client.put(url, content=fixed, headers={**author, "If-Match": '"stale"'})
    assert stale.status_code == 412
    replaced = await client.put(url, content=fixed, headers={**author, "If-Match": created.headers["etag"]})
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] != created.headers["etag"]
    again = await client.put(url, content=fixed, headers={**author, "If-Match": created.headers["etag"]})
    assert again.status_code == 412
    published = await client.post(f"{url}/publish", headers=tenant.headers(R.rule_publisher))
    assert published.status_code == 200, published.text
    assert published.json()["published_by"] == "user-1"
    changed = await client.put(url, content=fixed, headers={**author, "If-Match": published.headers["etag"]})
    assert changed.status_code == 409
    assert changed.headers["content-type"] == PROBLEM
    republish = await client.post(f"{url}/publish", headers=tenant.headers(R.rule_publisher))
    assert republish.status_code == 409
    system = await client.post(f"{SYSTEM_RULES}/retire", headers=tenant.headers(R.rule_publisher))
    assert system.status_code == 409


async def test_validate_reports_every_error_with_its_pointer(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    await publish_questionnaire(client, tenant, "school-check")
    broken = ruleset_yaml("school-check").replace("q: contact_stranger", "q: contact_strangr")
    report = await client.post(
        "/v1/rulesets/validate", content=broken, headers={**tenant.headers(R.rule_author), **YAML}
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["valid"] is False
    assert body["tests"] is None
    assert any(e["pointer"].startswith("/scores/0/terms/0/when") for e in body["errors"]), body
    shape = await client.post(
        "/v1/rulesets/validate", json={"key": "x", "levels": "low"}, headers=tenant.headers(R.rule_author)
    )
    assert {e["pointer"] for e in shape.json()["errors"]} >= {"/levels", "/key"}
    bad_yaml = await client.post(
        "/v1/rulesets/validate", content="key: [unclosed", headers={**tenant.headers(R.rule_author), **YAML}
    )
    assert bad_yaml.status_code == 400
    assert bad_yaml.headers["content-type"] == PROBLEM


async def test_publish_gate_lists_what_failed(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    author = {**tenant.headers(R.rule_author), **YAML}
    await client.post("/v1/questionnaires/gate-check/versions", content=QUESTIONNAIRE_YAML, headers=author)
    failing = ruleset_yaml("gate-check", expected_stranger_level="high")
    assert (await draft_ruleset(client, tenant, "gate-rules", failing)).status_code == 201
    refused = await client.post("/v1/rulesets/gate-rules/versions/1/publish", headers=tenant.headers(R.rule_publisher))
    assert refused.status_code == 422
    pointers = {e["pointer"] for e in refused.json()["errors"]}
    assert pointers == {"/questionnaire/version", "/tests/1"}
    still_draft = await client.get("/v1/rulesets/gate-rules/versions/1", headers=tenant.headers(R.assessor))
    assert still_draft.json()["status"] == "draft"


async def test_current_rulesets_adopt_roll_back_and_protect_retirement(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    publisher = tenant.headers(R.rule_publisher)
    default = await client.get("/v1/organisation/current-rulesets", headers=tenant.headers(R.assessor))
    assert default.json()["items"] == [
        {
            "questionnaire_key": "online-exposure",
            "ruleset": {"key": "online-harm-england", "version": 2},
            "source": "default",
            "updated_at": None,
            "updated_by": None,
        }
    ]
    text = ruleset_yaml("online-exposure").replace("q: contact_stranger", "q: contact_unknown_person_online")
    text = text.replace("q: shared_images", "q: image_involves_sexual_acts").replace("q: screen_hours", "q: x")
    for version in (1, 2):
        assert (await draft_ruleset(client, tenant, "own-rules", ruleset_yaml("school-check"))).status_code == 201
        assert version
    await publish_questionnaire(client, tenant, "school-check")
    for version in (1, 2):
        body = {"make_current": version == 2}
        published = await client.post(
            f"/v1/rulesets/own-rules/versions/{version}/publish", json=body, headers=publisher
        )
        assert published.status_code == 200, published.text
    current = (await client.get("/v1/organisation/current-rulesets", headers=publisher)).json()["items"]
    mine = next(i for i in current if i["questionnaire_key"] == "school-check")
    assert mine["ruleset"] == {"key": "own-rules", "version": 2}
    assert mine["source"] == "organisation"
    refused = await client.post("/v1/rulesets/own-rules/versions/2/retire", headers=publisher)
    assert refused.status_code == 409
    rolled_back = await client.put(
        "/v1/organisation/current-rulesets", json={"ruleset": {"key": "own-rules", "version": 1}}, headers=publisher
    )
    assert rolled_back.status_code == 200
    assert rolled_back.json()["ruleset"]["version"] == 1
    retired = await client.post("/v1/rulesets/own-rules/versions/2/retire", headers=publisher)
    assert retired.status_code == 200
    assert retired.json()["status"] == "retired"
    not_published = await client.put(
        "/v1/organisation/current-rulesets", json={"ruleset": {"key": "own-rules", "version": 2}}, headers=publisher
    )
    assert not_published.status_code == 422
    assert not_published.json()["errors"][0]["pointer"] == "/ruleset/version"
    as_author = await client.put(
        "/v1/organisation/current-rulesets",
        json={"ruleset": {"key": "own-rules", "version": 1}},
        headers=tenant.headers(R.rule_author),
    )
    assert as_author.status_code == 403
    assert actions(seeded, tenant.organisation_id).count("ruleset.current_set") == 2


async def test_schema_fixtures_and_diff(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    schema = await client.get("/v1/rulesets/schema", headers=tenant.headers(R.assessor))
    assert schema.status_code == 200
    assert "questionnaire" in schema.json()["properties"]
    q_schema = await client.get("/v1/questionnaires/schema", headers=tenant.headers(R.assessor))
    assert "items" in q_schema.json()["properties"]
    fixtures = await client.get(f"{SYSTEM_RULES}/fixtures", headers=tenant.headers(R.assessor))
    assert len(fixtures.json()["items"]) > 10
    assert all("answers" in f and "level" in f["expect"] for f in fixtures.json()["items"])

    await draft_ruleset(client, tenant, "diff-rules", ruleset_yaml("school-check"))
    changed = ruleset_yaml("school-check", stranger_points=3).replace("urgency: within_week", "urgency: same_day")
    await draft_ruleset(client, tenant, "diff-rules", changed)
    diff = await client.get("/v1/rulesets/diff-rules/diff?from=1&to=2", headers=tenant.headers(R.rule_author))
    assert diff.status_code == 200, diff.text
    body = diff.json()
    kinds = {(c["kind"], c["id"], c["change"]) for c in body["changes"]}
    assert ("weight", "total/stranger", "changed") in kinds
    assert ("action", "talk", "changed") in kinds
    assert any("from 2 to 3" in line for line in body["summary"])
    missing = await client.get("/v1/rulesets/diff-rules/diff?from=1&to=9", headers=tenant.headers(R.rule_author))
    assert missing.status_code == 404


async def test_every_mutation_is_audited(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    await publish_questionnaire(client, tenant, "audited-check")
    created = await draft_ruleset(client, tenant, "audited-rules", ruleset_yaml("audited-check"))
    await client.put(
        "/v1/rulesets/audited-rules/versions/1",
        content=ruleset_yaml("audited-check"),
        headers={**tenant.headers(R.rule_author), **YAML, "If-Match": created.headers["etag"]},
    )
    publisher = tenant.headers(R.rule_publisher)
    await client.post("/v1/rulesets/audited-rules/versions/1/publish", headers=publisher)
    await client.post("/v1/rulesets/audited-rules/versions/1/retire", headers=publisher)
    assert actions(seeded, tenant.organisation_id) == [
        "questionnaire.draft_created",
        "questionnaire.published",
        "ruleset.draft_created",
        "ruleset.draft_replaced",
        "ruleset.published",
        "ruleset.retired",
    ]


async def test_impact_window_must_be_aware_and_ordered(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    await draft_ruleset(client, tenant, "window-rules", ruleset_yaml("online-exposure"))
    url = "/v1/rulesets/window-rules/versions/1/impact"
    headers = tenant.headers(R.rule_author)
    naive = await client.post(url, json={"since": "2026-01-01T00:00:00"}, headers=headers)
    assert naive.status_code == 422
    backwards = await client.post(
        url, json={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, headers=headers
    )
    assert backwards.status_code == 422
    too_many = await client.post(url, json={"limit": 10_001}, headers=headers)
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["pointer"] == "/limit"
