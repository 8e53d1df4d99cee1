"""Read-only result parts: the frozen containers, and results that share them safely."""

from __future__ import annotations

import copy
import itertools
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from app.scoring import CompiledRuleSet, canonical_json
from app.scoring.conditions import holds, items_read
from app.scoring.frozen import FrozenDict, FrozenList, freeze
from app.scoring.models import AllCondition, AnyCondition, AtLeastCondition, Condition, ConditionTerm
from app.scoring.result import Result
from tests.scoring.conftest import answers, build, ruleset_doc

SHAREABLE = (FrozenDict, FrozenList, str, int, bool, type(None), tuple)
EXPLAINS: list[frozenset[str]] = [frozenset(), frozenset({"trace"}), frozenset({"trace", "counterfactuals"})]


def _reason() -> FrozenDict:
    return freeze({"rule_id": "r", "text": "t", "points": 2, "items": ["a", "b"], "source": None})


DICT_MUTATIONS: list[Callable[[Any], object]] = [
    lambda d: d.__setitem__("x", 1),
    lambda d: d.__delitem__("rule_id"),
    lambda d: d.update(x=1),
    lambda d: d.setdefault("x", 1),
    lambda d: d.pop("rule_id"),
    lambda d: d.popitem(),
    lambda d: d.clear(),
    lambda d: d.__ior__({"x": 1}),
]
LIST_MUTATIONS: list[Callable[[Any], object]] = [
    lambda x: x.__setitem__(0, "z"),
    lambda x: x.__setitem__(slice(0, 1), []),
    lambda x: x.__delitem__(0),
    lambda x: x.append("z"),
    lambda x: x.extend(["z"]),
    lambda x: x.insert(0, "z"),
    lambda x: x.pop(),
    lambda x: x.remove("a"),
    lambda x: x.clear(),
    lambda x: x.sort(),
    lambda x: x.reverse(),
    lambda x: x.__iadd__(["z"]),
    lambda x: x.__imul__(2),
]


@pytest.mark.parametrize("mutate", DICT_MUTATIONS)
def test_frozen_dict_refuses_every_mutation(mutate: Callable[[Any], object]) -> None:
    reason = _reason()
    with pytest.raises(TypeError, match="read-only"):
        mutate(reason)
    assert reason == {"rule_id": "r", "text": "t", "points": 2, "items": ["a", "b"], "source": None}


@pytest.mark.parametrize("mutate", LIST_MUTATIONS)
def test_frozen_list_refuses_every_mutation(mutate: Callable[[Any], object]) -> None:
    items = _reason()["items"]
    with pytest.raises(TypeError, match="read-only"):
        mutate(items)
    assert items == ["a", "b"]


def test_augmented_assignment_on_a_frozen_part_raises() -> None:
    reason = _reason()
    items = reason["items"]
    with pytest.raises(TypeError):
        items += ["z"]
    with pytest.raises(TypeError):
        reason |= {"x": 1}
    assert reason == _reason()


@pytest.mark.parametrize(
    "duplicate",
    [copy.copy, copy.deepcopy, lambda value: pickle.loads(pickle.dumps(value)), dict, lambda value: value.copy()],
)
def test_copies_of_a_frozen_dict_are_plain_and_mutable(duplicate: Callable[[Any], Any]) -> None:
    reason = _reason()
    twin = duplicate(reason)
    assert type(twin) is dict
    assert twin == reason
    twin["x"] = 1
    assert "x" not in reason


def test_deep_copies_and_pickles_are_mutable_all_the_way_down() -> None:
    nested = freeze({"reasons": [{"items": ["a"]}]})
    for twin in (copy.deepcopy(nested), pickle.loads(pickle.dumps(nested, protocol=pickle.HIGHEST_PROTOCOL))):
        assert type(twin["reasons"]) is list
        assert type(twin["reasons"][0]) is dict
        twin["reasons"][0]["items"].append("b")
        assert nested["reasons"][0]["items"] == ["a"]
    assert type(copy.copy(nested["reasons"])) is list
    assert type(nested["reasons"] + []) is list


def test_frozen_containers_serialise_like_the_plain_ones() -> None:
    plain = {"reasons": [{"rule_id": "r", "items": ["a", "é"], "points": None}], "n": 3}
    frozen = freeze(plain)
    assert frozen == plain
    assert json.dumps(frozen, sort_keys=True) == json.dumps(plain, sort_keys=True)
    assert canonical_json(frozen) == canonical_json(plain)


def test_orjson_serialises_them_as_dicts_and_lists() -> None:
    orjson = pytest.importorskip("orjson")  # a JSON column serialiser; OPT_PASSTHROUGH_SUBCLASS would refuse them
    plain = {"reasons": [{"rule_id": "r", "items": ["a", "é"], "points": None}], "n": 3}
    assert orjson.dumps(freeze(plain), option=orjson.OPT_SORT_KEYS) == orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)


