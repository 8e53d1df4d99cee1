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
    assert checked.document == json.loads(body)
    assert checked.floats is floats


def test_nesting_past_the_parser_stack_is_still_a_limit() -> None:
    problem = refusal(b"[" * 200_000 + b"]" * 200_000)
    assert isinstance(problem, ValidationFailed)


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


def test_malformed_yaml_is_left_to_the_route_reader() -> None:
    check_yaml_body(b"key: [unclosed", LIMITS)


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

    shortcut = outcome(lambda: check_json_body(body, limits).floats)  # type: ignore[union-attr]
    walk = outcome(lambda: check_document(parse_json(body), limits))
    assert shortcut == walk
