"""The printed report reads well: labels rather than ids, one section per subject, correct plurals, UK local times
with their zone, banners on superseded and entered-in-error revisions, the level and its date in the running header,
and one stylesheet allowed by its hash. tests/browser checks the same page printed by Chromium, page by page."""

from __future__ import annotations

import base64
import glob
import hashlib
import re
import tomllib
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.assessments.report import HEADING, Labels, Superseding, count_of, london, render_report, scaled
from app.content import default_documents
from tests.assessments.conftest import IMMEDIATE, answers, create
from tests.assessments.test_level_labels import QUIET, STRANGER, assess_labelled, publish_labelled_rule_sets
from tests.conftest import Tenant

ROOT = Path(__file__).resolve().parents[2]
V1 = "V1 accidental exposure"
DOCUMENTS = dict(default_documents())
QUESTIONS = {item["id"]: item["question"] for item in DOCUMENTS["questionnaire"]["items"]}
RULESET = DOCUMENTS["ruleset"]
# Any ISO 8601 date-time, as the JSON shows times: none may reach the page.
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


class _Text(HTMLParser):
    """The page's visible text (the stylesheet and the title left out), and the text of its running header."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.running: list[str] = []
        self.headings: list[str] = []
        self._skip = 0
        self._in_thead = False
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "title")
        self._in_thead |= tag == "thead"
        self._in_h2 |= tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "title")
        self._in_thead &= tag != "thead"
        self._in_h2 &= tag != "h2"

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.parts.append(data)
        if self._in_thead:
            self.running.append(data)
        if self._in_h2:
            self.headings.append(data)


def _flat(parts: list[str]) -> str:
    return " ".join(" ".join(parts).split())


class Page:
    def __init__(self, html: str) -> None:
        parser = _Text()
        parser.feed(html)
        self.html = html
        self.text = _flat(parser.parts)
        self.running = _flat(parser.running)
        self.headings = parser.headings


def uk(value: str) -> str:
    """The test's own rendering of a time as the report must show it: `7 December 2026, 09:14 GMT`."""
    local = datetime.fromisoformat(value).astimezone(ZoneInfo("Europe/London"))
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local.hour:02d}:{local.minute:02d} {local.tzname()}"


async def _report(client: httpx.AsyncClient, tenant: Tenant, assessment_id: str) -> Page:
    response = await client.get(f"/v1/assessments/{assessment_id}/report", headers=tenant.headers())
    assert response.status_code == 200, response.text
    return Page(response.text)


# --- labels, not ids ----------------------------------------------------------------------------------------


