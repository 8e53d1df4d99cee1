"""Documents: YAML/JSON reading, shape errors as pointers, canonical JSON and content hashes, JSON Schemas."""

from __future__ import annotations

import hashlib

import pytest

from app.scoring import (
    DefinitionError,
    Issue,
    ScoringError,
    canonical_json,
    content_hash,
    load_document,
    parse_questionnaire,
    parse_ruleset,
    questionnaire_json_schema,
    ruleset_json_schema,
)
from tests.scoring.conftest import FIXTURES, QUESTIONNAIRE, RULESET, questionnaire_doc, ruleset_doc


def shape_issues(doc: object, ruleset: bool = True) -> list[Issue]:
    with pytest.raises(DefinitionError) as caught:
        parse_ruleset(doc) if ruleset else parse_questionnaire(doc)
    return caught.value.issues


def test_yaml_reads_yes_and_dates_as_strings() -> None:
    assert load_document("a: yes\nb: 2020-01-02\nc: true\nd: no\n") == {
        "a": "yes",
        "b": "2020-01-02",
        "c": True,
        "d": "no",
    }


def test_json_and_yaml_flow_text_and_paths() -> None:
    assert load_document('{"a": 1}') == {"a": 1}
    assert load_document("{a: 1}") == {"a": 1}
    assert isinstance(load_document(FIXTURES / "phq9.ruleset.yaml"), dict)
    assert isinstance(load_document(str(FIXTURES / "phq9.ruleset.yaml")), dict)


def test_broken_documents_raise_definition_errors() -> None:
    with pytest.raises(DefinitionError):
        load_document("a: [1, 2\n")
    with pytest.raises(DefinitionError):
        load_document("does/not/exist.yaml")


def test_missing_and_extra_fields_have_pointers() -> None:
    doc = ruleset_doc()
    del doc["levels"]
    doc["triggers"][0]["colour"] = "red"
    assert shape_issues(doc) == [
        Issue("", "'levels' is required"),
        Issue("/triggers/0/colour", "unknown field 'colour'"),
    ]


def test_condition_errors_drop_union_tags_from_the_pointer() -> None:
    doc = ruleset_doc()
    doc["triggers"][1]["when"] = {"all": [{"q": "meeting", "eq": "occurred", "ne": "no"}, {"q": "meeting"}, {"x": 1}]}
    issues = shape_issues(doc)
    assert [issue.pointer for issue in issues] == [
        "/triggers/1/when/all/0",
        "/triggers/1/when/all/1",
        "/triggers/1/when/all/2",
    ]
    assert "exactly one operator" in issues[0].message
    assert "a condition is an object" in issues[2].message


def test_wrong_item_type_is_named() -> None:
    doc = questionnaire_doc()
    doc["items"][0]["type"] = "number"
    assert shape_issues(doc, ruleset=False)[0].pointer == "/items/0"


def test_fields_of_another_item_type_are_refused() -> None:
    doc = questionnaire_doc()
    doc["items"][3]["min"] = 1
    assert shape_issues(doc, ruleset=False) == [Issue("/items/3/min", "unknown field 'min'")]


def test_not_an_object() -> None:
    assert shape_issues([1, 2])[0].pointer == ""
    assert shape_issues("text", ruleset=False)[0].pointer == ""


def test_absurd_nesting_is_refused_without_recursion_errors() -> None:
    condition: object = {"q": "meeting", "eq": "occurred"}
    for _ in range(5000):
        condition = {"not": condition}
    doc = ruleset_doc()
    doc["triggers"][0]["when"] = condition
    assert "nested deeper" in shape_issues(doc)[0].message


def test_canonical_json_is_rfc8785() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    assert content_hash({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()


def test_canonical_json_refuses_non_json() -> None:
    with pytest.raises(ScoringError):
        canonical_json({"a": float("nan")})
    with pytest.raises(ScoringError):
        canonical_json({"a": object()})


def test_content_hash_is_of_what_the_author_wrote() -> None:
    ruleset = parse_ruleset(RULESET)
    assert ruleset.content_hash == content_hash(RULESET)
    assert ruleset.content_hash == content_hash(ruleset)
    assert parse_questionnaire(QUESTIONNAIRE).content_hash == content_hash(QUESTIONNAIRE)
    reordered = dict(reversed(list(RULESET.items())))
    assert parse_ruleset(reordered).content_hash == ruleset.content_hash
    changed = ruleset_doc()
    changed["title"] = "Other"
    assert parse_ruleset(changed).content_hash != ruleset.content_hash


def test_json_schemas_are_published() -> None:
    rules = ruleset_json_schema()
    assert rules["additionalProperties"] is False
    assert {"levels", "scores", "triggers", "bands", "tests"} <= set(rules["properties"])
    questions = questionnaire_json_schema()
    assert "items" in questions["properties"]
    assert "AnswerCondition" in str(rules)
