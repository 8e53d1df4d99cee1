"""`unknown_reads_as`: the answer rules read when an item is answered "unknown" (docs/rule-language.md, ADR 0013).

`most_concerning` is the only reading: the top of the item's risk order. Rules (score terms, so bands too,
triggers, floors, action rules) read it instead of "unknown"; the answer check (enable_when, required_when), the
gap rule, `information_gaps` and a trace's `reads` still see "unknown".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from app.scoring.answers import can_be_unknown
from app.scoring.conditions import UNKNOWN
from app.scoring.errors import Issue
from app.scoring.models import (
    BooleanItem,
    DateItem,
    IntegerItem,
    Item,
    MultiChoiceItem,
    RuleSet,
    TextItem,
)
from app.scoring.monotonicity import risk_order_of


def most_concerning(ruleset: RuleSet, item: Item) -> tuple[Any, str | None]:
    """(the item's most concerning answer, None), or (None, why it has none)."""
    name = f"'{item.id}' ({item.type})"
    if isinstance(item, BooleanItem):
        return None, f"{name} can never be answered unknown"
    if isinstance(item, DateItem):
        return None, f"{name}: a date has no most concerning value for unknown to read as"
    if isinstance(item, TextItem):
        return None, f"{name}: free text has no risk order, so no most concerning value for unknown to read as"
    if isinstance(item, MultiChoiceItem):
        return None, (
            f"{name}: a multi_choice answer is a set of options, and no one set is the most concerning "
            "for unknown to read as"
        )
    if not can_be_unknown(item):
        how = "set allow_unknown: true" if isinstance(item, IntegerItem) else "offer the option code unknown"
        return None, f"{name} can never be answered unknown ({how})"
    order = risk_order_of(ruleset, item)
    if order is None:
        kind = "rising or falling" if isinstance(item, IntegerItem) else "its answers, least to most concerning"
        return None, f"{name} has no risk_order entry ({kind}): its most concerning answer is the top of that order"
    if isinstance(item, IntegerItem):
        if order == "rising":
            return (item.max, None) if item.max is not None else (None, f"{name} rises in risk but has no max")
        if order == "falling":
            return (item.min, None) if item.min is not None else (None, f"{name} falls in risk but has no min")
        return None, f"{name}: its risk order must be rising or falling"
    if not isinstance(order, list) or not order:
        return None, f"{name}: its risk order must list its answers, least to most concerning"
    return order[-1], None


def check_unknown_reads_as(ruleset: RuleSet, items: Mapping[str, Item]) -> list[Issue]:
    """Every item named in `unknown_reads_as` exists, can be answered unknown and has a most concerning answer."""
    issues = []
    for item_id in ruleset.unknown_reads_as:
        at = f"/unknown_reads_as/{item_id}"
        item = items.get(item_id)
        if item is None:
            issues.append(Issue(at, f"unknown item '{item_id}'"))
            continue
        _, why = most_concerning(ruleset, item)
        if why is not None:
            issues.append(Issue(at, why))
    return issues


def is_unknown_refused(item_id: str) -> str:
    """Why a rule may not ask `is_unknown` of an item whose unknown rules read as its most concerning answer."""
    return (
        f"rules read unknown on '{item_id}' as its most concerning answer (unknown_reads_as), so is_unknown never "
        "holds in a rule; the unknown_answers rule and information_gaps still see unknown"
    )


def unknown_readings(ruleset: RuleSet, items: Collection[Item]) -> dict[str, Any]:
    """Item id → the answer rules read for "unknown", for a rule set that passed the checks."""
    by_id = {item.id: item for item in items}
    readings = {}
    for item_id in ruleset.unknown_reads_as:
        value, why = most_concerning(ruleset, by_id[item_id])
        assert why is None, why
        readings[item_id] = value
    return readings


def as_rules_read(answers: Mapping[str, object], readings: Mapping[str, object]) -> Mapping[str, object]:
    """The answers as rules read them: "unknown" replaced by its reading on the items that have one."""
    replaced = {item_id: value for item_id, value in readings.items() if answers.get(item_id) == UNKNOWN}
    return {**answers, **replaced} if replaced else answers
