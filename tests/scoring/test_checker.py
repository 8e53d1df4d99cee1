"""Every static check, each reporting the path a rule author can follow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.scoring import DefinitionError, Issue, check, compile_ruleset, parse_questionnaire, parse_ruleset
from tests.scoring.conftest import questionnaire_doc, ruleset_doc

Doc = dict[str, Any]


def ruleset_issues(mutate: Callable[[Doc], None], monotone: bool = False) -> list[Issue]:
    doc = ruleset_doc()
    doc["monotone"] = monotone
    mutate(doc)
    return check(parse_ruleset(doc), parse_questionnaire(questionnaire_doc()))


def questionnaire_issues(mutate: Callable[[Doc], None]) -> list[Issue]:
    doc = questionnaire_doc()
    mutate(doc)
    with pytest.raises(DefinitionError) as caught:
        parse_questionnaire(doc)
    return caught.value.issues


def floor_when(condition: Doc) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["floors"][1]["when"] = condition

    return mutate


def test_the_fixture_is_clean() -> None:
    assert ruleset_issues(lambda doc: None, monotone=True) == []


@pytest.mark.parametrize(
    ("condition", "pointer", "fragment"),
    [
        ({"q": "no_such_item", "eq": "yes"}, "/floors/1/when/q", "unknown item 'no_such_item'"),
        ({"q": "image_shared", "eq": "posted"}, "/floors/1/when/eq", "not an option"),
        ({"q": "image_shared", "in": ["none", "posted"]}, "/floors/1/when/in/1", "not an option"),
        ({"q": "contact_unknown_adult", "eq": 1}, "/floors/1/when/eq", 'write "yes" or "no"'),
        ({"q": "contact_unknown_adult", "eq": True}, "/floors/1/when/eq", 'write "yes" or "no"'),
        ({"q": "contact_unknown_adult", "eq": "unknown"}, "/floors/1/when/eq", "is_unknown"),
        ({"q": "image_shared", "contains": "none"}, "/floors/1/when/contains", "multi_choice"),
        ({"q": "platforms", "eq": "social"}, "/floors/1/when/eq", "use contains"),
        ({"q": "platforms", "contains": "tv"}, "/floors/1/when/contains", "not an option"),
        ({"q": "image_shared", "lt": 3}, "/floors/1/when/lt", "no numeric order"),
        ({"q": "child_age_years", "eq": "twelve"}, "/floors/1/when/eq", "non-number"),
        ({"q": "child_age_years", "between": [10, 5]}, "/floors/1/when/between", "empty"),
        ({"q": "has_trusted_adult", "eq": "yes"}, "/floors/1/when/eq", "non-boolean"),
        ({"q": "notes", "eq": "hello"}, "/floors/1/when/eq", "free text"),
        ({"q": "assessment_date", "lt": "yesterday"}, "/floors/1/when/lt", "YYYY-MM-DD"),
        ({"q": "has_trusted_adult", "is_unknown": True}, "/floors/1/when/is_unknown", "never be answered unknown"),
        ({"score": "nope", "gte": 1}, "/floors/1/when/score", "unknown score"),
        (
            {"days_between": {"from": "child_age_years", "to": "assessment_date"}, "gt": 1},
            "/floors/1/when/days_between/from",
            "not a date item",
        ),
        (
            {"at_least": 3, "of": [{"q": "meeting", "eq": "planned"}, {"q": "meeting", "eq": "occurred"}]},
            "/floors/1/when/at_least",
            "can never hold",
        ),
    ],
)
def test_condition_checks(condition: Doc, pointer: str, fragment: str) -> None:
    issues = ruleset_issues(floor_when(condition))
    assert [issue.pointer for issue in issues] == [pointer], issues
    assert fragment in issues[0].message


def test_nesting_deeper_than_ten_is_refused() -> None:
    condition: Doc = {"q": "meeting", "eq": "occurred"}
    for _ in range(10):
        condition = {"all": [condition]}
    issues = ruleset_issues(floor_when(condition))
    assert issues == [Issue("/floors/1/when", "condition is nested 11 levels deep; the limit is 10")]


def test_score_read_before_it_is_defined() -> None:
    def mutate(doc: Doc) -> None:
        doc["scores"][0]["terms"][0]["when"] = {"score": "double", "gte": 1}

    issues = ruleset_issues(mutate)
    assert issues == [
        Issue("/scores/0/terms/0/when/score", "score 'double' is read before it is computed (scores run in order)")
    ]


def test_score_term_cycle_on_itself() -> None:
    def mutate(doc: Doc) -> None:
        doc["scores"][2]["terms"][0]["score"] = "double"

    assert [i.pointer for i in ruleset_issues(mutate)] == ["/scores/2/terms/0/score"]


@pytest.mark.parametrize(
    ("mutate", "pointer", "fragment"),
    [
        (lambda d: d["triggers"][0].update(level="catastrophic"), "/triggers/0/level", "unknown level"),
        (lambda d: d["triggers"][0].update(actions=["fly"]), "/triggers/0/actions/0", "unknown action"),
        (lambda d: d["floors"].append(dict(d["floors"][0])), "/floors/2/id", "duplicate rule id"),
        (lambda d: d["actions"].append(dict(d["actions"][0])), "/actions/5/id", "duplicate action id"),
        (lambda d: d["scores"].append({"id": "total", "terms": []}), "/scores/3/id", "duplicate score id"),
        (lambda d: d["tests"].append(dict(d["tests"][0])), "/tests/2/name", "duplicate test id"),
        (lambda d: d["scores"][0]["terms"][0].update(add=-1), "/scores/0/terms/0/add", "negative"),
        (lambda d: d["scores"][2]["terms"][0].update(times=-2), "/scores/2/terms/0/times", "negative"),
        (lambda d: d["scores"][0]["terms"][3]["points"].update(none=-1), "/scores/0/terms/3/points/none", "negative"),
        (
            lambda d: d["scores"][0]["terms"][3]["points"].update(unknown=1),
            "/scores/0/terms/3/points/unknown",
            "unknown answers score nothing",
        ),
        (lambda d: d["scores"][0]["terms"][3].update(q="platforms"), "/scores/0/terms/3/q", "single_choice"),
        (lambda d: d["scores"][1].update(subtotal_of="double"), "/scores/1/subtotal_of", "defined before"),
        (lambda d: d["scores"][1]["items"].append("zzz"), "/scores/1/items/2", "unknown item"),
        (lambda d: d["bands"][1].update(gte=5), "/bands/0/lt", "gap between 4 and 5"),
        (lambda d: d["bands"][1].update(gte=3), "/bands/1", "overlaps"),
        (lambda d: d["bands"][0].update(gte=1), "/bands/0/gte", "must start at 0"),
        (lambda d: d["bands"][2].update(lt=100), "/bands/2/lt", "must be open"),
        (lambda d: d["bands"][2].update(score="nope"), "/bands/2/score", "unknown score"),
        (lambda d: d["levels"].append("catastrophic"), "/levels/4", "cannot be reached"),
        (lambda d: d["floors"][0].pop("reason"), "/floors/0", "reason is required"),
        (lambda d: d["scores"][0]["terms"][0].pop("source"), "/scores/0/terms/0", "source is required"),
        (
            lambda d: d["unknown_answers"].update(items=["has_trusted_adult"]),
            "/unknown_answers/items/0",
            "never be answered unknown",
        ),
        (lambda d: d["level_policies"].update(severe={"actions": []}), "/level_policies/severe", "unknown level"),
        (lambda d: d["action_rules"][0].update(levels=["nope"]), "/action_rules/0/levels/0", "unknown level"),
        (lambda d: d["protective_factors"].append("notes"), "/protective_factors/1", "not a yes/no"),
        (lambda d: d["protective_factors"].append("zzz"), "/protective_factors/1", "unknown item"),
        (lambda d: d["risk_order"].update(meeting=["no", "occurred"]), "/risk_order/meeting", "exactly once"),
        (lambda d: d["risk_order"].update(meeting="rising"), "/risk_order/meeting", "integer and date"),
        (lambda d: d["risk_order"].update(zzz="rising"), "/risk_order/zzz", "unknown item"),
        (lambda d: d["questionnaire"].update(version=2), "/questionnaire", "targets mini-online v2"),
        (lambda d: d["tests"][0]["answers"].update(meeting="maybe"), "/tests/0/answers/meeting", "not an option"),
        (
            lambda d: d["tests"][0]["expect"].update(triggers=["T_nope"]),
            "/tests/0/expect/triggers/0",
            "unknown trigger",
        ),
        (lambda d: d["tests"][0]["expect"].update(scores={"nope": 1}), "/tests/0/expect/scores/nope", "unknown score"),
    ],
)
def test_ruleset_checks(mutate: Callable[[Doc], None], pointer: str, fragment: str) -> None:
    issues = ruleset_issues(mutate)
    assert pointer in [issue.pointer for issue in issues], issues
    assert any(fragment in issue.message for issue in issues if issue.pointer == pointer), issues


@pytest.mark.parametrize(
    ("mutate", "pointer", "fragment"),
    [
        (lambda d: d["items"].append(dict(d["items"][0])), "/items/11/id", "duplicate item id"),
        (lambda d: d["sections"].append(dict(d["sections"][0])), "/sections/2/id", "duplicate section id"),
        (lambda d: d["items"][0].update(section="elsewhere"), "/items/0/section", "unknown section"),
        (
            lambda d: d["items"][5]["options"].append({"code": "social", "label": "again"}),
            "/items/5/options/4/code",
            "duplicate option",
        ),
        (lambda d: d["items"][0].update(min=20), "/items/0/min", "greater than max"),
        (
            lambda d: d["items"][4].update(enable_when={"q": "zzz", "eq": "yes"}),
            "/items/4/enable_when/q",
            "unknown item",
        ),
        (
            lambda d: d["items"][4].update(enable_when={"q": "secrecy_requested", "answered": True}),
            "/items/4/enable_when",
            "its own answer",
        ),
        (
            lambda d: d["items"][4].update(enable_when={"score": "total", "gte": 1}),
            "/items/4/enable_when/score",
            "cannot be used here",
        ),
    ],
)
def test_questionnaire_checks(mutate: Callable[[Doc], None], pointer: str, fragment: str) -> None:
    issues = questionnaire_issues(mutate)
    assert pointer in [issue.pointer for issue in issues], issues
    assert any(fragment in issue.message for issue in issues if issue.pointer == pointer), issues


def test_compile_refuses_a_ruleset_with_issues() -> None:
    doc = ruleset_doc()
    doc["triggers"][0]["level"] = "nope"
    with pytest.raises(DefinitionError) as caught:
        compile_ruleset(parse_ruleset(doc), parse_questionnaire(questionnaire_doc()))
    assert caught.value.issues[0].pointer == "/triggers/0/level"
