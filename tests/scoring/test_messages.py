"""Messages of the parser, the checker and the answer check: values in JSON spelling, hints that say what to write."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scoring import DefinitionError, Issue, check, parse_questionnaire, parse_ruleset
from tests.scoring.conftest import QUESTIONNAIRE, RULESET, build, questionnaire_doc, ruleset_doc
from tests.scoring.test_properties import PROPERTY_SETTINGS, mutated_document

Doc = dict[str, Any]
# Python's spelling of JSON values: its words for true/false/null, and the quotes of its list and dict reprs
PYTHON_SPELLING = re.compile(r"\b(True|False|None)\b|\['|'\]|\{'|', '")


def issues_of(ruleset: Doc, questionnaire: Doc | None = None) -> list[Issue]:
    """Parse errors or check errors of the documents (both, when the rule set parses)."""
    try:
        parsed_questionnaire = parse_questionnaire(questionnaire if questionnaire is not None else questionnaire_doc())
        return check(parse_ruleset(ruleset), parsed_questionnaire)
    except DefinitionError as exc:
        return exc.issues


def with_floor(condition: Doc, monotone: bool = False) -> Doc:
    doc = ruleset_doc()
    doc["monotone"] = monotone
    doc["floors"][1]["when"] = condition
    return doc


def changed(mutate: Callable[[Doc], None], monotone: bool = False) -> Doc:
    doc = ruleset_doc()
    doc["monotone"] = monotone
    mutate(doc)
    return doc


def changed_questionnaire(mutate: Callable[[Doc], None]) -> Doc:
    doc = questionnaire_doc()
    mutate(doc)
    return doc


def assert_json_spelling(messages: list[str], planted: list[str]) -> None:
    """No Python spelling anywhere, and no planted string value shown in Python's single quotes."""
    assert messages
    for message in messages:
        assert not PYTHON_SPELLING.search(message), message
        for value in planted:
            assert f"'{value}'" not in message, message


MEETING_OPTIONS = "its options are no, planned, occurred"

