"""End to end in a real browser: the printed report reads right on paper, and /docs works offline.

Runs the real server (uvicorn subprocess, SQLite temp database migrated, seeded and keyed through the CLI)
and the system Chromium (Debian package, /usr/bin/chromium) through Playwright; no browser is downloaded.
Skips locally without Chromium; fails instead when CI is set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.assessments.conftest import IMMEDIATE, answers, new_body
from tests.servers import start_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require(path: str, what: str) -> None:
    if not (Path(path).exists() or shutil.which(path)):
        message = f"{what} ({path}) is not installed: apt-get install -y chromium poppler-utils"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _riskapi(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    _require(CHROMIUM, "Chromium")
    _require("pdftotext", "pdftotext")
    db = tmp_path_factory.mktemp("browser") / "riskapi.db"
    env = {
        **os.environ,
        "RISKAPI_DATABASE_URL": f"sqlite:///{db}",
        "RISKAPI_RATE_LIMIT_PER_MINUTE": "0",
        "RISKAPI_LOG_LEVEL": "WARNING",
    }
    _riskapi(env, "db", "upgrade")
    _riskapi(env, "seed")
    _riskapi(env, "org", "create", "browser-org", "Browser test organisation")
    out = _riskapi(
        env, "key", "create", "--org", "browser-org", "--name", "browser", "--role", "assessor", "--role", "supervisor"
    )
    match = re.search(r"api key:\s+(\S+)", out)
    assert match, out
    server = start_server(f"sqlite:///{db}", db.parent / "server.log", RISKAPI_LOG_LEVEL="WARNING")
    try:
        yield server.base, match.group(1)
    finally:
        server.stop()


def _csp_violations(page: Any) -> list[str]:
    """Every resource, script or style the page's Content-Security-Policy refused (Chromium reports each one)."""
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return refused


def _uk(value: str) -> str:
    """A time as the report prints it: UK local time with its zone, to the minute."""
    local = datetime.fromisoformat(value).astimezone(ZoneInfo("Europe/London"))
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local.hour:02d}:{local.minute:02d} {local.tzname()}"