# --- results ---------------------------------------------------------------------------------------------


def _every_id(value: object, found: dict[int, object]) -> dict[int, object]:
    found[id(value)] = value
    if isinstance(value, dict):
        for key, child in value.items():
            _every_id(key, found)
            _every_id(child, found)
    elif isinstance(value, list | tuple):
        for child in value:
            _every_id(child, found)
    return found


def _answer_sets() -> list[dict[str, Any]]:
    return [
        answers(),
        answers(meeting="occurred", contact_unknown_adult="yes", missing_episodes=4, image_shared="shared_by_child"),
        answers(child_age_years=11, image_shared="shared_by_other", platforms=["social", "messaging"]),
        answers(meeting="unknown", date_of_birth="2015-01-01", assessment_date="2024-06-01", has_trusted_adult=True),
        answers(platforms=["social", "gaming"], meeting="unknown", child_age_years=9),
    ]


@pytest.mark.parametrize("explain", EXPLAINS)
def test_two_results_share_only_read_only_objects(mini: CompiledRuleSet, explain: frozenset[str]) -> None:
    given = _answer_sets()
    results = [mini.evaluate(a, explain) for a in given] + [mini.evaluate(a, explain) for a in given]
    seen = [_every_id(result, {}) for result in results]
    for first, second in itertools.combinations(range(len(results)), 2):
        for shared in seen[first].keys() & seen[second].keys():
            part = seen[first][shared]
            assert isinstance(part, SHAREABLE), (type(part), part)
            assert not isinstance(part, dict | list) or isinstance(part, FrozenDict | FrozenList), part
    for result, answer_set in zip(results, given + given, strict=True):  # nor with the caller's answers
        for shared in seen[results.index(result)].keys() & _every_id(answer_set, {}).keys():
            assert isinstance(seen[results.index(result)][shared], SHAREABLE)


@pytest.mark.parametrize("explain", EXPLAINS)
def test_a_result_and_its_top_level_lists_are_its_own(mini: CompiledRuleSet, explain: frozenset[str]) -> None:
    given = answers(
        meeting="occurred",
        image_shared="unknown",  # the information-gap rule: its floor and reason are built per call, read-only too
        child_age_years=11,
        platforms=["gaming", "social"],
    )
    result = mini.evaluate(given, explain)
    assert "unknown_answers" in [floor["id"] for floor in result["floors_applied"]]
    assert type(result) is dict
    assert type(result["scores"]) is dict
    for key, value in result.items():
        if isinstance(value, list):
            assert type(value) is list, key
    for key in ("triggers", "floors_applied", "reasons", "actions"):  # their entries are shared and read-only
        assert result[key]
        assert all(type(entry) is FrozenDict for entry in result[key]), key
    assert all(type(reason["items"]) is FrozenList for reason in result["reasons"])
    assert type(result["questionnaire"]) is FrozenDict
    assert type(result["ruleset"]) is FrozenDict
    for entry in result.get("trace", []):  # built per call
        assert type(entry) is dict


def test_results_stay_what_they_were_whatever_callers_do_with_others(mini: CompiledRuleSet) -> None:
    given = _answer_sets()
    before = [mini.evaluate(a, frozenset({"trace"})) for a in given]
    snapshot = copy.deepcopy(before)
    assert all(type(result["reasons"][0]) is dict for result in snapshot if result["reasons"])  # plain copies
    for answer_set in given:
        other = mini.evaluate(answer_set, frozenset({"trace"}))
        for reason in other["reasons"]:  # what they may not: change a shared part
            with pytest.raises(TypeError):
                reason["text"] = "changed"
            with pytest.raises(TypeError):
                reason["items"].append("changed")
        for action in other["actions"]:
            with pytest.raises(TypeError):
                action["title"] = "changed"
        with pytest.raises(TypeError):
            other["ruleset"]["version"] = 99
        other["level"] = "immediate"  # what they may: change their own result's top level, lists and trace
        other["counterfactuals"] = []
        for key in ("triggers", "floors_applied", "reasons", "actions", "information_gaps", "trace"):
            other[key].append({"id": "extra"})
            other[key].reverse()
        other["scores"]["total"] = -1
        for entry in other["trace"]:
            entry["reads"] = None
    assert before == snapshot
    assert [mini.evaluate(a, frozenset({"trace"})) for a in given] == snapshot
    assert [canonical_json(result) for result in before] == [canonical_json(result) for result in snapshot]


