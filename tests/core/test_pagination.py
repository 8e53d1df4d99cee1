"""Every list endpoint pages the same way: each row exactly once, in a total order, with one cursor format that
a list refuses (422 naming `cursor`) when it is garbage, edited, too long, another list's, or sent with other
filters. Time filters accept only times with a zone."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.assessments.models import Assessment
from app.assessments.repository import effective_review_by
from app.audit.models import AuditEvent
from app.auth.models import ApiClient
from app.auth.permissions import Role
from app.core.pagination import MAX_CURSOR_CHARS, Computed, Keyset
from tests.assessments.conftest import create
from tests.conftest import Tenant
from tests.rulesets.factories import QUESTIONNAIRE_YAML, YAML, ruleset_yaml, seed

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Listing:
    url: str
    role: Role
    identity: tuple[str, ...]  # the fields that name an item
    params: tuple[tuple[str, str], ...] = ()


ASSESSMENTS = Listing("/v1/assessments", Role.assessor, ("id",))
AUDIT_EVENTS = Listing("/v1/audit/events", Role.auditor, ("sequence",), (("action", "assessment.create"),))
CLIENTS = Listing("/v1/clients", Role.admin, ("id",))
QUESTIONNAIRES = Listing("/v1/questionnaires", Role.assessor, ("key", "version"))
QUESTIONNAIRE_VERSIONS = Listing("/v1/questionnaires/paged/versions", Role.assessor, ("key", "version"))
RULESETS = Listing("/v1/rulesets", Role.assessor, ("key", "version"))
RULESET_VERSIONS = Listing("/v1/rulesets/paged-rules/versions", Role.assessor, ("key", "version"))
EVERY_LIST = [ASSESSMENTS, AUDIT_EVENTS, CLIENTS, QUESTIONNAIRES, QUESTIONNAIRE_VERSIONS, RULESETS, RULESET_VERSIONS]


@pytest.fixture
async def filled(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> Tenant:
    """Five assessments (so five create events), three questionnaire and three rule-set drafts of one key, and
    five more API clients that share one creation time (so only the id orders them)."""
    seed(app)
    for i in range(5):
        await create(client, tenant, subject_ref=f"case-{i}")
    author = {**tenant.headers(Role.rule_author), **YAML}
    for _ in range(3):
        created = await client.post("/v1/questionnaires/paged/versions", content=QUESTIONNAIRE_YAML, headers=author)
        assert created.status_code == 201, created.text
        created = await client.post(
            "/v1/rulesets/paged-rules/versions", content=ruleset_yaml("online-exposure"), headers=author
        )
        assert created.status_code == 201, created.text
    same_time = datetime(2030, 1, 1, tzinfo=UTC)
    with app.state.sessionmaker.begin() as session:
        for i in range(5):
            session.add(
                ApiClient(organisation_id=tenant.organisation_id, name=f"tied-{i}", roles=[], created_at=same_time)
            )
    return tenant


async def get_page(client: httpx.AsyncClient, tenant: Tenant, listing: Listing, **params: Any) -> httpx.Response:
    return await client.get(
        listing.url, params={**dict(listing.params), **params}, headers=tenant.headers(listing.role)
    )


async def walk(client: httpx.AsyncClient, tenant: Tenant, listing: Listing, limit: int) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []
    cursor = None
    while True:
        response = await get_page(client, tenant, listing, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        seen += [tuple(item[name] for name in listing.identity) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def refused_pointers(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/validation-error"
    return [(e["pointer"], e["location"]) for e in response.json()["errors"]]


@pytest.mark.parametrize("listing", EVERY_LIST, ids=lambda listing: listing.url)
async def test_paging_returns_each_item_once_in_order(
    client: httpx.AsyncClient, filled: Tenant, listing: Listing
) -> None:
    whole = await get_page(client, filled, listing, limit=200)
    everything = [tuple(item[name] for name in listing.identity) for item in whole.json()["items"]]
    assert whole.json()["next_cursor"] is None
    assert len(everything) >= 3
    for limit in (1, 2, 3):
        assert await walk(client, filled, listing, limit) == everything


async def test_each_list_is_in_its_documented_order(client: httpx.AsyncClient, filled: Tenant) -> None:
    def items(response: httpx.Response) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = response.json()["items"]
        return listed

    assessments = items(await get_page(client, filled, ASSESSMENTS, limit=200))
    assert [a["subject_ref"] for a in assessments] == [f"case-{i}" for i in reversed(range(5))]
    events = items(await get_page(client, filled, AUDIT_EVENTS, limit=200))
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
    clients = items(await get_page(client, filled, CLIENTS, limit=200))
    tied = [c["id"] for c in clients if c["name"].startswith("tied-")]
    assert len(tied) == 5
    assert tied == sorted(tied)
    assert [(c["created_at"], c["id"]) for c in clients] == sorted((c["created_at"], c["id"]) for c in clients)
    for listing in (QUESTIONNAIRES, RULESETS):
        versions = [(v["key"], v["version"]) for v in items(await get_page(client, filled, listing, limit=200))]
        assert versions == sorted(versions)


async def first_cursor(client: httpx.AsyncClient, tenant: Tenant, listing: Listing) -> str:
    page = (await get_page(client, tenant, listing, limit=1)).json()
    cursor: str = page["next_cursor"]
    assert cursor
    return cursor


@pytest.mark.parametrize("source", EVERY_LIST, ids=lambda listing: listing.url)
async def test_a_cursor_is_refused_by_every_other_list(
    client: httpx.AsyncClient, filled: Tenant, source: Listing
) -> None:
    cursor = await first_cursor(client, filled, source)
    for other in EVERY_LIST:
        if other is not source:
            response = await get_page(client, filled, other, cursor=cursor)
            assert refused_pointers(response) == [("/cursor", "query")], other.url


def edited(cursor: str) -> str:
    version, name, position, check = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    last = position[-1]
    position[-1] = last + 1 if isinstance(last, int) else last[:-1] + ("1" if last.endswith("0") else "0")
    raw = json.dumps([version, name, position, check]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("listing", EVERY_LIST, ids=lambda listing: listing.url)
async def test_garbage_edited_and_overlong_cursors_are_a_422_naming_the_cursor(
    client: httpx.AsyncClient, filled: Tenant, listing: Listing
) -> None:
    cursor = await first_cursor(client, filled, listing)
    assert (await get_page(client, filled, listing, cursor=cursor)).status_code == 200
    for bad in ("nonsense!", "W10", base64.urlsafe_b64encode(b'[2,"x",[],"0"]').decode(), edited(cursor)):
        response = await get_page(client, filled, listing, cursor=bad)
        assert refused_pointers(response) == [("/cursor", "query")], bad
    response = await get_page(client, filled, listing, cursor="A" * (MAX_CURSOR_CHARS + 1))
    assert refused_pointers(response) == [("/cursor", "query")]


async def test_a_cursor_is_bound_to_the_filters_it_was_issued_with(client: httpx.AsyncClient, filled: Tenant) -> None:
    cursor = await first_cursor(client, filled, ASSESSMENTS)
    response = await get_page(client, filled, ASSESSMENTS, cursor=cursor, subject_ref="case-1")
    assert refused_pointers(response) == [("/cursor", "query")]
    assert "filters" in response.json()["errors"][0]["detail"]
    response = await get_page(client, filled, QUESTIONNAIRES, cursor=cursor, status="draft")
    assert refused_pointers(response) == [("/cursor", "query")]
    assert "another list" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("listing", "parameter"),
    [
        (ASSESSMENTS, "created_from"),
        (ASSESSMENTS, "created_to"),
        (ASSESSMENTS, "review_by_before"),
        (AUDIT_EVENTS, "since"),
        (AUDIT_EVENTS, "until"),
    ],
)
async def test_a_naive_time_filter_is_a_422_naming_the_parameter(
    client: httpx.AsyncClient, tenant: Tenant, listing: Listing, parameter: str
) -> None:
    response = await get_page(client, tenant, listing, **{parameter: "2030-01-31T00:00:00"})
    assert refused_pointers(response) == [(f"/{parameter}", "query")]
    aware = await get_page(client, tenant, listing, **{parameter: "2030-01-31T00:00:00+01:00"})
    assert aware.status_code == 200, aware.text


def test_a_keyset_must_identify_a_row() -> None:
    with pytest.raises(ValueError, match="does not identify a row"):
        Keyset("assessments by time", (Assessment.created_at,), descending=True)
    review_by = Computed("review_by", effective_review_by())
    with pytest.raises(ValueError, match="does not identify a row"):
        Keyset("assessments by review date", (review_by, Assessment.created_at))
    with pytest.raises(ValueError, match="no column of a table"):
        Keyset("assessments by review date alone", (review_by,))
    with pytest.raises(ValueError, match="does not identify a row"):
        Keyset("audit events of every organisation", (AuditEvent.sequence,))
    Keyset("audit events", (AuditEvent.sequence,), within=(AuditEvent.organisation_id,))
