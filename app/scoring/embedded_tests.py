"""Runs the test cases a rule set carries (they must all pass before a version is published)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.scoring.budget import StepBudget, unlimited
from app.scoring.errors import AnswerError
from app.scoring.evaluator import CompiledRuleSet
from app.scoring.models import EmbeddedTest


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest test class

    name: str
    passed: bool
    failures: list[str] = field(default_factory=list)


def run_tests(compiled: CompiledRuleSet, budget: StepBudget | None = None) -> list[TestOutcome]:
    """Each test's outcome; raises `WorkLimitExceeded` before a test whose evaluation would pass the budget."""
    budget = budget or unlimited()
    outcomes = []
    for index, test in enumerate(compiled.ruleset.tests):
        budget.spend(compiled.evaluation_steps, f"/tests/{index}")
        outcomes.append(_run(compiled, test))
    return outcomes


def _run(compiled: CompiledRuleSet, test: EmbeddedTest) -> TestOutcome:
    try:
        result = compiled.evaluate(test.answers)
    except AnswerError as exc:
        return TestOutcome(test.name, False, [f"invalid answers: {issue}" for issue in exc.issues])
    expect = test.expect
    failures = []
    if expect.level is not None and result["level"] != expect.level:
        failures.append(f"level: expected {expect.level}, got {result['level']}")
    for name, key in (("triggers", "triggers"), ("floors", "floors_applied")):
        wanted = getattr(expect, name)
        if wanted is None:
            continue
        got = sorted(entry["id"] for entry in result[key])
        if sorted(wanted) != got:
            failures.append(f"{name}: expected {sorted(wanted)}, got {got}")
    got_actions = {action["id"] for action in result["actions"]}
    if expect.actions_include is not None:
        missing = [action for action in expect.actions_include if action not in got_actions]
        if missing:
            failures.append(f"actions: missing {missing} (got {sorted(got_actions)})")
    for action in expect.actions_exclude or []:
        if action in got_actions:
            failures.append(f"actions: must not recommend {action} (it was recommended)")
    for score, value in (expect.scores or {}).items():
        if result["scores"].get(score) != value:
            failures.append(f"score {score}: expected {value}, got {result['scores'].get(score)}")
    for score, code in (expect.score_bands or {}).items():
        band = result["score_bands"].get(score)
        reached = band["code"] if band is not None else None
        if reached != code:
            failures.append(f"score band {score}: expected {code}, got {reached}")
    gaps = result["information_gaps"]
    if expect.information_gaps is not None and sorted(expect.information_gaps) != sorted(gaps):
        failures.append(f"information_gaps: expected {sorted(expect.information_gaps)}, got {sorted(gaps)}")
    missing_gaps = [item for item in expect.information_gaps_include or [] if item not in gaps]
    if missing_gaps:
        failures.append(f"information_gaps: missing {missing_gaps} (got {sorted(gaps)})")
    reasons = {reason["rule_id"] for reason in result["reasons"]}
    missing_reasons = [rule for rule in expect.reasons_include or [] if rule not in reasons]
    if missing_reasons:
        failures.append(f"reasons: missing {missing_reasons} (got {sorted(reasons)})")
    notices = sorted(notice["code"] for notice in result["notices"])
    if expect.notices is not None and sorted(expect.notices) != notices:
        failures.append(f"notices: expected {sorted(expect.notices)}, got {notices}")
    return TestOutcome(test.name, not failures, failures)