def _printed_pages(base: str, headers: dict[str, str], assessment_id: str, pdf: Path) -> list[str]:
    """The report printed to PDF by Chromium under its own policy (nothing loaded from elsewhere, nothing refused),
    as the text of each page with its line breaks undone."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(extra_http_headers=headers)
            page = context.new_page()
            external: list[str] = []
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)
            refused = _csp_violations(page)
            response = page.goto(f"{base}/v1/assessments/{assessment_id}/report")
            assert response is not None
            assert response.status == 200
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert "script-src" not in response.headers["content-security-policy"]
            styled = page.eval_on_selector(".level", "node => getComputedStyle(node).borderTopStyle")
            page.emulate_media(media="print")
            page.pdf(path=str(pdf), format="A4", print_background=False)
            assert external == []
            assert refused == []
            assert styled == "solid", "the report's stylesheet must apply under its policy"
        finally:
            browser.close()
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    # Lines are joined with a space, except where Chromium broke a line after a hyphen (in an id, say).
    pages = [re.sub(r"(?<=\w)- ", "-", " ".join(page.split())) for page in text.split("\f")]
    return [page for page in pages if page]


def test_printed_report_reads_right(server: tuple[str, str], tmp_path: Path) -> None:
    base, key = server
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "nurse-42"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        created = http.post("/v1/assessments", json=new_body("case-print", IMMEDIATE))
        assert created.status_code == 201, created.text
        assessment = created.json()
        override = http.post(
            f"/v1/assessments/{assessment['id']}/override",
            json={"level": "immediate", "rationale": "Strategy meeting agreed"},
        )
        assert override.status_code == 201
        overridden_at = override.json()["overrides"][-1]["created_at"]
        questionnaire = http.get("/v1/questionnaires/online-exposure/versions/1").json()["document"]
        ruleset = assessment["ruleset"]
        title = http.get(f"/v1/rulesets/{ruleset['key']}/versions/{ruleset['version']}").json()["document"]["title"]

    pages = _printed_pages(base, headers, assessment["id"], tmp_path / "report.pdf")
    assert len(pages) >= 3, "vignette V3 with its actions' details runs to several pages"
    for number, page in enumerate(pages, start=1):
        assert page.startswith(f"{title}. Case case-print. Level Immediate as of {_uk(overridden_at)}."), (
            f"page {number} lacks the running header: {page[:200]}"
        )
        assert f"Page {number} of {len(pages)}" in page
        assert "SUPERSEDED" not in page
        assert "ENTERED IN ERROR" not in page
    flat = " ".join(pages)
    assert "Level: Immediate" in flat
    assert f"{assessment['ruleset']['key']} version {assessment['ruleset']['version']}" in flat
    assert "Strategy meeting agreed" in flat
    assert "Disclaimer" in flat
    # Labels, not ids: questions for the protective factors and gaps, titles for triggers and scores.
    questions = {item["id"]: item["question"] for item in questionnaire["items"]}
    for item in assessment["protective_factors"] + assessment["information_gaps"]:
        assert " ".join(questions[item].split()) in flat, item
        assert item not in flat, item
    for trigger in assessment["triggers"]:
        assert trigger["title"] in flat
        assert trigger["id"] not in flat
    assert "Weighted total (significant 5, moderate 2, vulnerability 1) 22" in flat
    # One section for the actions, each listed once.
    assert "Support routes" not in flat
    assert flat.count("Recommended actions") == 1
    for action in assessment["actions"]:
        assert flat.count(action["title"]) == 1, action["title"]
    # Plurals.
    assert "(1 point)" in flat
    assert "(5 points)" in flat
    assert not re.search(r"\b1 points\b", flat)
    # Times: UK local time with the zone, never UTC with microseconds.
    assert f"Created {_uk(assessment['created_at'])}" in flat
    assert f"Review by {_uk(assessment['review_by'])}" in flat
    assert f"{_uk(overridden_at)}: Immediate → Immediate by nurse-42" in flat
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", flat)


def test_printed_superseded_and_entered_in_error_revisions_say_so_on_every_page(
    server: tuple[str, str], tmp_path: Path
) -> None:
    base, key = server
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "nurse-42"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        first = http.post("/v1/assessments", json=new_body("case-revised", IMMEDIATE)).json()
        amended = http.post(f"/v1/assessments/{first['id']}/revisions", json={"answers": answers(IMMEDIATE)})
        assert amended.status_code == 201, amended.text
        second = amended.json()
        marked = http.post(f"/v1/assessments/{second['id']}/entered-in-error", json={"reason": "Wrong child"})
        assert marked.status_code == 201, marked.text
        marked_at = marked.json()["entered_in_error"]["created_at"]

    old = _printed_pages(base, headers, first["id"], tmp_path / "old.pdf")
    assert len(old) >= 2
    assert all("SUPERSEDED: not the current record." in page for page in old)
    assert all(f"Level Immediate as of {_uk(first['created_at'])}" in page for page in old)
    assert (
        "Superseded: a later revision of this assessment exists; this is not the current record. It was superseded "
        f"on {_uk(second['created_at'])} by revision {second['id']}." in old[0]
    )

    wrong = _printed_pages(base, headers, second["id"], tmp_path / "wrong.pdf")
    assert len(wrong) >= 2
    assert all("ENTERED IN ERROR: do not rely on this record." in page for page in wrong)
    assert all("SUPERSEDED" not in page for page in wrong)
    assert f"marked entered in error on {_uk(marked_at)} by nurse-42." in wrong[0]
    assert "Reason given: Wrong child" in wrong[0]


def test_docs_work_offline(server: tuple[str, str]) -> None:
    from playwright.sync_api import Route, sync_playwright

    base, _ = server
    blocked: list[str] = []

    def only_localhost(route: Route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "http://localhost")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_localhost)
            refused = _csp_violations(page)
            response = page.goto(f"{base}/docs")
            assert response is not None
            assert "'sha256-" in response.headers["content-security-policy"]
            page.wait_for_selector("#operations-assessments-replay_assessment", timeout=20_000)
            body = page.inner_text("body").replace("\u200b", "")
            operation_ids = page.eval_on_selector_all(".opblock", "nodes => nodes.map(n => n.id)")
            redoc = page.goto(f"{base}/redoc")
            assert redoc is not None
            assert "content-security-policy" in redoc.headers
            page.wait_for_selector('h2:has-text("List Audit Events")', timeout=20_000)
        finally:
            browser.close()
    # ReDoc's footer links its logo from its CDN: the policy refusing it is what keeps the page offline.
    assert [m for m in refused if "https://cdn.redoc.ly/" not in m] == [], refused
    for operation in ("/v1/assessments", "/v1/assessments/{assessment_id}/override", "/v1/audit/verify"):
        assert operation in body
    for operation_id in ("create_assessment", "list_assessments", "assessment_report", "list_audit_events"):
        assert any(i.endswith(operation_id) for i in operation_ids), operation_ids
    assert blocked == [], blocked
