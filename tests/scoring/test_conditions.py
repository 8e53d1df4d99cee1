"""Every operator, through the compiled code and the reference interpreter, which must agree."""

from __future__ import annotations

from typing import Any

import pytest

from app.scoring import compile_ruleset, parse_questionnaire, parse_ruleset
from app.scoring.conditions import holds

OPS_QUESTIONNAIRE: dict[str, Any] = {
    "key": "ops",
    "version": 1,
    "title": "Operators",
    "sections": [{"id": "s", "title": "S"}],
    "items": [
        {"id": "yn", "section": "s", "type": "yes_no_unknown", "question": "?"},
        {"id": "flag", "section": "s", "type": "boolean", "question": "?"},
        {
            "id": "choice",
            "section": "s",
            "type": "single_choice",
            "question": "?",
            "options": [{"code": c, "label": c} for c in ("a", "b", "c", "unknown")],
        },
        {
            "id": "multi",
            "section": "s",
            "type": "multi_choice",
            "question": "?",
            "options": [{"code": c, "label": c} for c in ("x", "y", "z", "unknown")],
        },
        {"id": "num", "section": "s", "type": "integer", "question": "?", "min": 0, "max": 100, "allow_unknown": True},
        {"id": "d1", "section": "s", "type": "date", "question": "?", "allow_unknown": True},
        {"id": "d2", "section": "s", "type": "date", "question": "?"},
        {"id": "txt", "section": "s", "type": "text", "question": "?", "allow_unknown": True},
    ],
}


def fires(condition: dict[str, Any], answers: dict[str, Any]) -> bool:
    ruleset = parse_ruleset(
        {
            "key": "ops-rules",
            "version": 1,
            "title": "t",
            "questionnaire": {"key": "ops", "version": 1},
            "levels": ["low", "high"],
            "disclaimer": "d",
            "scores": [
                {
                    "id": "n",
                    "terms": [{"id": "n_num", "when": {"q": "num", "gte": 0}, "add": 5, "reason": "r", "source": "s"}],
                }
            ],
            "floors": [{"id": "F", "when": condition, "level": "high", "reason": "r", "source": "s"}],
        }
    )
    questionnaire = parse_questionnaire(OPS_QUESTIONNAIRE)
    compiled = compile_ruleset(ruleset, questionnaire)
    result = compiled.evaluate(answers)
    compiled_says = [f["id"] for f in result["floors_applied"]] == ["F"]
    interpreted = holds(ruleset.floors[0].when, answers, result["scores"])
    assert compiled_says == interpreted, (condition, answers)
    return compiled_says