async def test_protective_factors_and_gaps_show_the_questions_not_item_ids(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for which in (V1, IMMEDIATE):
        created = await create(client, tenant, which=which)
        assert created["protective_factors"], which
        page = await _report(client, tenant, created["id"])
        for item in created["protective_factors"] + created["information_gaps"]:
            assert QUESTIONS[item] in page.text, (which, item)
            assert item not in page.html, (which, item)
    assert created["information_gaps"] == ["contact_adult_involved"]
    assert f'question that decides an immediate referral: "{QUESTIONS["contact_adult_involved"]}" answered' in page.text


def test_a_reason_names_items_by_their_questions_only_where_the_rule_filled_in_their_ids() -> None:
    labels = Labels(items={"a": "Question A?"}, item_reasons={"unknown_answers": "Unclear: {items} unknown."})
    reasons = [
        {
            "rule_id": "unknown_answers",
            "text": "Unclear: a, b unknown.",
            "points": None,
            "items": ["a", "b"],
            "source": None,
        },
        {"rule_id": "unknown_answers", "text": "Stored otherwise: a.", "points": None, "items": ["a"], "source": None},
    ]
    page = Page(render_report(_view(reasons=reasons), labels))
    assert 'Unclear: "Question A?", "b" unknown.' in page.text  # b has no label: its id stands
    assert "Stored otherwise: a." in page.text


async def test_scores_show_their_titles_and_values(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    page = await _report(client, tenant, created["id"])
    titles = {score["id"]: score["title"] for score in RULESET["scores"]}
    assert set(created["scores"]) == set(titles)
    for score, value in created["scores"].items():
        assert f"{titles[score]} {value}" in page.text, score


def test_an_id_without_a_label_is_shown_as_it_is() -> None:
    view = _view(protective_factors=["prot_unknown_item"], information_gaps=["gap_unknown_item"], scores={"x": 3})
    page = Page(render_report(view, Labels(items={"other": "Another question?"})))
    assert "prot_unknown_item" in page.text
    assert "gap_unknown_item" in page.text
    assert "x 3" in page.text


# --- the rule set's own words: title, level labels, notices, score bands and decimals --------------------------


async def test_the_heading_is_the_rule_sets_title_and_levels_show_their_labels(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant)
    used = created["ruleset"]
    title = next(d["title"] for k, d in default_documents() if k == "ruleset" and used["version"] == d["version"])
    page = await _report(client, tenant, created["id"])
    assert f"<h1>{title}</h1>" in page.html
    assert page.running.startswith(f"{title}. Case case-1. Level Low as of")
    assert HEADING not in page.text
    assert "Level: Low" in page.text

    await publish_labelled_rule_sets(client, tenant)
    labelled = await assess_labelled(client, tenant, QUIET)
    page = await _report(client, tenant, labelled["id"])
    assert page.running.startswith("Check-in rules. Case case-labels. Level No concern as of")
    assert "Level: No concern Nothing to act on." in page.text  # the level's label, then its description
    assert "Computed level No concern" in page.text

    medium = await assess_labelled(client, tenant, STRANGER)
    raised = await client.post(
        f"/v1/assessments/{medium['id']}/override",
        json={"level": "high", "rationale": "Further contact"},
        headers=tenant.headers("supervisor"),
    )
    assert raised.status_code == 201, raised.text
    page = await _report(client, tenant, medium["id"])
    assert "Level: Refer today" in page.text
    assert "the computed level was Medium." in page.text  # no label declared: made from the id
    assert f"{uk(raised.json()['overrides'][-1]['created_at'])}: Medium → Refer today by user-1" in page.text


def test_notices_come_first_before_the_level() -> None:
    notices = [{"code": "jurisdiction_outside_ruleset", "text": "The actions follow the procedures of England."}]
    page = Page(render_report(_view(notices=notices), Labels(title="Rules for England")))
    notice = "Notice: The actions follow the procedures of England."
    assert notice in page.text
    assert page.text.index("Rules for England") < page.text.index(notice) < page.text.index("Level: low")
    assert "Notice:" not in Page(render_report(_view())).text  # a result stored before notices existed: none


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [(235, 2, "2.35"), (5, 2, "0.05"), (-5, 1, "-0.5"), (12, 0, "12"), (120, 1, "12.0"), (7, None, "7"), (7, 99, "7")],
)
def test_a_score_is_shown_with_its_declared_decimals(value: int, decimals: object, shown: str) -> None:
    assert scaled(value, decimals) == shown


def test_scores_show_scaled_values_and_their_band_labels() -> None:
    view = _view(
        scores={"phq9": 235, "total": 7},
        score_decimals={"phq9": 2},
        score_bands={"phq9": {"code": "moderate", "label": "Moderate depression"}},
    )
    page = Page(render_report(view, Labels(scores={"phq9": "PHQ-9 mean"})))
    assert "PHQ-9 mean 2.35 Moderate depression" in page.text
    assert "total 7" in page.text
    assert "235" not in page.text


# --- one section per subject ----------------------------------------------------------------------------------


async def test_each_action_is_listed_once_with_who_and_detail(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    page = await _report(client, tenant, created["id"])
    assert len(page.headings) == len(set(page.headings)), page.headings
    assert "Support routes" not in page.text
    for trigger in created["triggers"]:
        assert page.text.count(trigger["reason"]) == 1, trigger["id"]
    details = {action["id"]: action["detail"] for action in RULESET["actions"]}
    for action in created["actions"]:
        assert page.text.count(action["title"]) == 1, action["title"]
        assert page.text.count(f"(who: {action['who']})") >= 1, action["who"]
        assert " ".join(details[action["id"]].split()) in page.text, action["id"]


# --- plurals ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expected"), [(1, "1 point"), (2, "2 points"), (0, "0 points"), (-1, "-1 point"), (-3, "-3 points")]
)
def test_counts_agree_with_their_number(number: int, expected: str) -> None:
    assert count_of(number, "point") == expected


async def test_reasons_say_1_point_and_n_points(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    page = await _report(client, tenant, created["id"])
    points = {reason["points"] for reason in created["reasons"] if reason["points"]}
    assert 1 in points
    assert any(p > 1 for p in points)
    for p in points:
        assert f"({p} {'point' if p == 1 else 'points'})" in page.text
    assert not re.search(r"\b1 points\b", page.text)


# --- times --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("2026-12-07T09:14:03.123456Z", "7 December 2026, 09:14 GMT"),
        ("2026-07-01T09:14:59.999999+00:00", "1 July 2026, 10:14 BST"),
        ("2026-03-29T00:59:00Z", "29 March 2026, 00:59 GMT"),  # the clocks go forward at 01:00 UTC
        ("2026-03-29T01:00:00Z", "29 March 2026, 02:00 BST"),
        ("2026-10-25T00:30:00Z", "25 October 2026, 01:30 BST"),  # 01:30 happens twice that night
        ("2026-10-25T01:30:00Z", "25 October 2026, 01:30 GMT"),
    ],
)
def test_times_are_uk_local_time_with_the_zone(stored: str, shown: str) -> None:
    assert london(stored) == shown
    assert london(datetime.fromisoformat(stored)) == shown
    assert london(datetime.fromisoformat(stored).replace(tzinfo=None)) == shown  # naive: UTC


