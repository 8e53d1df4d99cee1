"""The monotonicity proof: each non-monotone construct is refused with the path of the rule that uses it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.scoring import check, parse_questionnaire, parse_ruleset
from tests.scoring.conftest import questionnaire_doc, ruleset_doc
from tests.scoring.test_checker import Doc, ruleset_issues


def floor_when(condition: dict[str, Any]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["floors"][1]["when"] = condition

    return mutate


@pytest.mark.parametrize(
    ("condition", "pointer", "fragment"),
    [
        ({"not": {"q": "meeting", "eq": "occurred"}}, "/floors/1/when/not", "`not`"),
        ({"q": "contact_unknown_adult", "ne": "yes"}, "/floors/1/when/ne", 'its least concerning answer "no"'),
        ({"q": "meeting", "ne": "planned"}, "/floors/1/when/ne", 'its least concerning answer "no"'),
        ({"q": "has_trusted_adult", "ne": True}, "/floors/1/when/ne", "its least concerning answer false"),
        ({"q": "missing_episodes", "ne": 50}, "/floors/1/when/ne", "its least concerning value 0 (min"),
        ({"q": "child_age_years", "ne": 0}, "/floors/1/when/ne", "its least concerning value 17 (max"),
        ({"q": "assessment_date", "ne": "2020-01-01"}, "/floors/1/when/ne", "a date has no least concerning"),
        ({"q": "meeting", "not_in": ["no"]}, "/floors/1/when/not_in", "`not_in`"),
        ({"q": "meeting", "unanswered": True}, "/floors/1/when/unanswered", "`unanswered`"),
        ({"q": "meeting", "is_unknown": True}, "/floors/1/when/is_unknown", "`is_unknown`"),
        ({"q": "meeting", "eq": "planned"}, "/floors/1/when/eq", "not the top of the risk order"),
        ({"q": "meeting", "in": ["no", "occurred"]}, "/floors/1/when/in", "not the top of the risk order"),
        ({"q": "contact_unknown_adult", "eq": "no"}, "/floors/1/when/eq", "not the top"),
        ({"q": "has_trusted_adult", "eq": False}, "/floors/1/when/eq", "not the top"),
        ({"q": "child_age_years", "gt": 12}, "/floors/1/when/gt", "risk order is falling"),
        ({"q": "missing_episodes", "lt": 3}, "/floors/1/when/lt", "risk order is rising"),
        ({"q": "missing_episodes", "between": [3, 10]}, "/floors/1/when/between", "every value beyond"),
        ({"q": "missing_episodes", "eq": 3}, "/floors/1/when/eq", "every value beyond"),
        ({"score": "total", "lt": 3}, "/floors/1/when/lt", "gt or gte"),
        ({"q": "notes", "answered": True, "_": None}, "", ""),
        (
            {"years_between": {"from": "date_of_birth", "to": "assessment_date"}, "gt": 13},
            "/floors/1/when/gt",
            "years_between",
        ),
        ({"q": "secrecy_requested", "eq": "yes", "_risk_order": None}, "", ""),
    ],
)
def test_non_monotone_constructs(condition: dict[str, Any], pointer: str, fragment: str) -> None:
    clean = {key: value for key, value in condition.items() if not key.startswith("_")}
    issues = ruleset_issues(floor_when(clean), monotone=True)
    if not pointer:
        assert issues == []
        return
    assert [issue.pointer for issue in issues] == [pointer], issues
    assert fragment in issues[0].message
    assert "floor 'F_many_platforms'" in issues[0].message


@pytest.mark.parametrize(
    "condition",
    [
        {"q": "meeting", "eq": "occurred"},
        {"q": "meeting", "in": ["planned", "occurred"]},
        {"q": "child_age_years", "lte": 12},
        {"q": "child_age_years", "eq": 0},
        {"q": "missing_episodes", "between": [3, 50]},
        {"q": "missing_episodes", "in": [49, 50]},
        {"score": "total", "gte": 3},
        {"q": "platforms", "contains_any": ["social", "gaming"]},
        {"q": "contact_unknown_adult", "ne": "no"},
        {"q": "meeting", "ne": "no"},
        {"q": "has_trusted_adult", "ne": False},
        {"q": "missing_episodes", "ne": 0},
        {"q": "child_age_years", "ne": 17},
        {"all": [{"q": "meeting", "ne": "no"}, {"q": "image_shared", "ne": "none"}]},
        {
            "any": [
                {"q": "meeting", "eq": "occurred"},
                {"at_least": 1, "of": [{"q": "platforms", "contains": "social"}]},
            ]
        },
    ],
)
def test_monotone_constructs_pass(condition: dict[str, Any]) -> None:
    assert ruleset_issues(floor_when(condition), monotone=True) == []


def test_not_is_allowed_when_monotonicity_is_not_claimed() -> None:
    assert ruleset_issues(floor_when({"not": {"q": "meeting", "eq": "occurred"}}), monotone=False) == []


def test_item_without_risk_order_is_refused() -> None:
    def mutate(doc: Doc) -> None:
        del doc["risk_order"]["meeting"]

    issues = ruleset_issues(mutate, monotone=True)
    assert [i.pointer for i in issues] == ["/triggers/0/when/eq"]
    assert "no risk_order entry" in issues[0].message


def test_points_that_fall_along_the_order_are_refused() -> None:
    def mutate(doc: Doc) -> None:
        doc["scores"][0]["terms"][3]["points"] = {"shared_by_child": 3, "shared_by_other": 1}

    issues = ruleset_issues(mutate, monotone=True)
    assert [i.pointer for i in issues] == ["/scores/0/terms/3/points"]
    assert "term 'images' of score 'total'" in issues[0].message


def test_bands_whose_level_falls_are_refused() -> None:
    def mutate(doc: Doc) -> None:
        doc["bands"][1]["level"] = "high"
        doc["bands"][2]["level"] = "medium"

    issues = ruleset_issues(mutate, monotone=True)
    assert [i.pointer for i in issues] == ["/bands/2/level"]


def test_reporting_scores_outside_the_level_are_not_constrained() -> None:
    def mutate(doc: Doc) -> None:
        doc["scores"].append(
            {
                "id": "calm",
                "purpose": "reporting",
                "terms": [{"id": "calm_no_meeting", "when": {"not": {"q": "meeting", "eq": "occurred"}}, "add": 1}],
            }
        )

    assert ruleset_issues(mutate, monotone=True) == []


def test_ne_on_an_integer_without_a_least_value_is_refused() -> None:
    """A rising item needs a `min` for `ne` to name its least concerning value."""
    questionnaire = questionnaire_doc()
    del questionnaire["items"][-1]["min"]  # missing_episodes, rising
    ruleset = ruleset_doc()
    ruleset["floors"][1]["when"] = {"q": "missing_episodes", "ne": 0}
    issues = check(parse_ruleset(ruleset), parse_questionnaire(questionnaire))
    assert [issue.pointer for issue in issues] == ["/floors/1/when/ne"]
    assert "needs a min" in issues[0].message


def test_proof_is_deterministic() -> None:
    def mutate(doc: Doc) -> None:
        doc["floors"][0]["when"] = {"not": {"q": "meeting", "ne": "planned"}}
        doc["triggers"][1]["when"] = {"q": "child_age_years", "gt": 3}

    first = ruleset_issues(mutate, monotone=True)
    assert first == ruleset_issues(mutate, monotone=True)
    assert [i.pointer for i in first] == ["/triggers/1/when/gt", "/floors/0/when/not", "/floors/0/when/not/ne"]
