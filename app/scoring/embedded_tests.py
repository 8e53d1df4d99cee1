"""Runs the test cases a rule set carries (they must all pass before a version is published)."""

from __future__ import annotations

import json
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
    failures: list[str] = []
    if expect.level is not None and result["level"] != expect.level:
        failures.append(f"level: expected {expect.level}, got {result['level']}")
    fired = {
        "triggers": [entry["id"] for entry in result["triggers"]],
        "floors": [entry["id"] for entry in result["floors_applied"]],
        "information_gaps": result["information_gaps"],
        "notices": [notice["code"] for notice in result["notices"]],
    }
    for name, got in fired.items():
        wanted = getattr(expect, name)
        if wanted is not None and sorted(wanted) != sorted(got):
            failures.append(f"{name}: expected {_ids(sorted(wanted))}, got {_ids(sorted(got))}")
    actions = [action["id"] for action in result["actions"]]
    for name, wanted, got in (
        ("actions", expect.actions_include, actions),
        ("information_gaps", expect.information_gaps_include, result["information_gaps"]),
        ("reasons", expect.reasons_include, [reason["rule_id"] for reason in result["reasons"]]),
    ):
        missing = [ident for ident in wanted or [] if ident not in got]
        if missing:
            failures.append(f"{name}: missing {_ids(missing)} (got {_ids(sorted(set(got)))})")
    for action in expect.actions_exclude or []:
        if action in actions:
            failures.append(f"actions: must not recommend {action} (it was recommended)")
    for score, value in (expect.scores or {}).items():
        if result["scores"].get(score) != value:
            failures.append(f"score {score}: expected {value}, got {json.dumps(result['scores'].get(score))}")
    for score, code in (expect.score_bands or {}).items():
        band = result["score_bands"].get(score)
        if band is None or band["code"] != code:
            failures.append(f"score band {score}: expected {code}, got {band['code'] if band else 'no band'}")
    return TestOutcome(test.name, not failures, failures)


def _ids(ids: list[str]) -> str:
    """A list of ids as a message shows it: in JSON."""
    return json.dumps(ids)
