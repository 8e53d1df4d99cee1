"""The subscriptions API: creating, reading, changing and rotating webhook endpoints, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select, text

from app.auth.permissions import Role
from app.core.config import Environment, Settings
from app.main import create_app
from app.verifiable_log.keys import new_signer_key
from app.webhooks import secrets
from app.webhooks.models import WebhookEndpoint
from tests.conftest import Tenant, make_tenant
from tests.webhooks.conftest import HOOKS, RECEIVER, admin, audit_events, store_event, subscribe

ADMIN_ONLY = (Role.admin,)

ENDPOINT_FIELDS = {
    "id",
    "url",
    "event_types",
    "min_levels",
    "enabled",
    "disabled_reason",
    "consecutive_failures",
    "previous_secret_expires_at",
    "created_at",
    "updated_at",
}


def stored(app: FastAPI, endpoint_id: str) -> WebhookEndpoint:
    with app.state.sessionmaker() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        return endpoint


def _invalid(response: httpx.Response, pointer: str, contains: str = "") -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    details = {e["pointer"]: e["detail"] for e in body["errors"]}
    assert pointer in details, body
    assert contains in details[pointer], details[pointer]
    return details[pointer]


@pytest.mark.usefixtures("seeded")
async def test_create_shows_the_secret_once_and_stores_it_only_encrypted(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        HOOKS,
        json={
            "url": RECEIVER,
            "event_types": ["assessment.created", "assessment.overridden"],
            "min_levels": [{"ruleset_key": "online-harm-england", "level": "high"}],
        },
        headers=admin(tenant),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"{HOOKS}/{created['id']}"
    assert set(created) == ENDPOINT_FIELDS | {"secret"}
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True
    assert created["disabled_reason"] is None
    assert created["consecutive_failures"] == 0
    assert created["min_levels"] == [{"ruleset_key": "online-harm-england", "level": "high"}]
    assert created["event_types"] == ["assessment.created", "assessment.overridden"]

    read = await client.get(response.headers["Location"], headers=admin(tenant))
    assert read.status_code == 200
    assert set(read.json()) == ENDPOINT_FIELDS
    assert created["secret"] not in read.text
    listed = await client.get(HOOKS, headers=admin(tenant))
    assert created["secret"] not in listed.text
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]

    row = stored(app, created["id"])
    assert created["secret"] not in row.secret_ciphertext
    assert created["secret"].removeprefix("whsec_") not in row.secret_ciphertext
    assert secrets.decrypt(row.secret_ciphertext, endpoint_id=row.id, settings=app.state.settings) == created["secret"]
    with app.state.engine.connect() as connection:  # the column as the database holds it
        raw = connection.execute(
            text("SELECT secret_ciphertext FROM webhook_endpoints WHERE id = :id"), {"id": created["id"]}
        ).scalar_one()
    assert "whsec_" not in raw
    assert created["secret"].removeprefix("whsec_") not in raw


async def test_every_operation_is_audited_without_the_url_or_a_secret(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await subscribe(client, tenant)
    hook = f"{HOOKS}/{created['id']}"
    await client.get(HOOKS, headers=admin(tenant))
    await client.get(hook, headers=admin(tenant))
    await client.patch(hook, json={"enabled": False}, headers=admin(tenant))
    rotated = (await client.post(f"{hook}/rotate-secret", headers=admin(tenant))).json()
    attempts = await client.get(f"{hook}/attempts", headers=admin(tenant))
    assert attempts.status_code == 200, attempts.text

    events = audit_events(app, tenant.organisation_id)
    assert [e.action for e in events] == [
        "webhook.create",
        "webhook.list",
        "webhook.read",
        "webhook.update",
        "webhook.rotate_secret",
        "webhook.list_attempts",
    ]
    assert all(e.resource_type == "webhook_endpoint" for e in events)
    assert [e.resource_id for e in events if e.action != "webhook.list"] == [created["id"]] * 5
    assert all(e.acting_user == "user-1" and e.client_id for e in events)
    assert events[0].status == 201
    assert events[0].details == {"event_types": ["assessment.created"], "min_levels": []}
    assert events[3].details is not None
    assert events[3].details["changed"] == ["enabled"]
    with app.state.engine.connect() as connection:
        everything = " ".join(str(row) for row in connection.execute(text("SELECT * FROM audit_events")).all())
    for never in ("cms.example.org", "s3cr3t-in-the-url", created["secret"], rotated["secret"], "whsec_"):
        assert never not in everything


async def test_managing_webhooks_needs_admin_and_assessment_events_need_read_assessments(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = {"url": RECEIVER, "event_types": ["ruleset.published"]}
    for role in (Role.assessor, Role.supervisor, Role.auditor, Role.rule_publisher):
        refused = await client.post(HOOKS, json=body, headers=tenant.headers(role))
        assert refused.status_code == 403, refused.text
        assert "operation 'manage_webhooks'" in refused.json()["detail"]
        assert (await client.get(HOOKS, headers=tenant.headers(role))).status_code == 403

    admin_only = tenant.headers(Role.admin)
    assert (await client.post(HOOKS, json=body, headers=admin_only)).status_code == 201
    for types in (["assessment.created"], ["ruleset.published", "assessment.review_due"]):
        refused = await client.post(HOOKS, json={**body, "event_types": types}, headers=admin_only)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "/problems/forbidden"
        assert "read_assessments" in refused.json()["detail"]
        assert "assessment.* events" in refused.json()["detail"]
    allowed = await client.post(HOOKS, json={**body, "event_types": ["assessment.created"]}, headers=admin(tenant))
    assert allowed.status_code == 201, allowed.text

    # an admin who may not read assessments may stop assessment events, never start or redirect them
    hook = f"{HOOKS}/{allowed.json()['id']}"
    assert (await client.patch(hook, json={"enabled": False}, headers=admin_only)).status_code == 200
    for change in ({"enabled": True}, {"url": "https://elsewhere.example.net/hook"}, {"min_levels": []}):
        refused = await client.patch(hook, json=change, headers=admin_only)
        assert refused.status_code == 403, (change, refused.text)
    switched = await client.patch(hook, json={"event_types": ["ruleset.published"]}, headers=admin_only)
    assert switched.status_code == 200, switched.text


REFUSED_URLS = [
    ("ftp://cms.example.org/hook", "absolute http"),
    ("/relative/hook", "absolute http"),
    ("cms.example.org/hook", "absolute http"),
    ("https://user:pass@cms.example.org/hook", "user information"),  # pragma: allowlist secret
    ("https://token@cms.example.org/hook", "user information"),
    ("https://cms.example.org/hook#part", "fragment"),
    ("https://cms.example.org/hook#", "fragment"),
    ("https://cms.example.org/a hook", "ASCII"),
    ("https://cms.example.org/\u00e9", "ASCII"),
    ("https://cms.example.org:99999/hook", "port"),
    ("https://10.1.2.3/hook", "a private address"),
    ("https://192.168.0.10/hook", "a private address"),
    ("https://100.64.0.1/hook", "carrier-grade NAT"),
    ("http://169.254.169.254/latest/meta-data", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://169.254.10.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fd12:3456::1]/", "unique-local"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("http://[::ffff:8.8.8.8]/", "IPv4-mapped"),
    ("http://[2002:a00:1::]/", "carries a private address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "carries a cloud metadata address"),
    ("http://0.0.0.0:8080/", "unspecified"),
    ("http://0xa000001/", "a private address"),  # 10.0.0.1, as the system resolver reads it
    ("http://167772161/", "a private address"),
    ("http://224.0.0.1/", "multicast"),
    ("https://240.0.0.1/", "a reserved address"),
]


async def test_a_url_is_refused_naming_why(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for url, contains in REFUSED_URLS:
        body = {"url": url, "event_types": ["ruleset.published"]}
        response = await client.post(HOOKS, json=body, headers=admin(tenant))
        _invalid(response, "/url", contains)
        assert url not in response.text  # a URL may carry a token: the problem does not echo it
    assert (await client.get(HOOKS, headers=admin(tenant))).json()["items"] == []


async def test_a_url_longer_than_2048_characters_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    base = "https://cms.example.org/"
    body = {"event_types": ["ruleset.published"]}
    longest = await client.post(HOOKS, json={**body, "url": base + "a" * (2048 - len(base))}, headers=admin(tenant))
    assert longest.status_code == 201, longest.text
    too_long = await client.post(HOOKS, json={**body, "url": base + "a" * (2049 - len(base))}, headers=admin(tenant))
    _invalid(too_long, "/url", "2048")


async def test_outside_production_http_and_loopback_are_allowed(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for url in ("http://127.0.0.1:9000/hook", "http://[::1]:9000/hook", "http://localhost:9000/hook", "http://127.1/"):
        response = await client.post(
            HOOKS, json={"url": url, "event_types": ["ruleset.published"]}, headers=admin(tenant)
        )
        assert response.status_code == 201, (url, response.text)


@pytest.fixture
def production_app(tmp_path: Path, sqlite_template: Path) -> FastAPI:
    database = tmp_path / "production.db"
    database.write_bytes(sqlite_template.read_bytes())
    settings = Settings(
        environment=Environment.production,
        database_url=f"sqlite:///{database}",
        secret_key="a-production-secret-of-enough-length-0123456789",  # type: ignore[arg-type]
        public_base_url="https://riskapi.example.org",
        rate_limit_per_minute=0,
        auth_failures_per_minute=0,
        webhook_outbound_allowlist=["10.20.0.0/16", "hooks.internal.example"],
        log_signing_key=SecretStr(new_signer_key("riskapi-test-log")),
        log_level="WARNING",
    )
    return create_app(settings)


async def test_production_takes_https_only_and_refuses_loopback_unless_allowlisted(production_app: FastAPI) -> None:
    tenant = make_tenant(production_app, ADMIN_ONLY)
    transport = httpx.ASGITransport(app=production_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def post(url: str) -> httpx.Response:
            body = {"url": url, "event_types": ["ruleset.published"]}
            return await client.post(HOOKS, json=body, headers=tenant.headers(Role.admin))

        _invalid(await post("http://cms.example.org/hook"), "/url", "https")
        _invalid(await post("https://127.0.0.1/hook"), "/url", "a loopback address")
        _invalid(await post("https://[::1]/hook"), "/url", "a loopback address")
        _invalid(await post("https://10.21.0.1/hook"), "/url", "a private address")
        _invalid(await post("https://localhost/hook"), "/url", "always a loopback address")
        _invalid(await post("https://api.LOCALHOST./hook"), "/url", "always a loopback address")
        for url in ("https://10.20.3.4/hook", "https://hooks.internal.example/x", "https://cms.example.org/hook"):
            assert (await post(url)).status_code == 201, url
    production_app.state.engine.dispose()


async def test_event_types_must_be_known_distinct_and_at_least_one(client: httpx.AsyncClient, tenant: Tenant) -> None:
    async def post(event_types: object) -> httpx.Response:
        return await client.post(HOOKS, json={"url": RECEIVER, "event_types": event_types}, headers=admin(tenant))

    _invalid(await post([]), "/event_types")
    _invalid(await post(["assessment.created", "assessment.deleted"]), "/event_types/1")
    _invalid(
        await post(["assessment.created", "ruleset.published", "assessment.created"]),
        "/event_types/2",
        "more than once",
    )
    _invalid(await post("assessment.created"), "/event_types")
    missing = await client.post(HOOKS, json={"url": RECEIVER}, headers=admin(tenant))
    _invalid(missing, "/event_types")
    extra = await client.post(
        HOOKS, json={"url": RECEIVER, "event_types": ["ruleset.published"], "secret": "x"}, headers=admin(tenant)
    )
    _invalid(extra, "/secret")


@pytest.mark.usefixtures("seeded")
async def test_min_levels_name_a_usable_rule_set_once_and_one_of_its_levels(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    async def post(min_levels: object) -> httpx.Response:
        body = {"url": RECEIVER, "event_types": ["assessment.created"], "min_levels": min_levels}
        return await client.post(HOOKS, json=body, headers=admin(tenant))

    unknown = await post(
        [{"ruleset_key": "online-harm-england", "level": "high"}, {"ruleset_key": "nope", "level": "x"}]
    )
    _invalid(unknown, "/min_levels/1/ruleset_key", "'nope' is not a published or retired rule set")
    wrong_case = await post([{"ruleset_key": "online-harm-england", "level": "HIGH"}])
    detail = _invalid(wrong_case, "/min_levels/0/level", "'HIGH' is not a level of rule set 'online-harm-england'")
    assert detail.endswith("valid levels: low, medium, high, immediate")
    twice = await post(
        [
            {"ruleset_key": "online-harm-england", "level": "high"},
            {"ruleset_key": "online-harm-england", "level": "low"},
        ]
    )
    _invalid(twice, "/min_levels/1/ruleset_key", "already listed")
    _invalid(await post([{"ruleset_key": "online-harm-england"}]), "/min_levels/0/level")
    _invalid(await post([{"ruleset_key": "online-harm-england", "level": 3}]), "/min_levels/0/level")
    several = await client.post(
        HOOKS,
        json={
            "url": "ftp://x",
            "event_types": ["ruleset.published"],
            "min_levels": [{"ruleset_key": "no", "level": "x"}],
        },
        headers=admin(tenant),
    )
    assert {e["pointer"] for e in several.json()["errors"]} == {"/url", "/min_levels/0/ruleset_key"}


async def test_the_list_is_paginated_oldest_first(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    ids = [(await subscribe(client, tenant, event_types=["ruleset.published"]))["id"] for _ in range(3)]
    await subscribe(client, other_tenant)
    first = await client.get(HOOKS, params={"limit": 2}, headers=admin(tenant))
    assert first.status_code == 200
    page = first.json()
    assert [item["id"] for item in page["items"]] == ids[:2]
    assert page["next_cursor"]
    second = (await client.get(HOOKS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin(tenant))).json()
    assert [item["id"] for item in second["items"]] == ids[2:]
    assert second["next_cursor"] is None
    refused = await client.get(HOOKS, params={"cursor": "not-a-cursor"}, headers=admin(tenant))
    _invalid(refused, "/cursor")


@pytest.mark.usefixtures("seeded")
async def test_patch_disables_enables_and_changes_as_a_merge_patch(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await subscribe(client, tenant, min_levels=[{"ruleset_key": "online-harm-england", "level": "high"}])
    hook = f"{HOOKS}/{created['id']}"

    disabled = await client.patch(hook, json={"enabled": False}, headers=admin(tenant))
    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["enabled"], disabled.json()["disabled_reason"]) == (False, "manual")
    assert disabled.json()["min_levels"] == created["min_levels"]  # left out: kept
    assert disabled.json()["updated_at"] > created["updated_at"]

    with app.state.sessionmaker.begin() as session:  # as the worker leaves a failing endpoint
        row = session.get(WebhookEndpoint, created["id"])
        assert row is not None
        row.disabled_reason, row.consecutive_failures = "failing", 20
    assert (await client.get(hook, headers=admin(tenant))).json()["disabled_reason"] == "failing"
    enabled = await client.patch(
        hook,
        content=b'{"enabled": true}',
        headers={**admin(tenant), "Content-Type": "application/merge-patch+json"},
    )
    assert enabled.status_code == 200, enabled.text
    assert (enabled.json()["enabled"], enabled.json()["disabled_reason"], enabled.json()["consecutive_failures"]) == (
        True,
        None,
        0,
    )

    changed = await client.patch(
        hook,
        json={"url": "http://127.0.0.1:9000/new", "event_types": ["assessment.revised"], "min_levels": None},
        headers=admin(tenant),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == "http://127.0.0.1:9000/new"
    assert changed.json()["event_types"] == ["assessment.revised"]
    assert changed.json()["min_levels"] == []

    for body, pointer in [
        ({"enabled": None}, "/enabled"),
        ({"url": None}, "/url"),
        ({"event_types": None}, "/event_types"),
        ({"enabled": "false"}, "/enabled"),
        ({"url": "https://10.0.0.1/"}, "/url"),
        ({"event_types": ["ruleset.published", "ruleset.published"]}, "/event_types/1"),
        ({"min_levels": [{"ruleset_key": "online-harm-england", "level": "urgent"}]}, "/min_levels/0/level"),
        ({"secret_ciphertext": "x"}, "/secret_ciphertext"),
    ]:
        _invalid(await client.patch(hook, json=body, headers=admin(tenant)), pointer)
    assert (await client.get(hook, headers=admin(tenant))).json() == changed.json()  # the refusals changed nothing

    unchanged = await client.patch(hook, json={}, headers=admin(tenant))
    assert unchanged.status_code == 200
    assert unchanged.json() == changed.json()


async def test_rotation_keeps_the_replaced_secret_as_previous_for_the_overlap(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    settings = app.state.settings
    created = await subscribe(client, tenant)
    hook = f"{HOOKS}/{created['id']}"
    before = datetime.now(UTC)
    first = await client.post(f"{hook}/rotate-secret", headers=admin(tenant))
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    expires = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    overlap = timedelta(hours=settings.webhook_secret_overlap_hours)
    assert before + overlap <= expires <= datetime.now(UTC) + overlap
    row = stored(app, created["id"])
    assert secrets.decrypt(row.secret_ciphertext, endpoint_id=row.id, settings=settings) == rotated["secret"]
    assert row.previous_secret_ciphertext is not None
    assert (
        secrets.decrypt(row.previous_secret_ciphertext, endpoint_id=row.id, slot="previous", settings=settings)
        == created["secret"]
    )
    assert created["secret"] not in row.previous_secret_ciphertext
    read = (await client.get(hook, headers=admin(tenant))).json()
    assert read["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    assert rotated["secret"] not in str(read)

    # a second rotation during the overlap: the previous secret is now the one the first rotation issued
    second = (await client.post(f"{hook}/rotate-secret", headers=admin(tenant))).json()
    row = stored(app, created["id"])
    assert row.previous_secret_ciphertext is not None
    assert (
        secrets.decrypt(row.previous_secret_ciphertext, endpoint_id=row.id, slot="previous", settings=settings)
        == rotated["secret"]
    )
    assert secrets.decrypt(row.secret_ciphertext, endpoint_id=row.id, settings=settings) == second["secret"]
    assert datetime.fromisoformat(second["previous_secret_expires_at"]) >= expires


async def test_a_secret_that_no_longer_decrypts_is_replaced_without_an_overlap(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await subscribe(client, tenant)
    with app.state.sessionmaker.begin() as session:  # as if RISKAPI_SECRET_KEY had changed since it was stored
        row = session.get(WebhookEndpoint, created["id"])
        assert row is not None
        other_key = app.state.settings.model_copy(update={"secret_key": SecretStr("another-secret-key")})
        row.secret_ciphertext = secrets.encrypt("whsec_old", endpoint_id=row.id, settings=other_key)
    rotated = await client.post(f"{HOOKS}/{created['id']}/rotate-secret", headers=admin(tenant))
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["previous_secret_expires_at"] is None
    row = stored(app, created["id"])
    assert row.previous_secret_ciphertext is None
    events = audit_events(app, tenant.organisation_id, "webhook.rotate_secret")
    assert events[-1].details == {"previous_secret_expires_at": None, "replaced_secret_unreadable": True}


async def test_another_organisations_endpoint_is_not_found_everywhere(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await subscribe(client, other_tenant)
    hook = f"{HOOKS}/{theirs['id']}"
    event_id = store_event(app, tenant.organisation_id)
    mine = admin(tenant)
    for response in (
        await client.get(hook, headers=mine),
        await client.patch(hook, json={"enabled": False}, headers=mine),
        await client.post(f"{hook}/rotate-secret", headers=mine),
        await client.get(f"{hook}/attempts", headers=mine),
        await client.post(f"{hook}/deliveries/{event_id}/redeliver", headers=mine),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["type"] == "/problems/not-found"
    untouched = (await client.get(hook, headers=admin(other_tenant))).json()
    assert untouched["enabled"] is True
    assert untouched["previous_secret_expires_at"] is None
    listed = (await client.get(HOOKS, headers=mine)).json()
    assert listed["items"] == []
    with app.state.sessionmaker() as session:
        assert session.scalars(select(WebhookEndpoint.organisation_id)).all() == [other_tenant.organisation_id]
