"""Counterfactuals: the nearest single-answer changes that would move the level up or down."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.scoring.conditions import UNKNOWN, leaves
from app.scoring.models import (
    AnswerCondition,
    BooleanItem,
    Condition,
    ConditionTerm,
    IntegerItem,
    Item,
    MultiChoiceItem,
    SingleChoiceItem,
    YesNoUnknownItem,
)

if TYPE_CHECKING:  # the evaluator calls into this module; it needs only the type from there
    from app.scoring.evaluator import CompiledRuleSet


def counterfactuals(compiled: CompiledRuleSet, answers: dict[str, Any], level: int) -> list[dict[str, Any]]:
    """For each item, the nearest other answer that raises the level and the nearest that lowers it.

    Only changes that leave the answers valid count (an item must stay enabled, and a change must not disable
    an item that is answered or enable a required one that is not). Dates and free text are not varied.
    """
    levels = compiled.ruleset.levels
    boundaries = _integer_boundaries(compiled)
    found: list[tuple[int, int, dict[str, Any]]] = []
    valid, core = compiled.code.valid, compiled.code.core
    for position, item in enumerate(compiled.questionnaire.items):
        current = answers.get(item.id)
        higher: tuple[Any, int] | None = None
        lower: tuple[Any, int] | None = None
        for value in _candidates(item, current, boundaries.get(item.id, ())):
            trial = dict(answers)
            trial[item.id] = value
            if not valid(trial):
                continue
            new_level = core(trial)[0]
            if new_level > level and higher is None:
                higher = (value, new_level)
            elif new_level < level and lower is None:
                lower = (value, new_level)
            if higher is not None and lower is not None:
                break
        for direction, change in ((0, lower), (1, higher)):
            if change is not None:
                value, new_level = change
                found.append((direction, position, _describe(item, current, value, levels[new_level])))
    found.sort(key=lambda entry: (entry[0], entry[1]))
    return [entry for _, _, entry in found]


def _describe(item: Item, current: Any, value: Any, level: str) -> dict[str, Any]:
    text = f"Had '{item.question}' been {_label(item, value)}"
    if current is not None:
        text += f" instead of {_label(item, current)}"
    return {
        "item": item.id,
        "from": [*current] if isinstance(current, list) else current,  # not the caller's list
        "to": value,
        "level": level,
        "text": f"{text}, the level would be {level}",
    }


def _label(item: Item, value: Any) -> str:
    if isinstance(item, SingleChoiceItem | MultiChoiceItem):
        labels = {option.code: option.label for option in item.options}
        if isinstance(value, list):
            return "'" + ", ".join(str(labels.get(code, code)) for code in value) + "'" if value else "'none selected'"
        return f"'{labels.get(value, value)}'"
    if isinstance(value, bool):
        return "'yes'" if value else "'no'"
    return f"'{value}'"


def _candidates(item: Item, current: Any, boundaries: tuple[int, ...]) -> list[Any]:
    """Other answers to try, nearest to the current one first."""
    if isinstance(item, YesNoUnknownItem):
        return _nearest(["no", "yes", UNKNOWN], current)
    if isinstance(item, BooleanItem):
        return _nearest([False, True], current)
    if isinstance(item, SingleChoiceItem):
        return _nearest([option.code for option in item.options], current)
    if isinstance(item, MultiChoiceItem):
        return _toggles(item, current)
    if isinstance(item, IntegerItem):
        values = sorted(boundaries)
        if isinstance(current, int):
            values.sort(key=lambda value: (abs(value - current), value))
        return [*values, UNKNOWN] if item.allow_unknown else values
    return []


def _nearest(ordered: list[Any], current: Any) -> list[Any]:
    if current not in ordered:
        return ordered
    here = ordered.index(current)
    return sorted((v for v in ordered if v != current), key=lambda v: abs(ordered.index(v) - here))


def _toggles(item: MultiChoiceItem, current: Any) -> list[Any]:
    codes = [option.code for option in item.options]
    selected = [code for code in current if code != UNKNOWN] if isinstance(current, list) else []
    trials: list[Any] = []
    for code in codes:
        if code == UNKNOWN:
            trials.append([UNKNOWN])
        elif code in selected:
            trials.append([c for c in selected if c != code])
        else:
            trials.append([c for c in codes if c in selected or c == code])
    return [trial for trial in trials if trial != current]


def _integer_boundaries(compiled: CompiledRuleSet) -> dict[str, tuple[int, ...]]:
    cached = getattr(compiled, "_counterfactual_boundaries", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    ruleset = compiled.ruleset
    conditions: list[Condition] = [rule.when for rule in [*ruleset.triggers, *ruleset.floors]]
    for score in ruleset.scores:
        conditions += [term.when for term in score.terms or [] if isinstance(term, ConditionTerm)]
    found: dict[str, set[int]] = {}
    items = {item.id: item for item in compiled.questionnaire.items}
    for condition in conditions:
        for leaf, _ in leaves(condition):
            if not isinstance(leaf, AnswerCondition) or not isinstance(items.get(leaf.q), IntegerItem):
                continue
            _, operand = leaf.op()
            numbers = operand if isinstance(operand, list | tuple) else [operand]
            for number in numbers:
                if isinstance(number, int) and not isinstance(number, bool):
                    found.setdefault(leaf.q, set()).update((number - 1, number, number + 1))
    boundaries: dict[str, tuple[int, ...]] = {}
    for item_id, item in items.items():
        if not isinstance(item, IntegerItem):
            continue
        values = found.get(item_id, set()) | {v for v in (item.min, item.max) if v is not None}
        low = item.min if item.min is not None else -(2**63)
        high = item.max if item.max is not None else 2**63
        boundaries[item_id] = tuple(sorted(v for v in values if low <= v <= high))
    compiled._counterfactual_boundaries = boundaries  # type: ignore[attr-defined]
    return boundaries