def test_every_time_on_the_page_is_uk_local_time() -> None:
    view = _view(
        created_at="2026-12-07T09:14:03.123456Z",
        review_by="2027-01-04T09:14:03.123456Z",
        superseded_by="rev-2",
        overrides=[_override("2026-12-07T10:00:00.5Z", "high", "immediate")],
        entered_in_error={
            "reason": "Wrong child",
            "acting_user": "lead-7",
            "client": "c",
            "created_at": "2026-07-01T16:45:00Z",
        },
    )
    page = Page(render_report(view, superseded_by=Superseding("rev-2", datetime(2026, 6, 1, 8, 0, tzinfo=UTC))))
    for shown in (
        "Created 7 December 2026, 09:14 GMT",
        "Review by 4 January 2027, 09:14 GMT",
        "7 December 2026, 10:00 GMT: high → immediate",
        "marked entered in error on 1 July 2026, 17:45 BST by lead-7",
        "superseded on 1 June 2026, 09:00 BST by revision rev-2",
    ):
        assert shown in page.text, shown
    assert not ISO_TIME.search(page.text)
    assert "UTC" not in page.text


async def test_a_served_report_shows_no_utc_timestamp(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    overridden = await client.post(
        f"/v1/assessments/{created['id']}/override",
        json={"level": "immediate", "rationale": "Agreed"},
        headers=tenant.headers(),
    )
    assert overridden.status_code == 201, overridden.text
    override = overridden.json()["overrides"][-1]
    page = await _report(client, tenant, created["id"])
    assert f"Created {uk(created['created_at'])}" in page.text
    assert f"Review by {uk(created['review_by'])}" in page.text
    assert f"{uk(override['created_at'])}: Immediate → Immediate" in page.text
    assert not ISO_TIME.search(page.text)
    assert "(UTC)" not in page.text


# --- banners and the running header --------------------------------------------------------------------------


async def test_a_superseded_revision_says_so_and_names_the_later_one(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await create(client, tenant, subject_ref="case-banner")
    amended = await client.post(
        f"/v1/assessments/{first['id']}/revisions", json={"answers": answers(IMMEDIATE)}, headers=tenant.headers()
    )
    assert amended.status_code == 201, amended.text
    second = amended.json()

    old = await _report(client, tenant, first["id"])
    assert (
        "Superseded: a later revision of this assessment exists; this is not the current record. It was superseded "
        f"on {uk(second['created_at'])} by revision {second['id']}." in old.text
    )
    assert "SUPERSEDED: not the current record." in old.running
    assert f"Level Low as of {uk(first['created_at'])}" in old.running

    latest = await _report(client, tenant, second["id"])
    assert "uperseded:" not in latest.text
    assert "SUPERSEDED" not in latest.text
    assert f"Supersedes {first['id']}" in latest.text


async def test_an_entered_in_error_revision_says_so_on_every_page(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, which=IMMEDIATE)
    marked = await client.post(
        f"/v1/assessments/{created['id']}/entered-in-error",
        json={"reason": "Recorded against the wrong case"},
        headers=tenant.headers(acting_user="lead-7"),
    )
    assert marked.status_code == 201, marked.text
    page = await _report(client, tenant, created["id"])
    when = uk(marked.json()["entered_in_error"]["created_at"])
    assert (
        f"ENTERED IN ERROR. This revision was marked entered in error on {when} by lead-7. Do not rely on its "
        "level, reasons or actions. Reason given: Recorded against the wrong case" in page.text
    )
    assert "ENTERED IN ERROR: do not rely on this record." in page.running


async def test_the_running_header_has_the_level_and_the_date_it_was_set(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant, subject_ref="case-head")
    page = await _report(client, tenant, created["id"])
    assert f"Level Low as of {uk(created['created_at'])}" in page.running
    assert "case-head" in page.running
    assert f"Computed on {uk(created['created_at'])}" in page.text

    raised = await client.post(
        f"/v1/assessments/{created['id']}/override",
        json={"level": "high", "rationale": "Professional concern"},
        headers=tenant.headers(acting_user="supervisor-3"),
    )
    assert raised.status_code == 201, raised.text
    when = uk(raised.json()["overrides"][-1]["created_at"])
    page = await _report(client, tenant, created["id"])
    assert f"Level High as of {when}" in page.running
    assert f"Set by an override on {when} (by supervisor-3); the computed level was Low." in page.text
    assert "SUPERSEDED" not in page.running
    assert "ENTERED IN ERROR" not in page.running


# --- the page itself ---------------------------------------------------------------------------------------------


async def test_one_stylesheet_allowed_by_the_hash_the_policy_names(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create(client, tenant, subject_ref="case-<i>css</i>")
    response = await client.get(f"/v1/assessments/{created['id']}/report", headers=tenant.headers())
    styles = re.findall(r"<style>(.*?)</style>", response.text, re.DOTALL)
    assert len(styles) == 1
    assert response.text.count("<style") == 1
    assert " style=" not in response.text  # an inline style attribute would be refused
    assert "<script" not in response.text
    served = "'sha256-" + base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode() + "'"
    assert f"style-src {served};" in response.headers["content-security-policy"]
    assert "case-&lt;i&gt;css&lt;/i&gt;" in response.text  # autoescaped
    assert "<i>" not in response.text


def test_the_template_and_stylesheet_are_package_data() -> None:
    """pyproject's package-data globs (what a wheel and the Docker image install) cover every template file."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        patterns = tomllib.load(file)["tool"]["setuptools"]["package-data"]["app"]
    app = ROOT / "app"
    shipped = {Path(p) for pattern in patterns for p in glob.glob(str(app / pattern), recursive=True)}
    templates = set((app / "assessments" / "templates").iterdir())
    assert {path.name for path in templates} >= {"report.html", "report.css"}
    assert templates <= shipped, sorted(map(str, templates - shipped))


# --- helpers ------------------------------------------------------------------------------------------------------


def _override(created_at: str, previous: str, level: str) -> dict[str, Any]:
    return {
        "level": level,
        "previous_level": previous,
        "rationale": "r",
        "acting_user": "s-1",
        "client": "c",
        "created_at": created_at,
    }


def _view(**fields: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": "a-1",
        "subject_ref": "case-1",
        "created_at": "2026-12-07T09:14:03Z",
        "review_by": None,
        "acting_user": "u-1",
        "client": "c-1",
        "level": "low",
        "computed_level": "low",
        "scores": {},
        "triggers": [],
        "floors_applied": [],
        "reasons": [],
        "actions": [],
        "information_gaps": [],
        "protective_factors": [],
        "review_within_days": None,
        "disclaimer": "Supports judgement.",
        "questionnaire": {"key": "q", "version": 1, "content_hash": "0" * 64},
        "ruleset": {"key": "r", "version": 1, "content_hash": "1" * 64},
        "engine_version": "riskapi-scoring/1",
        "supersedes": None,
        "superseded_by": None,
        "overrides": [],
        "entered_in_error": None,
    }
    view.update(fields)
    if fields.get("overrides"):
        view["level"] = fields["overrides"][-1]["level"]
    return view
