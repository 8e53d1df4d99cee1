"""JSON Merge Patch as RFC 7396 defines it: every example of its Appendix A, and the target never modified."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.core.merge_patch import merge_patch

# RFC 7396, Appendix A: (original, patch, result).
APPENDIX_A: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), APPENDIX_A)
def test_rfc_7396_appendix_a(original: Any, patch: Any, result: Any) -> None:
    kept = copy.deepcopy(original)
    assert merge_patch(original, patch) == result
    assert original == kept


def test_nested_members_merge_without_touching_the_target() -> None:
    target = {"a": {"b": {"c": 1, "d": [1, 2]}, "e": 2}, "f": 3}
    kept = copy.deepcopy(target)
    patched = merge_patch(target, {"a": {"b": {"c": None, "x": {"y": None}}}, "f": None})
    assert patched == {"a": {"b": {"d": [1, 2], "x": {}}, "e": 2}}
    assert target == kept
