"""docs/authoring.md runs, and its worked instrument (docs/examples/phq9.*.yaml) holds.

The PHQ-9 files are parsed, checked, compiled and their embedded tests run here, without a server; the guide runs
every block of its own in order against a real server seeded as `make run` seeds it (test_integration_guide.py
has the rules, tests/runnable_docs.py the runner), drafting, validating and publishing the same files over HTTP.
A block of the guide marked as an excerpt of an example file must appear in that file as it stands.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.scoring import (
    CompiledRuleSet,
    RuleSet,
    check,
    compile_ruleset,
    load_document,
    parse_questionnaire,
    parse_ruleset,
    run_tests,
)
from app.scoring.models import PointsTerm
from tests.runnable_docs import scan
from tests.servers import ROOT
from tests.test_integration_guide import run_in_checkout
from tests.test_openapi_examples import Served, served  # noqa: F401  (the fixture)

GUIDE = ROOT / "docs" / "authoring.md"
EXAMPLES = ROOT / "docs" / "examples"
QUESTIONNAIRE_FILE = EXAMPLES / "phq9.questionnaire.yaml"
RULESET_FILE = EXAMPLES / "phq9.ruleset.yaml"
# A block may take this long: `riskapi` starts the whole application (seconds, more on a loaded machine).
BLOCK_TIMEOUT = 120
EXCERPT = re.compile(r"^excerpt of (?P<path>docs/examples/\S+)$")

# Each step of the workflow, shown by a block that runs.
STEPS = [
    "riskapi rules check",
    "riskapi rules test",
    "/v1/questionnaires/phq-9/versions",
    "/v1/questionnaires/phq-9/versions/1/validate",
    "/v1/questionnaires/phq-9/versions/1/publish",
    "/v1/rulesets/phq-9-screening/versions",
    "/v1/rulesets/phq-9-screening/versions/1/validate",
    "/v1/rulesets/phq-9-screening/versions/1/evaluate",
    '{"make_current": true}',
    "/v1/rulesets/phq-9-screening/diff?from=1&to=2",
    "/v1/rulesets/phq-9-screening/versions/2/impact",
    "/v1/organisation/current-rulesets",
    "/v1/rulesets/phq-9-screening/versions/1/retire",
    "/v1/rulesets/validate",
    "riskapi content questionnaire draft",
    "riskapi content questionnaire publish",
    "riskapi content ruleset draft",
    "riskapi content ruleset validate",
    "riskapi content ruleset impact",
    "--make-current",
    "riskapi content ruleset make-current",
    "riskapi content ruleset retire",
    "riskapi content questionnaire retire",
]


@pytest.fixture(scope="module")
def phq9() -> CompiledRuleSet:
    return compile_ruleset(
        parse_ruleset(load_document(RULESET_FILE)), parse_questionnaire(load_document(QUESTIONNAIRE_FILE))
    )


def test_the_phq9_example_passes_the_static_checks_and_every_embedded_test(phq9: CompiledRuleSet) -> None:
    questionnaire = parse_questionnaire(load_document(QUESTIONNAIRE_FILE))
    ruleset = parse_ruleset(load_document(RULESET_FILE))
    assert check(ruleset, questionnaire) == []
    outcomes = run_tests(phq9)
    assert [(outcome.name, outcome.failures) for outcome in outcomes if not outcome.passed] == []
    assert len(outcomes) == len(ruleset.tests) >= 10


def _score_items(ruleset: RuleSet, score_id: str) -> set[str]:
    (score,) = [score for score in ruleset.scores if score.id == score_id]
    return {term.q for term in score.terms or [] if isinstance(term, PointsTerm)}


def test_the_phq9_tests_cover_what_the_guide_promises() -> None:
    """A test per score band and per level, the prorated case, item 9 urgent at a low total, and a must-not."""
    ruleset = parse_ruleset(load_document(RULESET_FILE))
    (total,) = [score for score in ruleset.scores if score.id == "phq9"]
    assert (total.kind, total.min_answered, total.rounding) == ("prorated", 7, "half_up")
    expectations = [test.expect for test in ruleset.tests]
    assert {code for e in expectations for code in (e.score_bands or {}).values()} == {
        band.code for band in total.bands or []
    }
    assert {e.level for e in expectations} == set(ruleset.levels)
    items = _score_items(ruleset, "phq9")
    assert len(items) == 9
    prorated = [test for test in ruleset.tests if len(items - test.answers.keys()) == 2]
    assert prorated, "no test leaves two items out"
    urgent_low = [e for e in expectations if e.level == "urgent" and (e.score_bands or {}).get("phq9") == "minimal"]
    assert urgent_low, "no test of item 9 at a minimal total"
    assert any(e.actions_exclude for e in expectations), "no must-not test"
    assert all(band.reason and band.source for band in [*ruleset.bands, *(total.bands or [])])


def test_the_phq9_urgent_level_keeps_the_severity_band(phq9: CompiledRuleSet) -> None:
    answers = dict.fromkeys(_score_items(phq9.ruleset, "phq9"), "not_at_all")
    result = phq9.evaluate({**answers, "phq9_9_self_harm": "nearly_every_day", "functional_difficulty": "somewhat"})
    assert (result["level"], result["scores"]["phq9"], result["score_bands"]["phq9"]["code"]) == (
        "urgent",
        3,
        "minimal",
    )
    assert "repeat_phq9" not in {action["id"] for action in result["actions"]}


def test_the_guide_excerpts_are_in_the_example_files() -> None:
    blocks = scan(GUIDE.read_text(encoding="utf-8"), "docs/authoring.md")
    excerpts = [(block, EXCERPT.match(block.not_run or "")) for block in blocks]
    found = [(block, match["path"]) for block, match in excerpts if match is not None]
    assert len(found) >= 5
    for block, path in found:
        assert block.body in (ROOT / path).read_text(encoding="utf-8"), (
            f"docs/authoring.md:{block.line}: the excerpt is not in {path} as it stands"
        )


# The guide's calls do not depend on the database behind the API (the API tests cover both); it starts its own
# server and runs a minute or more: SQLite only, to keep `make test` within its budget.
@pytest.mark.parametrize("served", ["sqlite"], indirect=True)
def test_the_authoring_guide_runs_against_a_real_server(served: Served, tmp_path: Path) -> None:  # noqa: F811
    ran = run_in_checkout(GUIDE, served, tmp_path, timeout=BLOCK_TIMEOUT)
    executed = "".join(item.block.body for item in ran)
    not_executed = [step for step in STEPS if step not in executed]
    assert not not_executed, f"the guide no longer runs these steps: {not_executed}"
