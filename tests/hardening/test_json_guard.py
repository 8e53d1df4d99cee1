"""The strict pre-parse on its own: every limit, every malformation, and the legitimate documents it must pass."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.content import default_questionnaire, default_ruleset, read_text
from app.core.config import Settings
from app.core.errors import BadRequest, ProblemError, ValidationFailed
from app.core.json_guard import JsonLimits, check_document, check_json_body, check_yaml_body, parse_json
from app.scoring import load_document

LIMITS = JsonLimits()


def refusal(body: bytes, limits: JsonLimits = LIMITS, *, yaml_body: bool = False) -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        (check_yaml_body if yaml_body else check_json_body)(body, limits)
    return caught.value


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def test_defaults_match_the_settings() -> None:
    assert JsonLimits.from_settings(Settings()) == LIMITS


@pytest.mark.parametrize(
    "document",
    [default_questionnaire(), default_ruleset()],
    ids=["questionnaire", "ruleset"],
)
def test_the_shipped_documents_pass_with_room_to_spare(document: dict[str, Any]) -> None:
    check_json_body(json.dumps(document).encode(), LIMITS)
    tight = JsonLimits(max_depth=16, max_array_items=250, max_object_keys=250, max_string_chars=5000, max_nodes=25_000)
    check_json_body(json.dumps(document).encode(), tight)


def test_a_full_ruleset_of_80_items_60_rules_and_30_tests_passes() -> None:
    ruleset = default_ruleset()
    rules = [r for part in ("triggers", "floors", "action_rules", "protective_factors") for r in ruleset[part]]
    rules += [term for score in ruleset["scores"] for term in score.get("terms", [])]
    assert len(rules) >= 60
    assert len(default_questionnaire()["items"]) >= 80
    assert len(ruleset["tests"]) >= 30
    assert len(json.dumps(ruleset)) > 100_000
    check_json_body(json.dumps(ruleset).encode(), LIMITS)


@pytest.mark.parametrize("name", ["online-exposure.v1.yaml", "online-harm-england.v1.yaml"])
def test_the_shipped_yaml_passes_with_its_anchors(name: str) -> None:
    check_yaml_body(read_text(name).encode(), LIMITS)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": -Infinity}', "-Infinity"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": 1, "a": 2}', "repeats the key 'a'"),
        (b'{"x": {"b": {"k": 1, "k": 1}}}', "'/x/b' repeats"),
        (b'{"a": "\xff\xfe"}', "not valid UTF-8"),
        (b'\xef\xbb\xbf{"a": 1}', "not valid JSON"),
        ('{"a": 1}'.encode("utf-16"), "not valid UTF-8"),
        (b'{"a": "\\ud800"}', "unpaired surrogate"),
        (b'{"a": "x\\u0000y"}', "U+0000"),
        (b'{"a\\u0000": 1}', "U+0000"),
        (b'{"a": 1', "not valid JSON"),
        (b'{"a": ' + b"9" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_malformed_json_is_a_400_that_says_why(body: bytes, needle: str) -> None:
    problem = refusal(body)
    assert isinstance(problem, BadRequest)
    assert needle in str(problem.detail)


@pytest.mark.parametrize(
    ("document", "pointer", "setting"),
    [
        (nested(40), "/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a", "json_max_depth"),
        ({"answers": {"list": list(range(1001))}}, "/answers/list", "json_max_array_items"),
        ({"o": {f"k{i}": i for i in range(1001)}}, "/o", "json_max_object_keys"),
        ({"rules": [{"reason": "x" * 10_001}]}, "/rules/0/reason", "json_max_string_chars"),
        ({"a/b~c": "x" * 10_001}, "/a~1b~0c", "json_max_string_chars"),
        ({"wide": [[0] * 999 for _ in range(101)]}, None, "json_max_nodes"),
        ({"answers": {"child_age_years": 2**53}}, "/answers/child_age_years", "I-JSON"),
        ({"answers": [-(2**70)]}, "/answers/0", "I-JSON"),
    ],
    ids=["depth", "array", "keys", "string", "escaped-pointer", "nodes", "big-int", "big-negative-int"],
)
def test_each_limit_is_a_422_naming_the_limit_and_the_pointer(document: Any, pointer: str | None, setting: str) -> None:
    problem = refusal(json.dumps(document).encode())
    assert isinstance(problem, ValidationFailed)
    assert problem.errors is not None
    assert setting in problem.errors[0].detail
    if pointer is not None:
        assert problem.errors[0].pointer == pointer


@pytest.mark.parametrize(
    ("body", "floats"),
    [(b'{"a": [1, "2.5", {"b": null}]}', False), (b'{"a": [1, {"b": 2.5}]}', True), (b"1e3", True)],
)
def test_a_checked_body_is_handed_on_parsed_with_whether_it_holds_floats(body: bytes, floats: bool) -> None:
    checked = check_json_body(body, JsonLimits())
    assert checked is not None
    document, has_floats = checked
    assert document == json.loads(body)
    assert has_floats is floats


def test_nesting_past_the_parser_stack_is_refused_before_parsing_and_names_the_limit() -> None:
    problem = refusal(b"[" * 200_000 + b"]" * 200_000)
    assert isinstance(problem, ValidationFailed)
    assert problem.errors is not None
    assert "json_max_depth" in problem.errors[0].detail


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    document = {"a": "[" * 300 + '\\"' + "{" * 300}
    check_json_body(json.dumps(document).encode(), LIMITS)


def test_each_limit_is_configurable() -> None:
    body = json.dumps({"a": list(range(50))}).encode()
    check_json_body(body, LIMITS)
    assert isinstance(refusal(body, JsonLimits(max_array_items=49)), ValidationFailed)


def test_yaml_billion_laughs_is_refused_by_its_expanded_size() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    problem = refusal("\n".join(lines).encode(), yaml_body=True)
    assert isinstance(problem, ValidationFailed)
    assert problem.errors is not None
    assert "json_max_nodes" in problem.errors[0].detail


@pytest.mark.parametrize(
    ("document", "setting"),
    [
        (nested(40), "json_max_depth"),
        ({"items": list(range(1001))}, "json_max_array_items"),
        ({f"k{i}": i for i in range(1001)}, "json_max_object_keys"),
        ({"reason": "x" * 10_001}, "string"),
    ],
)
def test_yaml_has_the_same_limits(document: Any, setting: str) -> None:
    problem = refusal(yaml.safe_dump(document).encode(), yaml_body=True)
    assert isinstance(problem, ValidationFailed)
    assert problem.errors is not None
    assert setting in problem.errors[0].detail


def test_yaml_pointer_names_the_place() -> None:
    problem = refusal(b"rules:\n  - id: a\n    reason: " + b"x" * 10_001 + b"\n", yaml_body=True)
    assert problem.errors is not None
    assert problem.errors[0].pointer == "/rules/0/reason"


def yaml_document(text: str, limits: JsonLimits = LIMITS) -> Any:
    checked = check_yaml_body(text.encode(), limits)
    assert checked is not None
    return checked[0]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"key: [unclosed", "not valid YAML"),
        (b'\t{"a": 1}', "not valid YAML"),
        (b"a: 1\n---\nb: 2\n", "not valid YAML"),
        (b"a: *nowhere\n", "refers to no anchor"),
        (b"a: &a [1, *a]\n", "refers to a node that contains it"),
        (b"a: 1\na: 2\n", "repeats the key 'a'"),
        (b"{1: a}\n", "is not a string"),
        (b"{? [a] : b}\n", "is not a string"),
        (b"a: !!binary aGVsbG8=\n", "tag:yaml.org,2002:binary"),
        (b"a: !!timestamp 2001-12-14\n", "tag:yaml.org,2002:timestamp"),
        (b"a: !!set {x}\n", "tag:yaml.org,2002:set"),
        (b"a: !custom x\n", "!custom"),
        (b"a: {<<: [x]}\n", "merge a mapping"),
        (b"a: .nan\n", "'/a' is NaN"),
        (b"a: [-.inf]\n", "'/a/0' is -Infinity"),
        (b'a: "x\\0y"\n', "U+0000"),
        (b"a: x\x00y\n", "U+0000"),
    ],
)
def test_yaml_the_guard_cannot_read_or_store_is_a_400_from_the_guard(body: bytes, needle: str) -> None:
    problem = refusal(body, yaml_body=True)
    assert isinstance(problem, BadRequest)
    assert needle in str(problem.detail)


def test_yaml_nesting_past_libyamls_own_limit_is_our_depth_limit() -> None:
    problem = refusal(b"a: " + b"[" * 1001 + b"]" * 1001 + b"\n", yaml_body=True)
    assert isinstance(problem, ValidationFailed)
    assert problem.errors is not None
    assert "json_max_depth" in problem.errors[0].detail


def test_yaml_depth_counts_what_an_alias_repeats() -> None:
    text = "a: &a " + "[" * 20 + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n"
    problem = refusal(text.encode(), yaml_body=True)
    assert isinstance(problem, ValidationFailed)
    assert problem.errors is not None
    assert "json_max_depth" in problem.errors[0].detail
    assert problem.errors[0].pointer.startswith("/b/0/0")


def test_yaml_aliases_that_expand_past_the_body_size_are_refused_naming_it() -> None:
    text = "s: &s " + "x" * 9000 + "\nl: &l [" + ", ".join(["*s"] * 90) + "]\nm: [" + ", ".join(["*l"] * 90) + "]\n"
    problem = refusal(text.encode(), yaml_body=True)
    assert isinstance(problem, ValidationFailed)
    assert problem.errors is not None
    assert "max_body_bytes" in problem.errors[0].detail
    assert problem.errors[0].pointer.startswith("/m/")


def test_yaml_aliases_and_merge_keys_are_expanded_into_unshared_plain_values() -> None:
    document = yaml_document(
        "base: &base {a: 1, b: [x, y]}\n"
        "other: &other {b: other, c: 3}\n"
        "same: *base\n"
        "merged: {<<: *base, a: 2}\n"
        "both: {<<: [*base, *other], d: 4}\n"
        "chained: {<<: {<<: *other, e: 5}}\n"
    )
    base = {"a": 1, "b": ["x", "y"]}
    assert document == {
        "base": base,
        "other": {"b": "other", "c": 3},
        "same": base,
        "merged": {"a": 2, "b": ["x", "y"]},
        "both": {"a": 1, "b": ["x", "y"], "c": 3, "d": 4},
        "chained": {"b": "other", "c": 3, "e": 5},
    }
    assert document["same"] is not document["base"]
    assert document["same"]["b"] is not document["base"]["b"]
    assert document["merged"]["b"] is not document["base"]["b"]


def test_yaml_scalars_are_yaml_1_2_core() -> None:
    assert yaml_document("a: yes\nb: true\nc: 2010-05-01\nd: 0x10\ne: 1.5\nf: ~\ng: '1'\n") == {
        "a": "yes",
        "b": True,
        "c": "2010-05-01",
        "d": 16,
        "e": 1.5,
        "f": None,
        "g": "1",
    }


@pytest.mark.parametrize("name", ["online-exposure.v1.yaml", "online-harm-england.v1.yaml"])
def test_the_shipped_yaml_is_checked_into_the_document_the_engine_reads(name: str) -> None:
    assert yaml_document(read_text(name)) == load_document(read_text(name))


def test_a_body_with_no_yaml_document_is_left_to_the_route() -> None:
    assert check_yaml_body(b"# only a comment\n", LIMITS) is None


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from("ab,[{\\\x00é\ud800"), max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text("ab[,", max_size=3), children, max_size=4)
    ),
    max_leaves=12,
)


_TIGHT = {"max_depth": 3, "max_array_items": 3, "max_object_keys": 3, "max_string_chars": 200, "max_nodes": 200}


@settings(max_examples=400, deadline=None)
@example(document=[1, 2, 3, 4], limits=JsonLimits(**_TIGHT), duplicate=False)  # boundaries of each bound
@example(document={"a": 1, "b": 2, "c": 3, "d": 4}, limits=JsonLimits(**_TIGHT), duplicate=False)
@example(document=[[[[]]]], limits=JsonLimits(**_TIGHT), duplicate=False)
@example(document=[[[]]], limits=JsonLimits(**_TIGHT), duplicate=False)
@example(document="abcd", limits=JsonLimits(**{**_TIGHT, "max_string_chars": 5}), duplicate=False)
@example(document=[1, [2]], limits=JsonLimits(**{**_TIGHT, "max_nodes": 3}), duplicate=False)
@example(document=2**53, limits=JsonLimits(**_TIGHT), duplicate=False)
@example(document=2**53 - 1, limits=JsonLimits(**_TIGHT), duplicate=False)
@given(
    document=_JSON,
    limits=st.builds(
        JsonLimits,
        max_depth=st.integers(1, 5),
        max_array_items=st.integers(1, 5),
        max_object_keys=st.integers(1, 5),
        max_string_chars=st.integers(1, 200),
        max_nodes=st.integers(1, 200),
    ),
    duplicate=st.booleans(),
)
def test_the_size_shortcut_decides_exactly_as_the_walk(document: Any, limits: JsonLimits, duplicate: bool) -> None:
    """check_json_body skips the walk only when the raw bytes prove it would find nothing: same outcome, always."""
    body = json.dumps(document).encode()
    if duplicate and body.startswith(b"{") and body != b"{}":
        body = b'{"a": 1, "a": 2, ' + body[1:]

    def outcome(check: Any) -> Any:
        try:
            return ("ok", check())
        except ProblemError as exc:
            return (type(exc).__name__, exc.detail, exc.errors)

    shortcut = outcome(lambda: check_json_body(body, limits)[1])  # type: ignore[index]
    walk = outcome(lambda: check_document(parse_json(body), limits))
    assert shortcut == walk
