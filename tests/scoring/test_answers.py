"""Answer validation: every problem at once, each with its JSON pointer."""

from __future__ import annotations

from typing import Any

import pytest

from app.scoring import AnswerError, CompiledRuleSet, Issue
from tests.scoring.conftest import answers


def pointers(compiled: CompiledRuleSet, given: object) -> list[str]:
    return [issue.pointer for issue in compiled.validate_answers(given)]


def test_valid_answers_have_no_issues(mini: CompiledRuleSet) -> None:
    assert mini.validate_answers(answers()) == []


@pytest.mark.parametrize(
    ("changes", "pointer", "fragment"),
    [
        ({"nonsense": 1}, "/nonsense", "unknown item"),
        ({"contact_unknown_adult": True}, "/contact_unknown_adult", '"yes", "no" or "unknown"'),
        ({"contact_unknown_adult": "maybe"}, "/contact_unknown_adult", '"yes", "no" or "unknown"'),
        ({"has_trusted_adult": "yes"}, "/has_trusted_adult", "true or false"),
        ({"image_shared": "posted"}, "/image_shared", "not an option"),
        ({"platforms": "social"}, "/platforms", "list of option codes"),
        ({"platforms": ["social", "tv"]}, "/platforms/1", "not an option"),
        ({"platforms": ["social", "social"]}, "/platforms/1", "twice"),
        ({"platforms": ["social", "unknown"]}, "/platforms", "only code"),
        ({"child_age_years": 18}, "/child_age_years", "outside the allowed range 0..17"),
        ({"child_age_years": 12.5}, "/child_age_years", "whole number"),
        ({"child_age_years": True}, "/child_age_years", "whole number"),
        ({"child_age_years": "unknown"}, "/child_age_years", "whole number"),
        ({"date_of_birth": "2020-02-30"}, "/date_of_birth", "YYYY-MM-DD"),
        ({"date_of_birth": "01/02/2020"}, "/date_of_birth", "YYYY-MM-DD"),
        ({"notes": "x" * 51}, "/notes", "limit is 50"),
        ({"notes": None}, "/notes", "null is not an answer"),
        ({"child_age_years": None}, "/child_age_years", "required item is missing"),
        ({"meeting": None}, "/meeting", "trigger 'T_meeting' reads it"),
        ({"secrecy_requested": "no"}, "/secrecy_requested", "not asked"),
        ({"contact_unknown_adult": "yes"}, "/missing_episodes", "required_when"),
    ],
)
def test_each_problem(mini: CompiledRuleSet, changes: dict[str, Any], pointer: str, fragment: str) -> None:
    given = answers()
    given.update(changes)
    if changes.get("notes", 1) is not None:
        given = {key: value for key, value in given.items() if value is not None or key == "notes"}
    issues = mini.validate_answers(given)
    assert [issue.pointer for issue in issues] == [pointer], issues
    assert fragment in issues[0].message
    with pytest.raises(AnswerError) as caught:
        mini.evaluate(given)
    assert caught.value.issues == issues


def test_every_problem_is_reported_at_once(mini: CompiledRuleSet) -> None:
    given = {"child_age_years": 40, "contact_unknown_adult": "yes", "secrecy_requested": 3, "extra": 1}
    assert pointers(mini, given) == [
        "/extra",
        "/child_age_years",
        "/secrecy_requested",
        "/image_shared",
        "/meeting",
        "/missing_episodes",
    ]


def test_unknown_is_an_answer(mini: CompiledRuleSet) -> None:
    assert mini.validate_answers(answers(meeting="unknown", image_shared="unknown", missing_episodes="unknown")) == []


def test_answers_must_be_an_object(mini: CompiledRuleSet) -> None:
    assert mini.validate_answers([1, 2]) == [Issue("", "answers must be a JSON object keyed by item id")]


def test_enabled_item_may_be_answered(mini: CompiledRuleSet) -> None:
    given = answers(contact_unknown_adult="yes", secrecy_requested="unknown", missing_episodes=0)
    assert mini.validate_answers(given) == []
