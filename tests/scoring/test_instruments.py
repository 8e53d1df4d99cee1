"""Published instruments expressed in the language, tested at every published threshold."""

from __future__ import annotations

from typing import Any

import pytest

from app.scoring import CompiledRuleSet, run_tests

PHQ9_POINTS = ["not_at_all", "several_days", "more_than_half", "nearly_every_day"]


def phq9_answers(compiled: CompiledRuleSet, total: int, item9: int = 0) -> dict[str, Any]:
    """Answers whose PHQ-9 total is `total`, with item 9 scored `item9`."""
    items = [item.id for item in compiled.questionnaire.items][:9]
    remaining = total - item9
    answers: dict[str, Any] = {}
    for item_id in items[:8]:
        points = min(3, remaining)
        answers[item_id] = PHQ9_POINTS[points]
        remaining -= points
    assert remaining == 0
    answers[items[8]] = PHQ9_POINTS[item9]
    if total:
        answers["functional_difficulty"] = "somewhat"
    return answers


@pytest.mark.parametrize(
    ("total", "level"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (24, "severe"),
    ],
)
def test_phq9_severity_bands(phq9: CompiledRuleSet, total: int, level: str) -> None:
    result = phq9.evaluate(phq9_answers(phq9, total))
    assert result["scores"]["total"] == total
    assert result["level"] == level
    assert result["triggers"] == []


def test_phq9_maximum_is_27_and_severe(phq9: CompiledRuleSet) -> None:
    result = phq9.evaluate(phq9_answers(phq9, 27, item9=3))
    assert (result["scores"]["total"], result["level"]) == (27, "severe")


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_phq9_item9_above_zero_is_flagged_without_changing_the_band(phq9: CompiledRuleSet, item9: int) -> None:
    result = phq9.evaluate(phq9_answers(phq9, 4, item9=item9))
    assert [t["id"] for t in result["triggers"]] == ["self_harm_thoughts_reported"]
    assert result["level"] == "minimal"
    assert result["actions"][0]["id"] == "assess_suicide_risk"
    assert result["reasons"][0]["rule_id"] == "self_harm_thoughts_reported"


def test_phq9_item9_zero_is_not_flagged(phq9: CompiledRuleSet) -> None:
    assert phq9.evaluate(phq9_answers(phq9, 12))["triggers"] == []


def test_phq9_functional_item_only_when_a_symptom_is_present(phq9: CompiledRuleSet) -> None:
    answers = phq9_answers(phq9, 0)
    answers["functional_difficulty"] = "very"
    issues = phq9.validate_answers(answers)
    assert [issue.pointer for issue in issues] == ["/functional_difficulty"]


DASH_ITEMS = 24


def dash_answers(compiled: CompiledRuleSet, yes: int, **extra: Any) -> dict[str, Any]:
    items = [item.id for item in compiled.questionnaire.items][:DASH_ITEMS]
    answers: dict[str, Any] = {item_id: "yes" if index < yes else "no" for index, item_id in enumerate(items)}
    answers["professional_judgement_high"] = "no"
    answers.update(extra)
    return answers


@pytest.mark.parametrize(
    ("yes", "level"),
    [(0, "standard"), (1, "standard"), (9, "standard"), (10, "medium"), (13, "medium"), (14, "high"), (24, "high")],
)
def test_dash_thresholds(dash: CompiledRuleSet, yes: int, level: str) -> None:
    result = dash.evaluate(dash_answers(dash, yes))
    assert result["scores"]["yes_count"] == yes
    assert result["level"] == level
    assert ("refer_marac" in {a["id"] for a in result["actions"]}) == (level == "high")


def test_dash_not_known_is_not_yes(dash: CompiledRuleSet) -> None:
    answers = dash_answers(dash, 13)
    first_no = next(key for key, value in answers.items() if value == "no")
    answers[first_no] = "unknown"
    result = dash.evaluate(answers)
    assert (result["scores"]["yes_count"], result["level"]) == (13, "medium")
    assert result["information_gaps"] == [first_no]


def test_dash_professional_judgement_raises_to_high(dash: CompiledRuleSet) -> None:
    result = dash.evaluate(dash_answers(dash, 2, professional_judgement_high="yes"))
    assert result["level"] == "high"
    assert [floor["id"] for floor in result["floors_applied"]] == ["professional_judgement"]


@pytest.mark.parametrize(("callouts", "level"), [(2, "standard"), (3, "high")])
def test_dash_escalation_at_three_police_callouts(dash: CompiledRuleSet, callouts: int, level: str) -> None:
    assert dash.evaluate(dash_answers(dash, 0, police_callouts_12_months=callouts))["level"] == level


@pytest.mark.parametrize("name", ["phq9", "dash"])
def test_embedded_tests_pass(name: str, request: pytest.FixtureRequest) -> None:
    compiled: CompiledRuleSet = request.getfixturevalue(name)
    outcomes = run_tests(compiled)
    assert outcomes
    assert all(outcome.passed for outcome in outcomes), outcomes
