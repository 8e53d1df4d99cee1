"""Answer validation that reports every problem at once (the compiled fast check only says yes or no)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence

from app.scoring.conditions import UNKNOWN, holds
from app.scoring.errors import Issue, json_text, pointer_from
from app.scoring.models import (
    BooleanItem,
    Condition,
    DateItem,
    IntegerItem,
    Item,
    MultiChoiceItem,
    Questionnaire,
    SingleChoiceItem,
    TextItem,
    YesNoUnknownItem,
)
from app.scoring.requirements import NOT_ASKED, AnsweredAtLeast, item_requirements

DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
YES_NO_UNKNOWN = ("yes", "no", UNKNOWN)


def can_be_unknown(item: Item) -> bool:
    if isinstance(item, YesNoUnknownItem):
        return True
    if isinstance(item, SingleChoiceItem | MultiChoiceItem):
        return any(option.code == UNKNOWN for option in item.options)
    if isinstance(item, IntegerItem | DateItem | TextItem):
        return item.allow_unknown
    return False


def is_iso_date(value: str) -> bool:
    if not DATE_PATTERN.match(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def value_problems(item: Item, value: object, pointer: str) -> list[Issue]:
    """Why `value` is not an answer to `item` (empty when it is one)."""
    if value is None:
        return [Issue(pointer, "null is not an answer: leave the item out when it was not answered")]
    if isinstance(item, IntegerItem | DateItem | TextItem) and item.allow_unknown and value == UNKNOWN:
        return []
    if isinstance(item, YesNoUnknownItem):
        if value in YES_NO_UNKNOWN and isinstance(value, str):
            return []
        return [Issue(pointer, f'expected "yes", "no" or "unknown", got {json_text(value)}')]
    if isinstance(item, BooleanItem):
        return [] if isinstance(value, bool) else [Issue(pointer, f"expected true or false, got {json_text(value)}")]
    if isinstance(item, SingleChoiceItem):
        codes = [option.code for option in item.options]
        if isinstance(value, str) and value in codes:
            return []
        return [Issue(pointer, f"{json_text(value)} is not an option of this item (options: {', '.join(codes)})")]
    if isinstance(item, MultiChoiceItem):
        return _multi_choice_problems(item, value, pointer)
    if isinstance(item, IntegerItem):
        if not isinstance(value, int) or isinstance(value, bool):
            return [Issue(pointer, f"expected a whole number, got {json_text(value)}")]
        if (item.min is not None and value < item.min) or (item.max is not None and value > item.max):
            return [Issue(pointer, f"{value} is outside the allowed range {_range(item)}")]
        return []
    if isinstance(item, DateItem):
        if isinstance(value, str) and is_iso_date(value):
            return []
        return [Issue(pointer, f"expected a date as YYYY-MM-DD, got {json_text(value)}")]
    if not isinstance(value, str):
        return [Issue(pointer, f"expected text, got {json_text(value)}")]
    if len(value) > item.max_length:
        return [Issue(pointer, f"text is {len(value)} characters long; the limit is {item.max_length}")]
    return []


def _multi_choice_problems(item: MultiChoiceItem, value: object, pointer: str) -> list[Issue]:
    if not isinstance(value, list):
        return [Issue(pointer, f"expected a list of option codes, got {json_text(value)}")]
    codes = [option.code for option in item.options]
    problems: list[Issue] = []
    seen: set[str] = set()
    for index, code in enumerate(value):
        at = f"{pointer}/{index}"
        if not isinstance(code, str) or code not in codes:
            problems.append(Issue(at, f"{json_text(code)} is not an option of this item (options: {', '.join(codes)})"))
        elif code in seen:
            problems.append(Issue(at, f'"{code}" is listed twice'))
        else:
            seen.add(code)
    if UNKNOWN in seen and len(value) > 1:
        problems.append(Issue(pointer, '"unknown" must be the only code when it is given'))
    return problems


def _range(item: IntegerItem) -> str:
    low = "-∞" if item.min is None else str(item.min)
    high = "∞" if item.max is None else str(item.max)
    return f"{low}..{high}"


class AnswerValidator:
    """Checks answers against a questionnaire plus what a rule set requires: the items its triggers read, and the
    `min_answered` of its mean and prorated scores."""

    def __init__(
        self,
        questionnaire: Questionnaire,
        required_by_rules: Mapping[str, str],
        answered_at_least: Sequence[AnsweredAtLeast] = (),
    ) -> None:
        self.questionnaire = questionnaire
        self.items = {item.id: item for item in questionnaire.items}
        self.required_by_rules = dict(required_by_rules)
        self.requirements = item_requirements(questionnaire, self.required_by_rules)
        self.answered_at_least = tuple(answered_at_least)

    def validate(self, answers: object, prefix: str = "") -> list[Issue]:
        if not isinstance(answers, dict):
            return [Issue(prefix, "answers must be a JSON object keyed by item id")]
        issues: list[Issue] = []
        for key in sorted(str(k) for k in answers if k not in self.items):
            issues.append(Issue(prefix + pointer_from([key]), f"unknown item '{key}'"))
        well_formed: dict[str, object] = {}
        for item in self.questionnaire.items:
            if item.id in answers:
                problems = value_problems(item, answers[item.id], prefix + pointer_from([item.id]))
                issues.extend(problems)
                if not problems:
                    well_formed[item.id] = answers[item.id]

        def holds_here(condition: Condition) -> bool:
            return holds(condition, well_formed, {})

        for requirement in self.requirements:
            item_id = requirement.item.id
            enabled = requirement.enable_when is None or holds_here(requirement.enable_when)
            if item_id in answers:
                if not enabled:
                    issues.append(Issue(prefix + pointer_from([item_id]), NOT_ASKED))
            elif enabled and (message := requirement.missing_message(holds_here)) is not None:
                issues.append(Issue(prefix + pointer_from([item_id]), message))
        for rule in self.answered_at_least:
            not_answered = [item_id for item_id in rule.items if well_formed.get(item_id, UNKNOWN) == UNKNOWN]
            answered = len(rule.items) - len(not_answered)
            if answered < rule.count:  # pointing at the first item that could still be answered
                issues.append(Issue(prefix + pointer_from([not_answered[0]]), rule.message(answered)))
        return issues