CASES: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    ({"q": "yn", "eq": "yes"}, {"yn": "yes"}, True),
    ({"q": "yn", "eq": "yes"}, {"yn": "no"}, False),
    ({"q": "yn", "eq": "yes"}, {"yn": "unknown"}, False),
    ({"q": "yn", "eq": "no"}, {"yn": "unknown"}, False),  # unknown never counts as no
    ({"q": "yn", "eq": "yes"}, {}, False),
    ({"q": "yn", "ne": "yes"}, {"yn": "no"}, True),
    ({"q": "yn", "ne": "yes"}, {"yn": "unknown"}, False),
    ({"q": "yn", "ne": "yes"}, {}, False),
    ({"q": "flag", "eq": True}, {"flag": True}, True),
    ({"q": "flag", "eq": True}, {"flag": False}, False),
    ({"q": "flag", "eq": False}, {"flag": False}, True),
    ({"q": "flag", "ne": True}, {"flag": False}, True),
    ({"q": "flag", "ne": True}, {}, False),
    ({"q": "choice", "in": ["a", "b"]}, {"choice": "b"}, True),
    ({"q": "choice", "in": ["a", "b"]}, {"choice": "c"}, False),
    ({"q": "choice", "not_in": ["a", "b"]}, {"choice": "c"}, True),
    ({"q": "choice", "not_in": ["a", "b"]}, {"choice": "unknown"}, False),
    ({"q": "choice", "not_in": ["a"]}, {}, False),
    ({"q": "num", "lt": 13}, {"num": 12}, True),
    ({"q": "num", "lt": 13}, {"num": 13}, False),
    ({"q": "num", "lte": 13}, {"num": 13}, True),
    ({"q": "num", "gt": 13}, {"num": 13}, False),
    ({"q": "num", "gte": 13}, {"num": 13}, True),
    ({"q": "num", "lt": 13}, {"num": "unknown"}, False),
    ({"q": "num", "lt": 13}, {}, False),
    ({"q": "num", "between": [10, 12]}, {"num": 10}, True),
    ({"q": "num", "between": [10, 12]}, {"num": 12}, True),
    ({"q": "num", "between": [10, 12]}, {"num": 13}, False),
    ({"q": "num", "eq": 0}, {"num": 0}, True),
    ({"q": "num", "in": [1, 2]}, {"num": 2}, True),
    ({"q": "d1", "lt": "2020-01-01"}, {"d1": "2019-12-31"}, True),
    ({"q": "d1", "lt": "2020-01-01"}, {"d1": "unknown"}, False),
    ({"q": "d1", "between": ["2020-01-01", "2020-12-31"]}, {"d1": "2020-06-01"}, True),
    ({"q": "yn", "answered": True}, {"yn": "unknown"}, True),
    ({"q": "yn", "answered": True}, {}, False),
    ({"q": "yn", "unanswered": True}, {}, True),
    ({"q": "yn", "unanswered": True}, {"yn": "no"}, False),
    ({"q": "yn", "is_unknown": True}, {"yn": "unknown"}, True),
    ({"q": "yn", "is_unknown": True}, {"yn": "no"}, False),
    ({"q": "multi", "is_unknown": True}, {"multi": ["unknown"]}, True),
    ({"q": "num", "is_unknown": True}, {"num": "unknown"}, True),
    ({"q": "txt", "is_unknown": True}, {"txt": "unknown"}, True),
    ({"q": "txt", "answered": True}, {"txt": "anything"}, True),
    ({"q": "multi", "contains": "x"}, {"multi": ["y", "x"]}, True),
    ({"q": "multi", "contains": "x"}, {"multi": []}, False),
    ({"q": "multi", "contains": "x"}, {"multi": ["unknown"]}, False),
    ({"q": "multi", "contains_any": ["x", "z"]}, {"multi": ["z"]}, True),
    ({"q": "multi", "contains_any": ["x", "z"]}, {"multi": ["y"]}, False),
    ({"score": "n", "gte": 5}, {"num": 1}, True),
    ({"score": "n", "gte": 5}, {}, False),
    ({"score": "n", "eq": 0}, {}, True),
    ({"score": "n", "between": [1, 5]}, {"num": 3}, True),
    ({"days_between": {"from": "d1", "to": "d2"}, "gte": 31}, {"d1": "2024-01-01", "d2": "2024-02-01"}, True),
    ({"days_between": {"from": "d1", "to": "d2"}, "gte": 32}, {"d1": "2024-01-01", "d2": "2024-02-01"}, False),
    ({"days_between": {"from": "d1", "to": "d2"}, "gte": 0}, {"d1": "unknown", "d2": "2024-02-01"}, False),
    ({"days_between": {"from": "d1", "to": "d2"}, "gte": 0}, {"d2": "2024-02-01"}, False),
    ({"years_between": {"from": "d1", "to": "d2"}, "lt": 13}, {"d1": "2011-03-02", "d2": "2024-03-01"}, True),
    ({"years_between": {"from": "d1", "to": "d2"}, "lt": 13}, {"d1": "2011-03-01", "d2": "2024-03-01"}, False),
    ({"years_between": {"from": "d1", "to": "d2"}, "eq": 4}, {"d1": "2020-02-29", "d2": "2024-02-29"}, True),
    ({"all": [{"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}]}, {"yn": "yes", "flag": True}, True),
    ({"all": [{"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}]}, {"yn": "yes", "flag": False}, False),
    ({"any": [{"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}]}, {"yn": "no", "flag": True}, True),
    ({"any": [{"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}]}, {}, False),
    ({"not": {"q": "yn", "eq": "yes"}}, {"yn": "no"}, True),
    ({"not": {"q": "yn", "eq": "yes"}}, {"yn": "yes"}, False),
    (
        {"at_least": 2, "of": [{"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}, {"q": "num", "gt": 5}]},
        {"yn": "yes", "num": 6},
        True,
    ),
    (
        {"at_least": 2, "of": [{"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}, {"q": "num", "gt": 5}]},
        {"yn": "yes", "num": 5},
        False,
    ),
]


@pytest.mark.parametrize(("condition", "answers", "expected"), CASES)
def test_operator(condition: dict[str, Any], answers: dict[str, Any], expected: bool) -> None:
    assert fires(condition, answers) is expected
