"""Walking conditions, and their reference semantics (the compiler emits code that must agree with `holds`)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from typing import Any

from app.scoring.models import (
    AllCondition,
    AnswerCondition,
    AnyCondition,
    AtLeastCondition,
    Condition,
    DateDifferenceCondition,
    NotCondition,
    ScoreCondition,
)

Leaf = AnswerCondition | ScoreCondition | DateDifferenceCondition
UNKNOWN = "unknown"


def children(condition: Condition) -> list[tuple[str, Condition]]:
    """Direct sub-conditions with the pointer suffix that reaches each."""
    if isinstance(condition, AllCondition):
        return [(f"/all/{i}", c) for i, c in enumerate(condition.all)]
    if isinstance(condition, AnyCondition):
        return [(f"/any/{i}", c) for i, c in enumerate(condition.any)]
    if isinstance(condition, AtLeastCondition):
        return [(f"/of/{i}", c) for i, c in enumerate(condition.of)]
    if isinstance(condition, NotCondition):
        return [("/not", condition.not_)]
    return []


def walk(condition: Condition, pointer: str = "") -> Iterator[tuple[Condition, str]]:
    """Every node, depth first, with its pointer."""
    stack = [(condition, pointer)]
    while stack:
        node, at = stack.pop()
        yield node, at
        stack.extend((child, at + suffix) for suffix, child in reversed(children(node)))


def leaves(condition: Condition, pointer: str = "") -> Iterator[tuple[Leaf, str]]:
    for node, at in walk(condition, pointer):
        if isinstance(node, AnswerCondition | ScoreCondition | DateDifferenceCondition):
            yield node, at


def size(condition: Condition) -> int:
    """Checking steps of a condition: one per node, plus one per value an `in`, `not_in` or `contains_any` lists."""
    steps = 0
    for node, _ in walk(condition):
        steps += 1
        if isinstance(node, AnswerCondition):
            _, operand = node.op()
            if isinstance(operand, list):
                steps += len(operand)
    return steps


def depth(condition: Condition) -> int:
    kids = children(condition)
    return 1 + max((depth(child) for _, child in kids), default=0)


def items_read(condition: Condition) -> list[str]:
    """Item ids the condition reads, in order of first appearance."""
    seen: dict[str, None] = {}
    for leaf, _ in leaves(condition):
        if isinstance(leaf, AnswerCondition):
            seen[leaf.q] = None
        elif isinstance(leaf, DateDifferenceCondition):
            seen[leaf.span.from_] = None
            seen[leaf.span.to] = None
    return list(seen)


def scores_read(condition: Condition) -> list[str]:
    return list({leaf.score: None for leaf, _ in leaves(condition) if isinstance(leaf, ScoreCondition)})


def is_unknown(value: object) -> bool:
    return value == UNKNOWN or value == [UNKNOWN]


def days_between(start: object, end: object) -> int | None:
    if not isinstance(start, str) or not isinstance(end, str) or start == UNKNOWN or end == UNKNOWN:
        return None
    return (datetime.date.fromisoformat(end) - datetime.date.fromisoformat(start)).days


def years_between(start: object, end: object) -> int | None:
    """Whole years from `start` to `end` (an age in completed years), negative when `end` is earlier."""
    if not isinstance(start, str) or not isinstance(end, str) or start == UNKNOWN or end == UNKNOWN:
        return None
    first, last = datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)
    sign = 1
    if last < first:
        first, last, sign = last, first, -1
    years = last.year - first.year - ((last.month, last.day) < (first.month, first.day))
    return sign * years


def compare(op: str, left: Any, right: Any) -> bool:
    """A comparison operator on a present, known value."""
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if op == "in":
        return left in right
    if op == "not_in":
        return left not in right
    if op == "lt":
        return bool(left < right)
    if op == "lte":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    if op == "gte":
        return bool(left >= right)
    if op == "between":
        return bool(right[0] <= left <= right[1])
    if op == "contains":
        return right in left
    if op == "contains_any":
        return any(code in left for code in right)
    raise AssertionError(f"unreachable: operator {op}")


def holds(condition: Condition, answers: Mapping[str, object], scores: Mapping[str, int]) -> bool:
    """Reference semantics: unknown and unanswered satisfy no comparison (not even `ne`)."""
    if isinstance(condition, AnswerCondition):
        value = answers.get(condition.q)
        op, operand = condition.op()
        if op == "answered":
            return value is not None
        if op == "unanswered":
            return value is None
        if op == "is_unknown":
            return is_unknown(value)
        if value is None or is_unknown(value):
            return False
        return compare(op, value, tuple(operand) if isinstance(operand, list) else operand)
    if isinstance(condition, ScoreCondition):
        op, operand = condition.op()
        return compare(op, scores[condition.score], operand)
    if isinstance(condition, DateDifferenceCondition):
        between = days_between if condition.unit == "days" else years_between
        difference = between(answers.get(condition.span.from_), answers.get(condition.span.to))
        if difference is None:
            return False
        op, operand = condition.op()
        return compare(op, difference, operand)
    if isinstance(condition, AllCondition):
        return all(holds(c, answers, scores) for c in condition.all)
    if isinstance(condition, AnyCondition):
        return any(holds(c, answers, scores) for c in condition.any)
    if isinstance(condition, NotCondition):
        return not holds(condition.not_, answers, scores)
    return sum(holds(c, answers, scores) for c in condition.of) >= condition.at_least
