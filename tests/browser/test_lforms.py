"""A real renderer nobody here wrote: LHC-Forms (NLM's `lforms` npm package) renders the FHIR Questionnaire the
server exports, the shipped vignettes are filled in through its widgets, and the QuestionnaireResponse that its own
export function produces scores exactly as the JSON answers do. For each vignette, and for every form of condition
in a questionnaire of its own, the questions LHC-Forms shows and hides are the ones the engine asks and does not ask
(LHC-Forms reads enableWhen and enableWhenExpression its own way; the engine's reading is `holds`).

Runs the real server (uvicorn subprocess, SQLite temp database set up by `riskapi dev-setup` as `make run` does) and
the system Chromium (Debian package) through Playwright. LHC-Forms' prebuilt web component and FHIR R4 support come
from tests/browser/lforms/node_modules (`npm ci` of the committed lock file: .ci/run installs it, and this module
runs `npm ci` itself when it is missing or stale), served with a small page by a loopback HTTP server of the test;
nothing else is loaded (any other request is aborted and fails the test).
Skips locally without Chromium or LHC-Forms; fails instead when CI is set.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app.content import default_ruleset
from app.fhir.canonical import SHIPPED_CANONICAL_BASE, UNKNOWN_SUFFIX
from app.fhir.questionnaire import questionnaire_resource
from app.scoring.conditions import holds
from app.scoring.models import DateItem, IntegerItem, Item, Questionnaire, TextItem
from app.scoring.parsing import parse_questionnaire
from app.scoring.requirements import item_requirements
from app.scoring.result import Result
from tests.browser.test_report_and_docs import CHROMIUM, CHROMIUM_ARGS, _riskapi
from tests.servers import start_server

LFORMS_DIR = Path(__file__).resolve().parent / "lforms"
LFORMS_WEBCOMPONENT = LFORMS_DIR / "node_modules/lforms/dist/lforms/webcomponent/main.js"
QUESTIONNAIRE_KEY = "online-exposure"
QUESTIONNAIRE_VERSION = 2
FHIR_JSON = "application/fhir+json"
UNKNOWN = "unknown"
# The vignettes are filled in one after another; the V1 one then answers the child's age and the concern date
# "Not known" in the same form (the issue asks for an unknown age and an unknown concern date; no vignette has them).
SHIPPED_TESTS = {test["name"].split()[0]: test for test in default_ruleset()["tests"] if test["name"][0] == "V"}
VIGNETTES = {
    "V1": [SHIPPED_TESTS["V1"]["answers"], {"child_age_years": UNKNOWN, "concern_date": UNKNOWN}],
    "V3": [SHIPPED_TESTS["V3"]["answers"]],
    "V7": [SHIPPED_TESTS["V7"]["answers"]],
}
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("lforms")]


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _installed_lforms_version() -> str | None:
    installed = LFORMS_DIR / "node_modules/lforms/package.json"
    return json.loads(installed.read_text())["version"] if installed.exists() else None


def _install_lforms() -> None:
    """`npm ci` from the committed lock file when LHC-Forms is missing or is not the locked version."""
    locked = json.loads((LFORMS_DIR / "package-lock.json").read_text())["packages"]["node_modules/lforms"]["version"]
    if _installed_lforms_version() == locked and LFORMS_WEBCOMPONENT.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        _unavailable(f"LHC-Forms is not installed in {LFORMS_DIR} and npm is missing: apt-get install -y npm")
    result = subprocess.run(
        [str(npm), "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=LFORMS_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or _installed_lforms_version() != locked:
        _unavailable(f"npm ci in {LFORMS_DIR} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """The server on a database made by `riskapi dev-setup` (what `make run` does: migrated, seeded, a demo
    organisation with a FHIR identifier system and an all-roles key), and that key and identifier system."""
    folder = tmp_path_factory.mktemp("lforms")
    database_url = f"sqlite:///{folder / 'riskapi.db'}"
    env = {
        **os.environ,
        "RISKAPI_DATABASE_URL": database_url,
        "RISKAPI_DEV_KEY_PATH": str(folder / "dev-api-key"),
        "RISKAPI_DEV_LOG_KEY_PATH": str(folder / "dev-log-signing-key"),
        "RISKAPI_LOG_LEVEL": "WARNING",
    }
    _riskapi(env, "dev-setup")
    key = (folder / "dev-api-key").read_text().strip()
    server = start_server(database_url, folder / "server.log", RISKAPI_LOG_LEVEL="WARNING")
    try:
        settings = httpx.get(f"{server.base}/v1/organisation/fhir", headers={"Authorization": f"Bearer {key}"})
        assert settings.status_code == 200, settings.text
        yield server.base, key, settings.json()["identifier_system"]
    finally:
        server.stop()


class _LformsFiles(SimpleHTTPRequestHandler):
    """tests/browser/lforms (its page and LHC-Forms' files) on loopback, quietly."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def form_page() -> Iterator[Any]:
    """One Chromium page with LHC-Forms loaded from the loopback page server, ready for `addFormToPage`."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium ({CHROMIUM}) is not installed: apt-get install -y chromium")
    _install_lforms()
    from playwright.sync_api import Route, sync_playwright

    files = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_LformsFiles, directory=str(LFORMS_DIR)))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{files.server_address[1]}"
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_the_page_server(route: Route) -> None:
        if route.request.url.startswith(f"{origin}/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(15_000)
                page.route("**/*", only_the_page_server)
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
                page.goto(f"{origin}/index.html")
                page.wait_for_function("() => window.LForms?.Util && window.LForms.FHIR?.R4")
                yield page
            finally:
                browser.close()
    finally:
        files.shutdown()
        files.server_close()
    assert elsewhere == [], f"the page asked for something other than the loopback page server: {elsewhere}"
    assert errors == [], errors


@pytest.fixture(scope="module")
def exported(server: tuple[str, str, str]) -> tuple[dict[str, Any], Questionnaire]:
    """The exported FHIR Questionnaire, and the same version as the engine reads it."""
    base, key, _ = server
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        path = f"/v1/questionnaires/{QUESTIONNAIRE_KEY}/versions/{QUESTIONNAIRE_VERSION}"
        fhir = http.get(path, headers={"Accept": FHIR_JSON})
        assert fhir.status_code == 200, fhir.text
        assert fhir.headers["content-type"].startswith(FHIR_JSON)
        ours = http.get(path)
        assert ours.status_code == 200, ours.text
    resource: dict[str, Any] = fhir.json()
    assert resource["resourceType"] == "Questionnaire"
    return resource, parse_questionnaire(ours.json()["document"])


# --- driving LHC-Forms ---------------------------------------------------------------------------------------


def _questions(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every question of a FHIR Questionnaire (no groups, no display items), in document order."""
    for item in items:
        if item["type"] == "group":
            yield from _questions(item.get("item", []))
        elif item["type"] != "display":
            yield item
            yield from _questions(item.get("item", []))


def _widget(link_id: str) -> str:
    """LHC-Forms' input of a (non-repeating) question: id `<linkId>/1/1`; ids hold dots and slashes."""
    return f'[id="{link_id}/1/1"]'


PICKED = """([linkId, code]) => {
    const form = document.getElementById('form');
    const response = LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', form);
    const holds = (items) => (items || []).some((item) =>
        (item.linkId === linkId && (item.answer || []).some((answer) => answer.valueCoding?.code === code))
        || holds(item.item) || (item.answer || []).some((answer) => holds(answer.item)));
    return holds(response.item);
}"""


def _choose(page: Any, item: dict[str, Any], codes: list[str]) -> None:
    """Pick answer options in LHC-Forms' autocomplete list with the keyboard, as a person using it would: focus
    opens the list, ArrowDown walks it to the option's label, Enter picks it (a multi-select list then drops it and
    stays open, so Escape closes it). Each pick is confirmed in LHC-Forms' own export; a keystroke that reached the
    list before it had opened is picked again, as a person would."""
    displays = {option["valueCoding"]["code"]: option["valueCoding"]["display"] for option in item["answerOption"]}
    for code in codes:
        for attempt in range(3):
            page.locator(_widget(item["linkId"])).focus()
            for _ in range(len(displays) + 1):
                highlighted = page.evaluate(
                    "() => document.querySelector('#lhc-tools-searchResults li.selected')?.textContent ?? null"
                )
                if highlighted is not None and re.sub(r"^\s*\d+:\s*", "", highlighted).strip() == displays[code]:
                    break
                page.keyboard.press("ArrowDown")
            else:
                raise AssertionError(f"{item['linkId']}: no option labelled {displays[code]!r} in LHC-Forms' list")
            page.keyboard.press("Enter")
            try:
                page.wait_for_function(PICKED, arg=[item["linkId"], code], timeout=2000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise AssertionError(f"{item['linkId']}: LHC-Forms did not take {displays[code]!r}") from None
    if item.get("repeats"):
        page.keyboard.press("Escape")


def _fill(page: Any, questionnaire: dict[str, Any], answers: dict[str, Any]) -> None:
    """Answer through LHC-Forms' widgets, in questionnaire order (so each follow-up question has appeared): option
    lists for choices, typing for integers and text, the "Not known" boolean sibling for an unknown value."""
    for item in _questions(questionnaire["item"]):
        link_id = item["linkId"]
        if link_id not in answers:
            continue
        value = answers[link_id]
        if item["type"] == "choice":
            _choose(page, item, value if isinstance(value, list) else [value])
        elif value == UNKNOWN and item["type"] in ("integer", "date", "string", "text"):
            page.locator(f'[id="{link_id}{UNKNOWN_SUFFIX}/1/1|true"]').click()
        elif item["type"] == "boolean":
            page.locator(f'[id="{link_id}/1/1|{"true" if value else "false"}"]').click()
        elif item["type"] == "date":  # LHC-Forms' date picker takes MM/DD/YYYY
            year, month, day = value.split("-")
            page.locator(f"{_widget(link_id)} input").fill(f"{month}/{day}/{year}")
            page.keyboard.press("Enter")
        elif item["type"] in ("integer", "string", "text"):
            page.locator(_widget(link_id)).fill(str(value))
        else:
            raise AssertionError(f"{link_id}: no way to fill a {item['type']} item")


def _rendered_questions(page: Any) -> set[str]:
    """The linkIds of the questions LHC-Forms shows: it renders an enabled item as a visible `lhc-item` with id
    `item-<linkId>/1/1` and removes a disabled one from the page."""
    ids: list[str] = page.evaluate(
        "() => [...document.querySelectorAll('lhc-item')].filter(e => e.checkVisibility()).map(e => e.id)"
    )
    return {re.sub(r"^item-|(/\d+)+$", "", element_id) for element_id in ids}


def _export(page: Any) -> dict[str, Any]:
    response: dict[str, Any] = page.evaluate(
        "() => LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', document.getElementById('form'))"
    )
    return response


# --- what the engine says ------------------------------------------------------------------------------------


def _has_unknown_sibling(item: Item) -> bool:
    return isinstance(item, IntegerItem | DateItem | TextItem) and item.allow_unknown


def _shown_for(questionnaire: Questionnaire, answers: dict[str, Any]) -> set[str]:
    """The linkIds a renderer must show for these answers: every item the engine asks (its enable_when holds, read
    as the answer check reads it), with the "Not known" sibling of an item that may be unknown; the typed item
    itself is disabled while its sibling says "Not known"."""
    shown: set[str] = set()
    for requirement in item_requirements(questionnaire, {}):
        item = requirement.item
        if requirement.enable_when is not None and not holds(requirement.enable_when, answers, {}):
            continue
        if not (_has_unknown_sibling(item) and answers.get(item.id) == UNKNOWN):
            shown.add(item.id)
        if _has_unknown_sibling(item):
            shown.add(f"{item.id}{UNKNOWN_SUFFIX}")
    return shown


def _answers_in(response: dict[str, Any], repeating: set[str]) -> dict[str, Any]:
    """The answers a QuestionnaireResponse carries, keyed by linkId (codes for codings, a list for a `repeating`
    item, the sibling's true as "unknown" on its item), for checking what was filled in."""
    found: dict[str, Any] = {}
    for item in _response_items(response.get("item", [])):
        values = [next(v for k, v in answer.items() if k.startswith("value")) for answer in item.get("answer", [])]
        values = [value["code"] if isinstance(value, dict) else value for value in values]
        if item["linkId"].endswith(UNKNOWN_SUFFIX):
            if values == [True]:
                typed = item["linkId"].removesuffix(UNKNOWN_SUFFIX)
                assert typed not in found, f"{typed}: a value and 'Not known' both exported"
                found[typed] = UNKNOWN
        elif values:
            found[item["linkId"]] = values if item["linkId"] in repeating else values[0]
    return found


def _response_items(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        if "answer" in item:
            yield item
        yield from _response_items(item.get("item", []))


RESULT_FIELDS = sorted(Result.model_fields)


@pytest.mark.parametrize("name", sorted(VIGNETTES))
def test_lhc_forms_renders_fills_and_exports_what_the_engine_scores(
    name: str,
    server: tuple[str, str, str],
    form_page: Any,
    exported: tuple[dict[str, Any], Questionnaire],
) -> None:
    base, key, identifier_system = server
    fhir_questionnaire, questionnaire = exported
    all_questions = {item["linkId"] for item in _questions(fhir_questionnaire["item"])}
    repeating = {item["linkId"] for item in _questions(fhir_questionnaire["item"]) if item.get("repeats")}
    assert all_questions == {item.id for item in questionnaire.items} | {
        f"{item.id}{UNKNOWN_SUFFIX}" for item in questionnaire.items if _has_unknown_sibling(item)
    }, "the export has one question per item, and a sibling per item that may be unknown"
    form_page.evaluate("q => LForms.Util.addFormToPage(q, 'form', {fhirVersion: 'R4'})", fhir_questionnaire)
    answers: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "nurse-lforms"}
    with httpx.Client(base_url=base, headers=headers, timeout=20) as http:
        for step, more_answers in enumerate(VIGNETTES[name]):
            answers = {**answers, **more_answers}
            _fill(form_page, fhir_questionnaire, more_answers)

            shown = _rendered_questions(form_page) & all_questions
            asked = _shown_for(questionnaire, answers)
            assert shown - asked == set(), f"{name}: LHC-Forms shows what the engine does not ask"
            assert asked - shown == set(), f"{name}: LHC-Forms hides what the engine asks"
            if name != "V3":
                hidden = all_questions - shown
                assert {"image_recipient", "sextortion_demand"} <= hidden, "follow-up questions of a 'no' are hidden"

            response = _export(form_page)
            assert response["resourceType"] == "QuestionnaireResponse"
            assert response["questionnaire"] == f"{fhir_questionnaire['url']}|{fhir_questionnaire['version']}"
            assert _answers_in(response, repeating) == answers, "what LHC-Forms exports is what was filled in"
            # LHC-Forms names a subject only by a literal reference to a resource it is given; the server takes the
            # organisation's own case-id identifier, so the test sets that and nothing else.
            assert "subject" not in response
            subject_ref = f"lforms-{name}-{step}"
            response["subject"] = {"identifier": {"system": identifier_system, "value": subject_ref}}

            from_form = http.post(
                "/v1/assessments",
                content=json.dumps(response),
                headers={"Content-Type": FHIR_JSON, "Accept": "application/json"},
            )
            assert from_form.status_code == 201, from_form.text
            from_json = http.post(
                "/v1/assessments",
                json={
                    "questionnaire": {"key": QUESTIONNAIRE_KEY, "version": QUESTIONNAIRE_VERSION},
                    "subject_ref": f"{subject_ref}-json",
                    "answers": answers,
                },
            )
            assert from_json.status_code == 201, from_json.text
            form_result, json_result = from_form.json(), from_json.json()
            if step == 0:  # the vignette as shipped: the result its embedded test expects
                expected = SHIPPED_TESTS[name]["expect"]
                assert form_result["level"] == expected["level"]
                assert sorted(trigger["id"] for trigger in form_result["triggers"]) == sorted(expected["triggers"])
                assert set(expected["actions_include"]) <= {action["id"] for action in form_result["actions"]}
            assert form_result["subject_ref"] == subject_ref
            assert form_result["ruleset"] == json_result["ruleset"]
            for field in RESULT_FIELDS:
                assert form_result.get(field) == json_result.get(field), f"{name}: {field} differs"
            stored = http.get(f"/v1/assessments/{form_result['id']}", params={"include": "answers"})
            assert stored.status_code == 200, stored.text
            assert stored.json()["answers"] == answers

        if name == "V3":
            # LHC-Forms does not implement SDC optionExclusive: "Not known" can be picked beside another option of a
            # multiple choice. The server refuses that answer (422 naming the item) and stores nothing.
            item = next(
                item for item in _questions(fhir_questionnaire["item"]) if item["linkId"] == "sextortion_demand"
            )
            _choose(form_page, item, [UNKNOWN])
            response = _export(form_page)
            assert _answers_in(response, repeating)["sextortion_demand"] == ["money_or_gift_cards", UNKNOWN]
            response["subject"] = {"identifier": {"system": identifier_system, "value": "lforms-V3-exclusive"}}
            refused = http.post("/v1/assessments", content=json.dumps(response), headers={"Content-Type": FHIR_JSON})
            assert refused.status_code == 422, refused.text
            assert "sextortion_demand" in refused.text
            listed = http.get("/v1/assessments", params={"subject_ref": "lforms-V3-exclusive"})
            assert listed.status_code == 200, listed.text
            assert listed.json()["items"] == []


# --- every form of condition, in a questionnaire of its own --------------------------------------------------

YES_NO = {"type": "yes_no_unknown", "section": "s"}
CONDITIONS: dict[str, dict[str, Any]] = {
    "when_eq": {"q": "a", "eq": "yes"},
    "when_ne": {"q": "a", "ne": "yes"},
    "when_in": {"q": "b", "in": ["x", "y"]},
    "when_not_in": {"q": "b", "not_in": ["x"]},
    "when_answered": {"q": "b", "answered": True},
    "when_unanswered": {"q": "b", "unanswered": True},
    "when_is_unknown": {"q": "n", "is_unknown": True},
    "when_gt": {"q": "n", "gt": 12},
    "when_between": {"q": "n", "between": [5, 10]},
    "when_contains": {"q": "c", "contains": "p"},
    "when_contains_any": {"q": "c", "contains_any": ["p", "q"]},
    "when_not": {"not": {"q": "a", "eq": "yes"}},
    "when_not_any": {"not": {"any": [{"q": "a", "eq": "yes"}, {"q": "b", "eq": "x"}]}},
    "when_all": {"all": [{"q": "a", "eq": "yes"}, {"q": "b", "eq": "x"}]},
    "when_any": {"any": [{"q": "a", "eq": "yes"}, {"q": "n", "gt": 12}]},
    "when_two_of_three": {
        "at_least": 2,
        "of": [{"q": "a", "eq": "yes"}, {"q": "b", "eq": "x"}, {"q": "c", "contains": "p"}],
    },
    "when_all_of_any": {"all": [{"any": [{"q": "a", "eq": "yes"}, {"q": "b", "eq": "y"}]}, {"q": "n", "lt": 10}]},
    "when_days_apart": {"days_between": {"from": "d1", "to": "d2"}, "gt": 30},
}
CONDITIONS_QUESTIONNAIRE = {
    "key": "conditions",
    "version": 1,
    "title": "Every form of condition",
    "sections": [{"id": "s", "title": "Conditions"}],
    "items": [
        {"id": "a", **YES_NO, "question": "A?"},
        {
            "id": "b",
            "type": "single_choice",
            "section": "s",
            "question": "B?",
            "options": [{"code": code, "label": code.upper()} for code in ("x", "y", "z", UNKNOWN)],
        },
        {
            "id": "c",
            "type": "multi_choice",
            "section": "s",
            "question": "C?",
            "options": [{"code": code, "label": code.upper()} for code in ("p", "q", UNKNOWN)],
        },
        {"id": "n", "type": "integer", "section": "s", "question": "N?", "min": 0, "max": 20, "allow_unknown": True},
        {"id": "d1", "type": "date", "section": "s", "question": "From?"},
        {"id": "d2", "type": "date", "section": "s", "question": "To?"},
        {
            "id": "m",
            "type": "integer",
            "section": "s",
            "question": "M?",
            "allow_unknown": True,
            "enable_when": {"q": "a", "eq": "yes"},
        },
        *(
            {"id": item_id, **YES_NO, "question": f"{item_id}?", "enable_when": when}
            for item_id, when in CONDITIONS.items()
        ),
    ],
}
ANSWER_SETS = [
    {},
    {"a": "yes", "b": "x", "c": ["p"], "n": 15, "d1": "2026-01-01", "d2": "2026-03-01", "m": 4},
    {"a": "no", "b": "y", "c": ["q"], "n": UNKNOWN},
    {"a": UNKNOWN, "b": UNKNOWN, "c": [UNKNOWN], "n": 7, "d1": "2026-01-01", "d2": "2026-01-10"},
    {"a": "yes", "b": "z", "c": ["p", "q"], "n": 3, "m": UNKNOWN},
]


@pytest.mark.parametrize("answers", ANSWER_SETS, ids=[f"answers{number}" for number in range(len(ANSWER_SETS))])
def test_lhc_forms_enables_what_the_engine_asks_for_every_form_of_condition(
    answers: dict[str, Any], form_page: Any
) -> None:
    questionnaire = parse_questionnaire(CONDITIONS_QUESTIONNAIRE)
    resource = questionnaire_resource(
        questionnaire, item_requirements(questionnaire, {}), base=SHIPPED_CANONICAL_BASE, status="published"
    )
    form_page.evaluate("q => LForms.Util.addFormToPage(q, 'form', {fhirVersion: 'R4'})", resource)
    _fill(form_page, resource, answers)
    all_questions = {item["linkId"] for item in _questions(resource["item"])}
    shown = _rendered_questions(form_page) & all_questions
    asked = _shown_for(questionnaire, answers)
    assert shown - asked == set(), "LHC-Forms shows what the engine does not ask"
    assert asked - shown == set(), "LHC-Forms hides what the engine asks"
    repeating = {item["linkId"] for item in _questions(resource["item"]) if item.get("repeats")}
    assert _answers_in(_export(form_page), repeating) == answers
