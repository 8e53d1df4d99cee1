from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from app.auth.permissions import Role
from tests.assessments.conftest import IMMEDIATE, LOW, MEDIUM, QUESTIONNAIRE, RULESET, answers, create, new_body
from tests.conftest import Tenant

PROBLEM = "application/problem+json"
RESULT_FIELDS = {
    "level",
    "level_label",
    "computed_level",
    "computed_level_label",
    "scores",
    "score_bands",
    "score_decimals",
    "notices",
    "triggers",
    "floors_applied",
    "reasons",
    "actions",
    "information_gaps",
    "protective_factors",
    "review_within_days",
    "disclaimer",
    "questionnaire",
    "ruleset",
    "engine_version",
}
ASSESSMENT_FIELDS = RESULT_FIELDS | {
    "id",
    "subject_ref",
    "created_at",
    "review_by",
    "acting_user",
    "client",
    "supersedes",
    "superseded_by",
    "overrides",
    "entered_in_error",
}


async def test_create_stores_and_returns_the_assessment(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/assessments", json=new_body("case-9", IMMEDIATE), headers=tenant.headers(Role.assessor)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ASSESSMENT_FIELDS
    assert response.headers["location"] == f"/v1/assessments/{body['id']}"
    assert body["level"] == body["computed_level"] == "immediate"
    assert body["subject_ref"] == "case-9"
    assert body["acting_user"] == "user-1"
    assert body["questionnaire"]["key"] == QUESTIONNAIRE["key"]
    assert body["ruleset"]["version"] == RULESET["version"]
    assert len(body["ruleset"]["content_hash"]) == 64
    assert body["overrides"] == []
    assert body["entered_in_error"] is None
    assert body["supersedes"] is None
    assert "trace" not in body
    assert "counterfactuals" not in body
    created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    if body["review_within_days"] is not None:
        review = datetime.fromisoformat(body["review_by"].replace("Z", "+00:00"))
        assert review - created == timedelta(days=body["review_within_days"])

    fetched = await client.get(response.headers["location"], headers=tenant.headers(Role.assessor))
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_default_ruleset_is_the_organisations_current_and_is_echoed(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = new_body()
    del body["ruleset"]
    body["questionnaire"] = {"key": "online-exposure"}
    response = await client.post("/v1/assessments", json=body, headers=tenant.headers(Role.assessor))
    assert response.status_code == 201, response.text
    # an organisation created after the shipped content was loaded, with no choice of its own: the latest version
    assert response.json()["ruleset"]["key"] == RULESET["key"]
    assert response.json()["ruleset"]["version"] == 2


async def test_invalid_answers_are_a_422_listing_every_item(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = new_body()
    body["answers"]["child_age_years"] = 99
    del body["answers"]["immediate_danger_now"]
    body["answers"]["no_such_item"] = "yes"
    response = await client.post("/v1/assessments", json=body, headers=tenant.headers(Role.assessor))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/answers/child_age_years", "/answers/immediate_danger_now", "/answers/no_such_item"} <= pointers
    listed = await client.get("/v1/assessments", headers=tenant.headers(Role.assessor))
    assert listed.json()["items"] == []


async def test_body_shape_errors_and_unknown_fields(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = new_body(child_age=12)
    response = await client.post("/v1/assessments", json=body, headers=tenant.headers(Role.assessor))
    assert response.status_code == 422
    assert any(e["pointer"] == "/child_age" for e in response.json()["errors"])
    unknown = new_body()
    unknown["ruleset"] = {"key": "no-such-ruleset", "version": 1}
    response = await client.post("/v1/assessments", json=unknown, headers=tenant.headers(Role.assessor))
    assert response.status_code == 404


async def test_roles_and_acting_user(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (
        await client.post("/v1/assessments", json=new_body(), headers=tenant.headers(Role.auditor))
    ).status_code == 403
    assert (
        await client.post("/v1/assessments", json=new_body(), headers=tenant.headers(Role.rule_author))
    ).status_code == 403
    missing = await client.post(
        "/v1/assessments", json=new_body(), headers=tenant.headers(Role.assessor, acting_user=None)
    )
    assert missing.status_code == 400
    assert (await client.get("/v1/assessments", headers=tenant.headers(Role.auditor))).status_code == 200
    assert (await client.get("/v1/assessments", headers=tenant.headers(Role.admin))).status_code == 403


async def test_another_organisations_assessment_is_a_404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await create(client, other_tenant)
    for path in ("", "/replay", "/report", "/revisions"):
        response = await client.get(f"/v1/assessments/{theirs['id']}{path}", headers=tenant.headers(Role.supervisor))
        assert response.status_code == 404, path
    response = await client.post(
        f"/v1/assessments/{theirs['id']}/override",
        json={"level": "high", "rationale": "x"},
        headers=tenant.headers(Role.supervisor),
    )
    assert response.status_code == 404
    listed = await client.get("/v1/assessments", headers=tenant.headers(Role.assessor))
    assert listed.json()["items"] == []


async def test_etag_and_if_none_match(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    first = await client.get(f"/v1/assessments/{created['id']}", headers=tenant.headers(Role.assessor))
    etag = first.headers["etag"]
    again = await client.get(
        f"/v1/assessments/{created['id']}", headers={**tenant.headers(Role.assessor), "If-None-Match": etag}
    )
    assert again.status_code == 304
    await client.post(
        f"/v1/assessments/{created['id']}/override",
        json={"level": "high", "rationale": "more concerns"},
        headers=tenant.headers(Role.supervisor),
    )
    changed = await client.get(
        f"/v1/assessments/{created['id']}", headers={**tenant.headers(Role.assessor), "If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


async def test_explain_trace_and_counterfactuals(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/assessments?explain=trace", json=new_body(which=MEDIUM), headers=tenant.headers(Role.assessor)
    )
    assert response.status_code == 201
    assert isinstance(response.json()["trace"], list)
    assert response.json()["trace"]
    assert "counterfactuals" not in response.json()
    got = await client.get(
        f"{response.headers['location']}?explain=trace,counterfactuals", headers=tenant.headers(Role.assessor)
    )
    assert got.json()["trace"] == response.json()["trace"]
    assert isinstance(got.json()["counterfactuals"], list)
    bad = await client.get(f"{response.headers['location']}?explain=everything", headers=tenant.headers(Role.assessor))
    assert bad.status_code == 422


async def test_list_filters_and_cursor_pagination(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ids = [
        (await create(client, tenant, subject_ref=f"case-{i % 2}", which=LOW if i < 5 else IMMEDIATE))["id"]
        for i in range(7)
    ]
    headers = tenant.headers(Role.assessor)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/assessments", params=params, headers=headers)).json()
        seen += [item["id"] for item in page["items"]]
        # an insert between pages does not disturb the walk (it lands before the first page)
        if len(seen) == 3:
            await create(client, tenant, subject_ref="late")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    by_subject = (await client.get("/v1/assessments", params={"subject_ref": "case-1"}, headers=headers)).json()
    assert [i["id"] for i in by_subject["items"]] == [ids[5], ids[3], ids[1]]
    by_level = (await client.get("/v1/assessments", params={"level": "immediate"}, headers=headers)).json()
    assert {i["id"] for i in by_level["items"]} == set(ids[5:])
    by_version = (await client.get("/v1/assessments", params={"ruleset_version": 2}, headers=headers)).json()
    assert by_version["items"] == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    by_date = (await client.get("/v1/assessments", params={"created_from": future}, headers=headers)).json()
    assert by_date["items"] == []
    by_date = (await client.get("/v1/assessments", params={"created_to": future, "limit": 200}, headers=headers)).json()
    assert len(by_date["items"]) == 8
    bad = await client.get("/v1/assessments", params={"cursor": "nonsense!"}, headers=headers)
    assert bad.status_code == 422
    too_many = await client.get("/v1/assessments", params={"limit": 201}, headers=headers)
    assert too_many.status_code == 422


async def test_revisions_supersede_and_only_the_latest_can_be_amended(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await create(client, tenant, subject_ref="case-r")
    await client.post(
        f"/v1/assessments/{first['id']}/override",
        json={"level": "high", "rationale": "judgement"},
        headers=tenant.headers(Role.supervisor),
    )
    amended = await client.post(
        f"/v1/assessments/{first['id']}/revisions",
        json={"answers": answers(IMMEDIATE)},
        headers=tenant.headers(Role.assessor),
    )
    assert amended.status_code == 201, amended.text
    second = amended.json()
    assert second["supersedes"] == first["id"]
    assert second["subject_ref"] == "case-r"
    assert second["overrides"] == []  # overrides do not carry over
    assert second["level"] == "immediate"
    assert second["ruleset"] == first["ruleset"]
    assert second["questionnaire"] == first["questionnaire"]

    again = await client.post(
        f"/v1/assessments/{first['id']}/revisions",
        json={"answers": answers(LOW)},
        headers=tenant.headers(Role.assessor),
    )
    assert again.status_code == 409
    old = (await client.get(f"/v1/assessments/{first['id']}", headers=tenant.headers(Role.assessor))).json()
    assert old["superseded_by"] == second["id"]
    assert old["overrides"][0]["level"] == "high"

    chain = await client.get(f"/v1/assessments/{first['id']}/revisions", headers=tenant.headers(Role.assessor))
    assert [i["id"] for i in chain.json()["items"]] == [first["id"], second["id"]]

    listed = (await client.get("/v1/assessments", headers=tenant.headers(Role.assessor))).json()
    assert [i["id"] for i in listed["items"]] == [second["id"]]
    everything = (
        await client.get("/v1/assessments", params={"include_superseded": True}, headers=tenant.headers(Role.assessor))
    ).json()
    assert {i["id"] for i in everything["items"]} == {first["id"], second["id"]}

    wrong_key = await client.post(
        f"/v1/assessments/{second['id']}/revisions",
        json={"answers": answers(LOW), "questionnaire": {"key": "other", "version": 1}},
        headers=tenant.headers(Role.assessor),
    )
    assert wrong_key.status_code == 422
    assert wrong_key.json()["errors"][0]["pointer"] == "/questionnaire/key"


async def test_override_policy_raise_only_and_latest_wins(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, which=MEDIUM)
    url = f"/v1/assessments/{created['id']}/override"
    supervisor = tenant.headers(Role.supervisor, acting_user="lead-7")
    lower = await client.post(url, json={"level": "low", "rationale": "seems fine"}, headers=supervisor)
    assert lower.status_code == 422
    assert "raising" in lower.json()["detail"]
    assert lower.json()["errors"][0]["pointer"] == "/level"
    unknown = await client.post(url, json={"level": "extreme", "rationale": "x"}, headers=supervisor)
    assert unknown.status_code == 422
    no_rationale = await client.post(url, json={"level": "high"}, headers=supervisor)
    assert no_rationale.status_code == 422
    assessor = await client.post(url, json={"level": "high", "rationale": "x"}, headers=tenant.headers(Role.assessor))
    assert assessor.status_code == 403

    raised = await client.post(url, json={"level": "immediate", "rationale": "new disclosure"}, headers=supervisor)
    assert raised.status_code == 201
    assert raised.json()["level"] == "immediate"
    assert raised.json()["computed_level"] == "medium"
    back = await client.post(url, json={"level": "high", "rationale": "clarified"}, headers=supervisor)
    body = back.json()
    assert body["level"] == "high"
    assert [(o["level"], o["previous_level"], o["acting_user"]) for o in body["overrides"]] == [
        ("immediate", "medium", "lead-7"),
        ("high", "immediate", "lead-7"),
    ]
    by_level = await client.get("/v1/assessments", params={"level": "high"}, headers=tenant.headers(Role.assessor))
    assert [i["id"] for i in by_level.json()["items"]] == [created["id"]]
    by_medium = await client.get("/v1/assessments", params={"level": "medium"}, headers=tenant.headers(Role.assessor))
    assert by_medium.json()["items"] == []


async def test_entered_in_error_hides_from_lists_without_deleting(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant)
    url = f"/v1/assessments/{created['id']}/entered-in-error"
    assert (
        await client.post(url, json={"reason": "wrong case"}, headers=tenant.headers(Role.assessor))
    ).status_code == 403
    marked = await client.post(url, json={"reason": "wrong case"}, headers=tenant.headers(Role.supervisor))
    assert marked.status_code == 201
    assert marked.json()["entered_in_error"]["reason"] == "wrong case"
    assert (
        await client.post(url, json={"reason": "again"}, headers=tenant.headers(Role.supervisor))
    ).status_code == 409
    headers = tenant.headers(Role.assessor)
    assert (await client.get("/v1/assessments", headers=headers)).json()["items"] == []
    shown = await client.get("/v1/assessments", params={"include_entered_in_error": True}, headers=headers)
    assert [i["id"] for i in shown.json()["items"]] == [created["id"]]
    still = await client.get(f"/v1/assessments/{created['id']}", headers=headers)
    assert still.status_code == 200
    assert still.json()["entered_in_error"] is not None


async def test_rescore_is_a_dry_run(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, which=MEDIUM)
    response = await client.post(
        f"/v1/assessments/{created['id']}/rescore", params={"ruleset_version": 1}, headers=tenant.headers(Role.assessor)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changed"] is False
    assert set(body["stored"]) == RESULT_FIELDS
    assert set(body["rescored"]) == RESULT_FIELDS
    assert body["stored"] == body["rescored"]
    missing = await client.post(
        f"/v1/assessments/{created['id']}/rescore",
        params={"ruleset_version": 99},
        headers=tenant.headers(Role.assessor),
    )
    assert missing.status_code == 404
    listed = await client.get("/v1/assessments", headers=tenant.headers(Role.assessor))
    assert len(listed.json()["items"]) == 1


async def test_replay_confirms_the_stored_result(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    await client.post(
        f"/v1/assessments/{created['id']}/override",
        json={"level": "immediate", "rationale": "agree"},
        headers=tenant.headers(Role.supervisor),
    )
    response = await client.get(f"/v1/assessments/{created['id']}/replay", headers=tenant.headers(Role.auditor))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["identical"] is True
    assert body["differences"] == []
    assert body["replayed"]["level"] == body["replayed"]["computed_level"] == "immediate"
    assert set(body["replayed"]) == RESULT_FIELDS


async def test_report_is_printable_html_without_external_assets(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    await client.post(
        f"/v1/assessments/{created['id']}/override",
        json={"level": "immediate", "rationale": "Police <b>informed</b>"},
        headers=tenant.headers(Role.supervisor),
    )
    response = await client.get(f"/v1/assessments/{created['id']}/report", headers=tenant.headers(Role.assessor))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "@media print" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html
    assert "<script" not in html
    assert '<span class="level">Immediate</span>' in html  # the level by its label
    assert created["ruleset"]["key"] in html
    assert "Police &lt;b&gt;informed&lt;/b&gt;" in html
    assert created["disclaimer"][:40] in html