RULESET_CASES: list[tuple[str, Doc, str, str, list[str]]] = [
    # (name, rule set, pointer, fragment of the message, planted string values)
    (
        "eq with a list",
        with_floor({"q": "meeting", "eq": ["planned", "occurred"]}),
        "/floors/1/when/eq",
        "eq takes one value; to match any of several use `in: [...]`",
        ["planned"],
    ),
    (
        "ne with a list",
        with_floor({"q": "meeting", "ne": ["no"]}),
        "/floors/1/when/ne",
        "ne takes one value; to exclude several use `not_in: [...]`",
        [],
    ),
    (
        "eq with a code the item does not offer",
        with_floor({"q": "meeting", "eq": "sometimes"}),
        "/floors/1/when/eq",
        f"\"sometimes\" is not an option of 'meeting' (single_choice); {MEETING_OPTIONS}",
        ["sometimes"],
    ),
    (
        "ne with a code the item does not offer",
        with_floor({"q": "meeting", "ne": "sometimes"}),
        "/floors/1/when/ne",
        MEETING_OPTIONS,
        ["sometimes"],
    ),
    (
        "in with a code the item does not offer",
        with_floor({"q": "meeting", "in": ["no", "posted"]}),
        "/floors/1/when/in/1",
        f"\"posted\" is not an option of 'meeting' (single_choice); {MEETING_OPTIONS}",
        ["posted"],
    ),
    (
        "not_in with a code the item does not offer",
        with_floor({"q": "meeting", "not_in": ["posted"]}),
        "/floors/1/when/not_in",
        MEETING_OPTIONS,
        ["posted"],
    ),
    (
        "contains with a code the item does not offer",
        with_floor({"q": "platforms", "contains": "tv"}),
        "/floors/1/when/contains",
        "\"tv\" is not an option of 'platforms' (multi_choice); its options are social, gaming, messaging",
        ["tv"],
    ),
    (
        "contains_any with a code the item does not offer",
        with_floor({"q": "platforms", "contains_any": ["social", "tv"]}),
        "/floors/1/when/contains_any/1",
        "its options are social, gaming, messaging",
        ["tv"],
    ),
    (
        "a points map with a code the item does not offer",
        changed(lambda d: d["scores"][0]["terms"][3]["points"].update(sometimes=1)),
        "/scores/0/terms/3/points/sometimes",
        "\"sometimes\" is not an option of 'image_shared' (single_choice); its options are none, shared_by_child, "
        "shared_by_other",
        ["sometimes"],
    ),
    (
        "a risk order with a code the item does not offer",
        changed(lambda d: d["risk_order"].update(meeting=["no", "sometimes", "occurred"])),
        "/risk_order/meeting/1",
        MEETING_OPTIONS,
        ["sometimes"],
    ),
    (
        "a risk order that leaves an answer out",
        changed(lambda d: d["risk_order"].update(meeting=["no", "occurred"])),
        "/risk_order/meeting",
        "the order leaves out planned",
        [],
    ),
    (
        "a risk order with a code twice",
        changed(lambda d: d["risk_order"].update(meeting=["no", "planned", "occurred", "planned"])),
        "/risk_order/meeting/3",
        '"planned" is listed twice',
        ["planned"],
    ),
    (
        "a yes/no item compared with a boolean",
        with_floor({"q": "contact_unknown_adult", "eq": True}),
        "/floors/1/when/eq",
        "is compared with true;",
        [],
    ),
    (
        "a yes/no item compared with a code it does not have",
        with_floor({"q": "contact_unknown_adult", "in": ["yes", "maybe"]}),
        "/floors/1/when/in",
        'is compared with "maybe"; write "yes" or "no"',
        ["maybe"],
    ),
    (
        "an empty between on dates",
        with_floor({"q": "assessment_date", "between": ["2020-01-02", "2020-01-01"]}),
        "/floors/1/when/between",
        'between ["2020-01-02", "2020-01-01"] is empty',
        ["2020-01-02"],
    ),
    (
        "answered: false",
        with_floor({"q": "meeting", "answered": False}),
        "/floors/1/when/answered",
        "Input should be true",
        [],
    ),
    (
        "is_unknown: false",
        with_floor({"q": "meeting", "is_unknown": False}),
        "/floors/1/when/is_unknown",
        "Input should be true",
        [],
    ),
    (
        "a purpose that is not one of the choices",
        changed(lambda d: d["scores"][0].update(purpose="ranking")),
        "/scores/0/purpose",
        'Input should be "level" or "reporting"',
        ["level", "reporting"],
    ),
    (
        "an override policy that is a number",
        changed(lambda d: d.update(override_policy=1)),
        "/override_policy",
        '"raise_only", "lower_only", "any" or "none"',
        ["raise_only"],
    ),
    (
        "a key that does not match its pattern",
        changed(lambda d: d.update(key="Mini Rules")),
        "/key",
        'String should match pattern "^[a-z0-9][a-z0-9-]{1,62}$"',
        [],
    ),
    (
        "an in list that is not the top of the order",
        with_floor({"q": "meeting", "in": ["no", "planned"]}, monotone=True),
        "/floors/1/when/in",
        '["no", "planned"] is not the top of the risk order of \'meeting\' (no < planned < occurred)',
        ["no", "planned"],
    ),
    (
        "a boolean compared with its least concerning answer",
        with_floor({"q": "has_trusted_adult", "eq": False}, monotone=True),
        "/floors/1/when/eq",
        "[false] is not the top of the risk order of 'has_trusted_adult' (false < true)",
        [],
    ),
    (
        "points that fall along the order",
        changed(
            lambda d: d["scores"][0]["terms"][3].update(points={"shared_by_child": 3, "shared_by_other": 1}),
            monotone=True,
        ),
        "/scores/0/terms/3/points",
        '"shared_by_other" scores 1 but the less concerning "shared_by_child" scores 3',
        ["shared_by_other", "shared_by_child"],
    ),
]


@pytest.mark.parametrize(
    ("ruleset", "pointer", "fragment", "planted"),
    [case[1:] for case in RULESET_CASES],
    ids=[case[0] for case in RULESET_CASES],
)
def test_rule_set_messages(ruleset: Doc, pointer: str, fragment: str, planted: list[str]) -> None:
    issues = issues_of(ruleset)
    assert [issue for issue in issues if issue.pointer == pointer and fragment in issue.message], issues
    assert_json_spelling([issue.message for issue in issues], planted)


