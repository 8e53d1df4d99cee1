"""Seeded answer sets for the golden corpus: valid, varied, and the same for the same seed on any machine.

The hypothesis strategies in tests/scoring draw uniformly and are only reproducible for one hypothesis version; a
corpus must be reproducible from its seed alone, so this draws from `random.Random(seed).random()` only (the one
sequence Python promises to keep). Each set first draws a profile (how often an answer is concerning, how often
"unknown"), so the sets range from quiet to grave and reach every level; items are answered as a careful assessor
would (what `enable_when` asks, required items always, optional ones mostly), and only valid sets are kept.
"""

from __future__ import annotations

import datetime
import json
import random
from collections.abc import Sequence
from typing import Any, TypeVar

from app.scoring import CompiledRuleSet
from app.scoring.checker import items_read_by_triggers
from app.scoring.conditions import UNKNOWN, holds
from app.scoring.models import (
    BooleanItem,
    Condition,
    DateItem,
    IntegerItem,
    Item,
    MultiChoiceItem,
    SingleChoiceItem,
    TextItem,
    YesNoUnknownItem,
)
from app.scoring.monotonicity import risk_order_of
from app.scoring.requirements import item_requirements

T = TypeVar("T")
CONCERN = (0.0, 0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.6, 0.85)  # chance that a risk answer is a concerning one
UNKNOWNS = (0.0, 0.0, 0.0, 0.02, 0.08)  # chance that an item allowing "unknown" is answered so
OPTIONAL_ANSWERED = 0.75
ANCHOR = datetime.date(2020, 1, 1)
DATE_SPREADS = (7, 60, 400, 6600)  # days back from the set's anchor date: recent to a childhood ago


class Draw:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed).random

    def chance(self, p: float) -> bool:
        return self.random() < p

    def pick(self, values: Sequence[T]) -> T:
        return values[int(self.random() * len(values))]

    def integer(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))


def _value(item: Item, order: Any, draw: Draw, concern: float, unknown: float, anchor: datetime.date) -> Any:
    if isinstance(item, YesNoUnknownItem):
        if draw.chance(unknown):
            return UNKNOWN
        least = order[0] if isinstance(order, list) else "no"
        return draw.pick([v for v in ("no", "yes") if v != least]) if draw.chance(concern) else least
    if isinstance(item, BooleanItem):
        return draw.chance(0.5)
    if isinstance(item, SingleChoiceItem):
        codes = [option.code for option in item.options]
        if UNKNOWN in codes and draw.chance(unknown):
            return UNKNOWN
        known = [code for code in codes if code != UNKNOWN] or codes
        if not isinstance(order, list):
            return draw.pick(known)
        least = order[0]
        others = [code for code in known if code != least]
        return draw.pick(others) if others and draw.chance(concern) else least
    if isinstance(item, MultiChoiceItem):
        codes = [option.code for option in item.options if option.code != UNKNOWN]
        if len(codes) < len(item.options) and draw.chance(unknown):
            return [UNKNOWN]
        return [code for code in codes if draw.chance(concern)]
    if isinstance(item, IntegerItem):
        if item.allow_unknown and draw.chance(unknown):
            return UNKNOWN
        low = item.min if item.min is not None else 0
        high = item.max if item.max is not None else low + 100
        quarter = (high - low) // 4
        if order == "rising" and not draw.chance(0.5 + concern):
            return draw.integer(low, low + quarter)
        if order == "falling" and not draw.chance(0.5 + concern):
            return draw.integer(high - quarter, high)
        return draw.integer(low, high)
    if isinstance(item, DateItem):
        if item.allow_unknown and draw.chance(unknown):
            return UNKNOWN
        return (anchor - datetime.timedelta(days=draw.integer(0, draw.pick(DATE_SPREADS)))).isoformat()
    assert isinstance(item, TextItem)
    if item.allow_unknown and draw.chance(unknown):
        return UNKNOWN
    return draw.pick(["Seen by the assessor.", "x", "Nothing further."])[: item.max_length]


def answer_set(compiled: CompiledRuleSet, draw: Draw) -> dict[str, Any]:
    """One careful assessor's answers (possibly invalid where the rule set asks more than the questionnaire)."""
    questionnaire, ruleset = compiled.questionnaire, compiled.ruleset
    concern, unknown = draw.pick(CONCERN), draw.pick(UNKNOWNS)
    anchor = ANCHOR + datetime.timedelta(days=draw.integer(0, 2000))
    values = {
        item.id: _value(item, risk_order_of(ruleset, item), draw, concern, unknown, anchor)
        for item in questionnaire.items
    }
    optional_answered = {item.id: draw.chance(OPTIONAL_ANSWERED) for item in questionnaire.items}
    requirements = item_requirements(questionnaire, items_read_by_triggers(ruleset))
    answers: dict[str, Any] = {}
    for _ in range(len(requirements) + 1):  # until what is asked no longer changes
        given = answers

        def holds_now(condition: Condition, given: dict[str, Any] = given) -> bool:
            return holds(condition, given, {})

        following = {
            r.item.id: values[r.item.id]
            for r in requirements
            if (r.enable_when is None or holds_now(r.enable_when))
            and (r.missing_message(holds_now) is not None or optional_answered[r.item.id])
        }
        if following == answers:
            break
        answers = following
    return answers


def answer_sets(compiled: CompiledRuleSet, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` distinct valid answer sets, the same for the same seed, rule set and questionnaire."""
    draw = Draw(seed)
    found: dict[str, dict[str, Any]] = {}
    for _ in range(count * 20):
        if len(found) == count:
            break
        answers = answer_set(compiled, draw)
        if not compiled.validate_answers(answers):
            found.setdefault(json.dumps(answers, sort_keys=True), answers)
    if len(found) < count:
        raise ValueError(f"only {len(found)} distinct valid answer sets in {count * 20} draws")
    return list(found.values())