@pytest.mark.parametrize("explain", EXPLAINS)
def test_results_validate_into_the_result_model_and_serialise_as_plain_data(
    mini: CompiledRuleSet, explain: frozenset[str]
) -> None:
    for given in _answer_sets():
        result = mini.evaluate(given, explain)
        plain = copy.deepcopy(result)
        assert Result.model_validate(result) == Result.model_validate(plain)
        assert Result.model_validate(result).model_dump(exclude_unset=True) == plain
        assert json.dumps(result, sort_keys=True) == json.dumps(plain, sort_keys=True)
        assert canonical_json(result) == canonical_json(plain)
        assert pickle.loads(pickle.dumps(result)) == plain


# --- reason items of any / at_least: the prebuilt table and the built fallback agree with the reference ----


def _firing(condition: Condition, given: dict[str, Any], scores: dict[str, int]) -> list[str]:
    if isinstance(condition, AllCondition):
        return [item for child in condition.all for item in _firing(child, given, scores)]
    if isinstance(condition, AnyCondition | AtLeastCondition):
        branches = condition.any if isinstance(condition, AnyCondition) else condition.of
        return [i for c in branches if holds(c, given, scores) for i in _firing(c, given, scores)]
    return items_read(condition)


def _wide_and_nested() -> CompiledRuleSet:
    doc = ruleset_doc()
    doc.pop("monotone")
    wide = [  # eight branches: more than the prebuilt table covers, so the reason is built
        {"q": "contact_unknown_adult", "eq": "yes"},
        {"q": "secrecy_requested", "eq": "yes"},
        {"q": "platforms", "contains": "social"},
        {"q": "platforms", "contains": "gaming"},
        {"q": "image_shared", "eq": "shared_by_other"},
        {"q": "meeting", "in": ["planned", "occurred"]},
        {"q": "missing_episodes", "gte": 3},
        {"q": "has_trusted_adult", "eq": False},
    ]
    doc["floors"].append({"id": "F_wide", "when": {"any": wide}, "level": "medium", "reason": "Wide", "source": "S"})
    nested = {
        "all": [
            {"q": "contact_unknown_adult", "eq": "yes"},
            {
                "any": [
                    {"q": "meeting", "eq": "planned"},
                    {
                        "all": [
                            {"q": "image_shared", "eq": "shared_by_child"},
                            {
                                "any": [
                                    {"q": "platforms", "contains": "gaming"},
                                    {"q": "platforms", "contains": "social"},
                                ]
                            },
                        ]
                    },
                    {"q": "platforms", "contains": "social"},
                ]
            },
        ]
    }
    doc["scores"][0]["terms"].append({"id": "nested", "when": nested, "add": 1, "reason": "Nested", "source": "S"})
    doc["floors"].append(
        {
            "id": "F_some",
            "when": {
                "at_least": 2,
                "of": [
                    {"score": "total", "gte": 2},
                    {"q": "meeting", "eq": "occurred"},
                    {"q": "notes", "answered": True},
                ],
            },
            "level": "medium",
            "reason": "Some",
            "source": "S",
        }
    )
    return build(doc)


def test_reason_items_of_tables_and_built_reasons_agree_with_the_reference() -> None:
    compiled = _wide_and_nested()
    source = compiled.code.source
    assert "k |= 8" in source  # the nested term's four tests use the table
    assert "_FL(it)" in source  # the eight-branch floor is built
    conditions = {rule.id: rule.when for rule in [*compiled.ruleset.triggers, *compiled.ruleset.floors]}
    for score in compiled.ruleset.scores:
        conditions |= {term.id: term.when for term in score.terms or [] if isinstance(term, ConditionTerm)}
    checked: set[str] = set()
    for contact, secrecy, platforms, image, meeting, missing, trusted, notes in itertools.product(
        ["yes", "no"],
        ["yes", "no", None],
        [[], ["social"], ["gaming", "messaging"], ["social", "gaming"], ["unknown"]],
        ["none", "shared_by_child", "shared_by_other"],
        ["no", "planned", "occurred"],
        [None, 0, 5],
        [None, True, False],
        [None, "n"],
    ):
        given = {
            "child_age_years": 14,
            "contact_unknown_adult": contact,
            "secrecy_requested": secrecy,
            "platforms": platforms,
            "image_shared": image,
            "meeting": meeting,
            "missing_episodes": missing,
            "has_trusted_adult": trusted,
            "notes": notes,
        }
        given = {key: value for key, value in given.items() if value is not None}
        if compiled.validate_answers(given):
            continue
        for explain in (frozenset(), frozenset({"trace"})):
            result = compiled.evaluate(given, explain)
            for reason in result["reasons"]:
                if reason["rule_id"] in conditions:
                    expected = _firing(conditions[reason["rule_id"]], given, result["scores"])
                    assert reason["items"] == list(dict.fromkeys(expected)), (reason["rule_id"], given)
                    assert type(reason) is FrozenDict
                    assert type(reason["items"]) is FrozenList
                    checked.add(reason["rule_id"])
    assert {"F_wide", "nested", "F_some"} <= checked