QUESTIONNAIRE_CASES: list[tuple[str, Doc, str, str, list[str]]] = [
    (
        "an enable_when naming a code the item does not offer",
        changed_questionnaire(lambda d: d["items"][4].update(enable_when={"q": "meeting", "eq": "sometimes"})),
        "/items/4/enable_when/eq",
        MEETING_OPTIONS,
        ["sometimes"],
    ),
    (
        "an item type that does not exist",
        changed_questionnaire(lambda d: d["items"][0].update(type="number")),
        "/items/0",
        "an item needs a type",
        ["number"],
    ),
    (
        "required: null",
        changed_questionnaire(lambda d: d["items"][0].update(required=None)),
        "/items/0/required",
        "Input should be a valid boolean",
        [],
    ),
    (
        "an option code that does not match its pattern",
        changed_questionnaire(lambda d: d["items"][6]["options"][0].update(code="not ok")),
        "/items/6/options/0/code",
        "String should match pattern",
        ["not ok"],
    ),
]


@pytest.mark.parametrize(
    ("questionnaire", "pointer", "fragment", "planted"),
    [case[1:] for case in QUESTIONNAIRE_CASES],
    ids=[case[0] for case in QUESTIONNAIRE_CASES],
)
def test_questionnaire_messages(questionnaire: Doc, pointer: str, fragment: str, planted: list[str]) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_questionnaire(questionnaire)
    issues = caught.value.issues
    assert [issue for issue in issues if issue.pointer == pointer and fragment in issue.message], issues
    assert_json_spelling([issue.message for issue in issues], planted)


ANSWER_CASES: list[tuple[str, str, Any, str]] = [
    ("contact_unknown_adult", "yes_no_unknown given a boolean", True, "got true"),
    ("contact_unknown_adult", "yes_no_unknown given null", None, "null is not an answer"),
    ("has_trusted_adult", "boolean given a string", "yes", 'got "yes"'),
    ("child_age_years", "integer given a boolean", False, "got false"),
    ("child_age_years", "integer given a list", ["twelve"], 'got ["twelve"]'),
    ("meeting", "single_choice given a list", ["occurred"], '["occurred"] is not an option'),
    ("meeting", "single_choice given a boolean", True, "true is not an option"),
    ("platforms", "multi_choice given a string", "social", 'got "social"'),
    ("platforms", "multi_choice given a boolean code", [True], "true is not an option"),
    ("platforms", "multi_choice given null in the list", ["social", None], "null is not an option"),
    ("assessment_date", "date given an object", {"day": None}, 'got {"day": null}'),
    ("notes", "text given a number", 12, "got 12"),
]


@pytest.mark.parametrize(
    ("item", "value", "fragment"), [(c[0], c[2], c[3]) for c in ANSWER_CASES], ids=[c[1] for c in ANSWER_CASES]
)
def test_answer_messages(item: str, value: Any, fragment: str) -> None:
    compiled = build()
    answers = {"child_age_years": 14, "contact_unknown_adult": "no", "image_shared": "none", "meeting": "no"}
    answers[item] = value
    messages = [issue.message for issue in compiled.validate_answers(answers)]
    assert any(fragment in message for message in messages), messages
    assert_json_spelling(messages, ["twelve", "occurred", "social", "day"])


# Leaves without capitals or quotes: a message with Python's spelling can then only come from the code.
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 60) | st.text(alphabet="abcnoyes_0123", max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["q", "eq", "in"]), children),
    max_leaves=8,
)


@PROPERTY_SETTINGS
@given(mutated_document(RULESET, plain_json), mutated_document(QUESTIONNAIRE, plain_json))
def test_no_message_about_a_mutated_document_uses_python_spelling(ruleset: Doc, questionnaire: Doc) -> None:
    for issue in issues_of(ruleset, questionnaire):
        assert not PYTHON_SPELLING.search(issue.message), issue


@PROPERTY_SETTINGS
@given(st.dictionaries(st.sampled_from([item["id"] for item in QUESTIONNAIRE["items"]]), plain_json))
def test_no_answer_message_uses_python_spelling(answers: Doc) -> None:
    for issue in build().validate_answers(answers):
        assert not PYTHON_SPELLING.search(issue.message), issue
