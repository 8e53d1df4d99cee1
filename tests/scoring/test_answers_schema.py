"""The answers schema on a small questionnaire: each item type's value rules and each condition operator, the
service and the schema agreeing on every answer set tried; conditions JSON Schema cannot express; size bounds."""

from __future__ import annotations

import copy
import datetime
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from app.content import default_questionnaire, default_ruleset
from app.scoring import compile_ruleset, parse_questionnaire, parse_ruleset
from app.scoring.answers_schema import (
    INEXACT_PRESENCE,
    MAX_AT_LEAST_DEFINITIONS,
    PERMITTED_DISAGREEMENTS,
    _date_pattern,
    answers_schema,
)
from app.scoring.checker import items_read_by_triggers
from tests.scoring.answers_schema_support import TODAY, Pair, agreement

ROOT = Path(__file__).resolve().parents[2]
ABSENT = object()


def _item(item_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": item_id, "section": "s", "type": kind, "question": f"Question {item_id}?", **extra}


SOURCES: list[dict[str, Any]] = [
    _item("yn", "yes_no_unknown", help="Help for yn."),
    _item("flag", "boolean"),
    _item("choice", "single_choice", options=[{"code": c, "label": c.upper()} for c in ("a", "b", "c", "unknown")]),
    _item("plain_choice", "single_choice", options=[{"code": "a", "label": "A"}, {"code": "b", "label": "B"}]),
    _item("many", "multi_choice", options=[{"code": c, "label": c} for c in ("x", "y", "z", "unknown")]),
    _item("age", "integer", min=0, max=17, allow_unknown=True),
    _item("count", "integer"),
    _item("seen", "date", allow_unknown=True),
    _item("other_date", "date"),
    _item("note", "text", max_length=10),
    _item("short", "text", max_length=3, allow_unknown=True),
]

# Values each source item takes in the exhaustive checks (ABSENT: left out), boundaries of the operands below.
VALUES: dict[str, list[Any]] = {
    "yn": [ABSENT, "yes", "no", "unknown"],
    "flag": [ABSENT, True, False],
    "choice": [ABSENT, "a", "b", "c", "unknown"],
    "plain_choice": [ABSENT, "a", "b"],
    "many": [ABSENT, [], ["x"], ["y"], ["x", "y"], ["z", "y", "x"], ["z"], ["unknown"]],
    "age": [ABSENT, 0, 4, 5, 12, 13, 17, "unknown"],
    "count": [ABSENT, -5, 0, 1, 2, 3, 100, 10**9],
    "seen": [ABSENT, "1999-12-31", "2019-12-31", "2020-01-01", "2020-03-14", "2020-03-15", "2020-03-16", "unknown"],
    "other_date": [ABSENT, "2020-03-15", "2008-03-15", "2008-03-16", "2007-03-15"],
    "note": [ABSENT, "", "unknown", "hello"],
    "short": [ABSENT, "ab", "unknown"],
}


def questionnaire_doc(condition: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """The sources, then `target` (asked when `condition` holds, then required) and `needed` (required when it
    holds)."""
    items = copy.deepcopy(SOURCES)
    if condition is not None:
        items.append(_item("target", "yes_no_unknown", required=True, enable_when=condition))
        items.append(_item("needed", "yes_no_unknown", required_when=condition))
    document = {
        "key": "synth",
        "version": 1,
        "title": "Synthetic",
        "sections": [{"id": "s", "title": "S"}],
        "items": items,
    }
    document.update(changes)
    return document


def ruleset_doc(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "key": "synth-rules",
        "version": 1,
        "title": "Synthetic rules",
        "questionnaire": {"key": "synth", "version": 1},
        "levels": ["low", "high"],
        "disclaimer": "Supports, does not replace, professional judgement.",
        "triggers": [
            {"id": "T_plain", "when": {"q": "plain_choice", "eq": "b"}, "level": "high", "reason": "B", "source": "S"}
        ],
    }
    document.update(changes)
    return document


def pair_for(condition: dict[str, Any] | None = None, **changes: Any) -> Pair:
    questionnaire = parse_questionnaire(questionnaire_doc(condition, **changes))
    return Pair(compile_ruleset(parse_ruleset(ruleset_doc()), questionnaire))


BASE = {"plain_choice": "a"}  # the trigger's item is required


def answer_sets(reads: list[str], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every combination of the values of the items `reads`, each with each of `extra` added."""
    sets = []
    for combination in itertools.product(*(VALUES[item_id] for item_id in reads)):
        answers = dict(BASE)
        for item_id, value in zip(reads, combination, strict=True):
            if value is not ABSENT:
                answers[item_id] = value
        sets.extend({**answers, **more} for more in extra)
    return sets


PRESENCE = [{}, {"target": "yes"}, {"needed": "no"}, {"target": "no", "needed": "yes"}]

CONDITIONS: list[tuple[str, dict[str, Any]]] = [
    ("answered", {"q": "yn", "answered": True}),
    ("unanswered", {"q": "yn", "unanswered": True}),
    ("is_unknown yes_no", {"q": "yn", "is_unknown": True}),
    ("eq yes_no", {"q": "yn", "eq": "yes"}),
    ("ne yes_no", {"q": "yn", "ne": "yes"}),
    ("in yes_no", {"q": "yn", "in": ["yes", "no"]}),
    ("not_in yes_no", {"q": "yn", "not_in": ["no"]}),
    ("eq boolean", {"q": "flag", "eq": True}),
    ("ne boolean", {"q": "flag", "ne": True}),
    ("in boolean", {"q": "flag", "in": [False]}),
    ("eq single_choice", {"q": "choice", "eq": "b"}),
    ("ne single_choice", {"q": "choice", "ne": "b"}),
    ("in single_choice", {"q": "choice", "in": ["a", "c"]}),
    ("not_in single_choice", {"q": "choice", "not_in": ["a", "c"]}),
    ("is_unknown single_choice", {"q": "choice", "is_unknown": True}),
    ("ne single_choice without unknown", {"q": "plain_choice", "ne": "a"}),
    ("contains", {"q": "many", "contains": "x"}),
    ("contains_any", {"q": "many", "contains_any": ["x", "z"]}),
    ("not contains", {"not": {"q": "many", "contains": "x"}}),
    ("is_unknown multi_choice", {"q": "many", "is_unknown": True}),
    ("answered multi_choice", {"q": "many", "answered": True}),
    ("eq integer", {"q": "age", "eq": 12}),
    ("ne integer", {"q": "age", "ne": 12}),
    ("in integer", {"q": "age", "in": [0, 13]}),
    ("not_in integer", {"q": "age", "not_in": [0, 13]}),
    ("lt integer", {"q": "age", "lt": 13}),
    ("lte integer", {"q": "age", "lte": 12}),
    ("gt integer", {"q": "age", "gt": 4}),
    ("gte integer", {"q": "age", "gte": 5}),
    ("between integer", {"q": "age", "between": [5, 12]}),
    ("is_unknown integer", {"q": "age", "is_unknown": True}),
    ("lt unbounded integer", {"q": "count", "lt": 1}),
    ("between unbounded integer", {"q": "count", "between": [-5, 2]}),
    ("eq date", {"q": "seen", "eq": "2020-03-15"}),
    ("ne date", {"q": "seen", "ne": "2020-03-15"}),
    ("lt date", {"q": "seen", "lt": "2020-03-15"}),
    ("lte date", {"q": "seen", "lte": "2020-03-15"}),
    ("gt date", {"q": "seen", "gt": "2020-01-01"}),
    ("gte date", {"q": "seen", "gte": "2020-01-01"}),
    ("between dates", {"q": "seen", "between": ["2019-12-31", "2020-03-14"]}),
    ("is_unknown date", {"q": "seen", "is_unknown": True}),
    ("answered text", {"q": "note", "answered": True}),
    ("is_unknown text", {"q": "short", "is_unknown": True}),
    ("all", {"all": [{"q": "yn", "eq": "yes"}, {"q": "age", "lt": 13}]}),
    ("any", {"any": [{"q": "yn", "eq": "yes"}, {"q": "age", "lt": 13}]}),
    ("not", {"not": {"q": "yn", "eq": "yes"}}),
    ("not all", {"not": {"all": [{"q": "yn", "ne": "no"}, {"q": "flag", "eq": False}]}}),
    ("at_least 1 of 2", {"at_least": 1, "of": [{"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}]}),
    ("at_least 2 of 2", {"at_least": 2, "of": [{"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}]}),
    (
        "at_least 2 of 3",
        {"at_least": 2, "of": [{"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}, {"q": "age", "gte": 13}]},
    ),
    (
        "at_least 2 of 4 with repeats",
        {
            "at_least": 2,
            "of": [{"q": "age", "gte": 5}, {"q": "age", "lt": 13}, {"q": "age", "eq": 12}, {"q": "flag", "eq": True}],
        },
    ),
    (
        "not at_least inside all",
        {
            "all": [
                {"q": "yn", "answered": True},
                {
                    "not": {
                        "at_least": 2,
                        "of": [{"q": "yn", "eq": "no"}, {"q": "flag", "eq": False}, {"q": "age", "lt": 5}],
                    }
                },
            ]
        },
    ),
]


def reads(condition: dict[str, Any]) -> list[str]:
    text = json.dumps(condition)
    return [item["id"] for item in SOURCES if f'"{item["id"]}"' in text]


@pytest.mark.parametrize("condition", [c for _, c in CONDITIONS], ids=[name for name, _ in CONDITIONS])
def test_each_condition_agrees_on_every_combination(condition: dict[str, Any]) -> None:
    pair = pair_for(condition)
    assert pair.schema[INEXACT_PRESENCE] == {}
    outcomes = set()
    for answers in answer_sets(reads(condition), PRESENCE):
        accepted, reasons = agreement(pair, answers)
        assert not reasons, answers
        outcomes.add(accepted)
    assert outcomes == {True, False}


ITEM_VALUES: dict[str, tuple[list[Any], list[Any]]] = {  # (valid, invalid)
    "yn": (["yes", "no", "unknown"], ["Yes", "maybe", True, 1, ["yes"], None, ""]),
    "flag": ([True, False], ["true", 1, 0, None, "unknown", [True]]),
    "choice": (["a", "b", "c", "unknown"], ["d", "A", ["a"], None, 1]),
    "plain_choice": (["a", "b"], ["unknown", "c", None]),
    "many": (
        [[], ["x"], ["x", "y", "z"], ["unknown"], ["z", "x"]],
        ["x", ["x", "x"], ["unknown", "x"], ["x", "unknown"], ["w"], [1], [None], None, {}],
    ),
    "age": ([0, 17, 9, "unknown"], [-1, 18, 12.5, "12", True, None, "Unknown", 2**60]),
    "count": ([0, -(2**53) + 1, 2**53 - 1], [1.5, "1", None, False]),
    "seen": (
        ["2020-02-29", "1900-01-01", "2026-06-02", "unknown"],  # 9999-12-31: see date-after-today below
        [
            *("2023-02-30", "2021-02-29", "2023-1-01", "20230101", "2023-01-01T00:00:00", "2023-01-01\n"),
            *("٢٠٢٣-٠١-٠١", " 2023-01-01", "2023-13-01", "0000-01-01", 20230101, None, "Unknown"),
        ],
    ),
    "other_date": (["2020-01-31"], ["unknown", "2020-01-32"]),
    "note": (["", "unknown", "0123456789", "é" * 10, "😀" * 10], ["0123456789a", 5, None, ["a"]]),
    "short": (["abc", "unknown", ""], ["abcd", "unknow", None]),
}


@pytest.mark.parametrize("item_id", list(ITEM_VALUES))
def test_each_item_types_value_rules_agree(item_id: str) -> None:
    pair = pair_for()
    valid, invalid = ITEM_VALUES[item_id]
    for value in valid:
        assert agreement(pair, {**BASE, item_id: value}) == (True, set()), value
    for value in invalid:
        assert agreement(pair, {**BASE, item_id: value}) == (False, set()), value


def test_whole_numbers_with_a_fraction_are_the_listed_difference() -> None:
    pair = pair_for()
    for answers in ({**BASE, "age": 3.0}, {**BASE, "count": -7.0}, {**BASE, "age": 17.0, "count": 1.0}):
        assert agreement(pair, answers) == (False, {"whole-number-with-fraction"})
    assert agreement(pair, {**BASE, "age": 18.0}) == (False, set())  # out of range either way


def test_a_date_after_today_is_the_listed_difference() -> None:
    pair = pair_for()
    assert datetime.date(2026, 6, 1) == TODAY
    assert agreement(pair, {**BASE, "seen": "2026-06-02"}) == (True, set())  # tomorrow: the day's tolerance
    for late in ("2026-06-03", "9999-12-31"):
        assert agreement(pair, {**BASE, "seen": late}) == (False, {"date-after-today"}), late
    assert agreement(pair, {**BASE, "seen": "2026-06-03", "age": 3.0}) == (
        False,
        {"date-after-today", "whole-number-with-fraction"},
    )


def test_request_limits_are_the_listed_difference() -> None:
    pair = pair_for(None, items=[*SOURCES, _item("long", "text", max_length=20_000)])
    assert agreement(pair, {**BASE, "count": 2**60}) == (False, {"request-limits"})
    assert agreement(pair, {**BASE, "note": "a\x00b"}) == (False, {"request-limits"})
    assert agreement(pair, {**BASE, "long": "x" * 10_001}) == (False, {"request-limits"})
    assert agreement(pair, {**BASE, "long": "x" * 10_000}) == (True, set())


def test_null_extra_keys_and_other_shapes_are_refused_by_both() -> None:
    pair = pair_for()
    for answers in ({**BASE, "nope": 1}, {**BASE, "": "yes"}, {**BASE, "yn": None}, {"yn": "yes"}):
        assert agreement(pair, answers) == (False, set()), answers
    for answers in ([], "answers", None, 3):
        assert not pair.schema_accepts(answers)


def test_required_by_the_rule_set_and_by_the_questionnaire() -> None:
    pair = pair_for()
    assert pair.schema["required"] == ["plain_choice"]
    presence = pair.schema["properties"]["plain_choice"]["x-riskapi-presence"]
    assert presence == {"required_by_rules": "trigger 'T_plain' reads it"}
    without_trigger = answers_schema(pair.compiled.questionnaire, {})
    assert "required" not in without_trigger
    assert Draft202012Validator(without_trigger).is_valid({})


def test_titles_descriptions_and_annotations_come_from_the_questionnaire() -> None:
    pair = pair_for({"q": "yn", "eq": "yes"})
    properties = pair.schema["properties"]
    assert properties["yn"]["title"] == "Question yn?"
    assert properties["yn"]["description"] == "Help for yn."
    assert "description" not in properties["flag"]
    assert properties["choice"]["x-riskapi-options"] == {"a": "A", "b": "B", "c": "C", "unknown": "UNKNOWN"}
    assert properties["target"]["x-riskapi-presence"] == {"enable_when": {"q": "yn", "eq": "yes"}, "required": True}
    assert properties["needed"]["x-riskapi-presence"] == {"required_when": {"q": "yn", "eq": "yes"}}
    assert list(properties) == [item["id"] for item in pair.compiled.questionnaire.model_dump()["items"]]
    assert pair.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert pair.schema["additionalProperties"] is False


def test_items_sharing_an_enable_when_share_one_rule() -> None:
    shipped = parse_questionnaire(default_questionnaire())
    schema = answers_schema(shipped, items_read_by_triggers(parse_ruleset(default_ruleset())))
    rules = [rule for rule in schema["allOf"] if "else" in rule]
    assert len(rules) == 2
    assert sorted(rules[0]["else"]["properties"]) == sorted(rules[0]["then"]["required"])
    assert schema == answers_schema(shipped, items_read_by_triggers(parse_ruleset(default_ruleset())))


# --- what JSON Schema cannot say ----------------------------------------------------------------------------

AGE_BY_DATES = {"years_between": {"from": "other_date", "to": "seen"}, "lt": 13}


@pytest.mark.parametrize(
    "condition",
    [
        AGE_BY_DATES,
        {"days_between": {"from": "other_date", "to": "seen"}, "gte": 0},
        {"any": [AGE_BY_DATES, {"q": "yn", "eq": "yes"}]},
        {"all": [{"not": AGE_BY_DATES}, {"q": "yn", "ne": "no"}]},
        {"at_least": 2, "of": [AGE_BY_DATES, {"q": "yn", "eq": "yes"}, {"q": "flag", "eq": True}]},
    ],
    ids=["years_between", "days_between", "any", "not inside all", "at_least"],
)
def test_a_date_difference_marks_the_items_inexact_and_the_schema_never_refuses_what_the_service_accepts(
    condition: dict[str, Any],
) -> None:
    pair = pair_for(condition)
    inexact = pair.schema[INEXACT_PRESENCE]
    assert sorted(inexact) == ["needed", "target"]
    assert "compares two dates" in inexact["target"]
    assert pair.schema["properties"]["target"][INEXACT_PRESENCE] == inexact["target"]
    assert "Not exact for 2 item(s)" in pair.schema["description"]
    seen = {"agree": 0, "inexact": 0}
    for answers in answer_sets(["other_date", "seen", "yn", "flag"], PRESENCE):
        _, reasons = agreement(pair, answers)  # fails unless any disagreement is explained
        assert reasons <= {"inexact-presence"}
        seen["inexact" if reasons else "agree"] += 1
    assert seen["inexact"] > 0
    # the value rules still hold for the marked items
    assert agreement(pair, {**BASE, "target": "maybe"}) == (False, set())


def test_what_is_certain_around_a_date_difference_is_still_enforced() -> None:
    pair = pair_for({"any": [AGE_BY_DATES, {"q": "yn", "eq": "yes"}]})
    # yn = yes: asked and required whatever the dates say
    assert not pair.schema_accepts({**BASE, "yn": "yes"})
    assert pair.schema_accepts({**BASE, "yn": "yes", "target": "no", "needed": "no"})
    pair = pair_for({"all": [AGE_BY_DATES, {"q": "yn", "eq": "yes"}]})
    # yn = no: not asked whatever the dates say
    assert not pair.schema_accepts({**BASE, "yn": "no", "target": "no"})


def test_a_large_at_least_is_written_out_in_n_times_k_definitions() -> None:
    condition = {"at_least": 10, "of": [{"q": "count", "gt": i} for i in range(40)]}
    started = time.perf_counter()
    pair = pair_for(condition)
    assert pair.schema[INEXACT_PRESENCE] == {}
    assert len(pair.schema["$defs"]) < 40 * 10 + 40 + 1
    assert len(json.dumps(pair.schema)) < 200_000
    for count in (-1, 0, 8, 9, 10, 11, 39, 40, 1000):
        for more in PRESENCE:
            _, reasons = agreement(pair, {**BASE, "count": count, **more})
            assert not reasons
    assert time.perf_counter() - started < 10


def test_an_at_least_too_large_to_write_out_is_marked_not_expanded() -> None:
    of = [{"q": "count", "gt": i} for i in range(120)]
    started = time.perf_counter()
    pair = pair_for({"at_least": 60, "of": of})
    assert time.perf_counter() - started < 5
    assert MAX_AT_LEAST_DEFINITIONS < 60 * 30  # at least as many definitions as 60 of 120 needs
    assert "too large to write out" in pair.schema[INEXACT_PRESENCE]["target"]
    assert "$defs" not in pair.schema
    for count in (0, 59, 60, 200):
        _, reasons = agreement(pair, {**BASE, "count": count, "target": "yes", "needed": "no"})
        assert reasons <= {"inexact-presence"}
    # at_least 1 and all of them need no definitions, however many conditions
    for needed in (1, 120):
        assert pair_for({"at_least": needed, "of": of}).schema[INEXACT_PRESENCE] == {}


# --- pieces -------------------------------------------------------------------------------------------------


def _dates() -> list[str]:
    start = datetime.date(1998, 11, 20)
    days = [start + datetime.timedelta(days=n) for n in range(0, 9000, 3)]
    return sorted({d.isoformat() for d in days} | {"2000-02-29", "2009-09-09", "2010-10-10", "1999-12-31"})


@pytest.mark.parametrize("reference", ["2000-02-29", "2009-09-09", "2010-10-10", "1999-12-31", "2020-03-15"])
def test_date_patterns_order_dates_as_strings_do(reference: str) -> None:
    dates = _dates()
    for op, compare in (
        ("lt", str.__lt__),
        ("lte", str.__le__),
        ("gt", str.__gt__),
        ("gte", str.__ge__),
    ):
        pattern = _date_pattern(reference, op)
        assert pattern is not None
        assert [d for d in dates if re.search(pattern, d)] == [d for d in dates if compare(d, reference)], op


def test_no_date_before_the_first() -> None:
    assert _date_pattern("0000-00-00", "lt") is None
    assert _date_pattern("9999-99-99", "gt") is None


def test_the_docs_list_every_permitted_disagreement() -> None:
    text = (ROOT / "docs" / "answers.md").read_text(encoding="utf-8")
    section = text[text.index("## The answers schema") :]
    for disagreement in PERMITTED_DISAGREEMENTS:
        assert f"`{disagreement.id}`" in section, disagreement.id


# --- min_answered of mean and prorated scores ---------------------------------------------------------------------


def _scale_pair(items: int, min_answered: int) -> Pair:
    """`items` optional single-choice items (with "unknown") read by a mean score that needs `min_answered`."""
    options = [{"code": c, "label": c} for c in ("a", "b", "unknown")]
    questionnaire = {
        "key": "synth",
        "version": 1,
        "title": "Synthetic",
        "sections": [{"id": "s", "title": "S"}],
        "items": [_item(f"i{n}", "single_choice", options=options) for n in range(items)],
    }
    mean = {
        "id": "avg",
        "purpose": "reporting",
        "kind": "mean",
        "min_answered": min_answered,
        "rounding": "half_up",
        "terms": [{"id": f"t{n}", "q": f"i{n}", "points": {"a": 0, "b": 1}} for n in range(items)],
    }
    ruleset = ruleset_doc(levels=["low"], triggers=[], scores=[mean])
    return Pair(compile_ruleset(parse_ruleset(ruleset), parse_questionnaire(questionnaire)))


def test_min_answered_is_an_at_least_over_answers_other_than_unknown() -> None:
    pair = _scale_pair(4, 2)
    assert pair.schema[INEXACT_PRESENCE] == {}
    assert "Score 'avg' needs at least 2 of i0, i1, i2, i3 answered" in pair.schema["description"]
    values = [ABSENT, "a", "b", "unknown"]
    accepted = 0
    for combination in itertools.product(values, repeat=4):
        answers = {f"i{n}": value for n, value in enumerate(combination) if value is not ABSENT}
        service, reasons = agreement(pair, answers)
        assert not reasons
        accepted += service
    assert 0 < accepted < 4**4


def test_a_min_answered_too_large_to_write_out_marks_its_items_inexact() -> None:
    pair = _scale_pair(60, 30)
    assert "$defs" not in pair.schema
    inexact = pair.schema[INEXACT_PRESENCE]
    assert sorted(inexact) == sorted(f"i{n}" for n in range(60))
    assert "min_answered of score 'avg'" in inexact["i0"]
    too_few = {f"i{n}": "a" for n in range(29)}
    assert agreement(pair, too_few) == (False, {"inexact-presence"})
    assert agreement(pair, {**too_few, "i59": "b"}) == (True, set())
