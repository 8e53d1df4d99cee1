"""The answers schema: a JSON Schema (draft 2020-12) for the `answers` object of one questionnaire version under the
items a rule set requires (the inputs of `AnswerValidator`). It accepts exactly the answers the service accepts,
save for PERMITTED_DISAGREEMENTS (docs/answers.md, "The answers schema"; ADR 0009).

Each item's value rules are a property; its presence rule (requirements.py) is an `if`/`then`/`else` on its
`enable_when`, with `required_when` and the items the rule set requires inside the `then`; a mean or prorated
score's `min_answered` is an "at least k of these items answered, not unknown" rule of its own. Conditions become
schemas that hold on a set of well-formed answers exactly when `conditions.holds` does; the value rules make any
other set invalid anyway. What JSON Schema cannot say (a difference between two dates, a score, an `at_least`
too large to write out) is not guessed: each condition is translated twice, to a schema that holds only where the
condition surely holds and one that holds wherever it might, so that the schema accepts everything the service
accepts and the items whose presence it cannot decide exactly are listed under `x-riskapi-inexact-presence`.

The translation expects content that passed the static checks (the only content the service compiles); where it
meets a comparison those checks refuse, it treats it as inexpressible rather than guess Python's meaning.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.scoring.answers import YES_NO_UNKNOWN, can_be_unknown, is_iso_date
from app.scoring.conditions import UNKNOWN
from app.scoring.errors import json_text
from app.scoring.models import (
    AllCondition,
    AnswerCondition,
    AnyCondition,
    AtLeastCondition,
    BooleanItem,
    Condition,
    DateDifferenceCondition,
    DateItem,
    IntegerItem,
    Item,
    MultiChoiceItem,
    NotCondition,
    Questionnaire,
    ScoreCondition,
    SingleChoiceItem,
    TextItem,
    YesNoUnknownItem,
)
from app.scoring.requirements import AnsweredAtLeast, ItemRequirement, item_requirements

DIALECT = "https://json-schema.org/draft/2020-12/schema"
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
INEXACT_PRESENCE = "x-riskapi-inexact-presence"
# An `at_least k of n` is written as a chain of if/then/else definitions, one per (conditions still needed,
# position): at most n × k. One that needs more than MAX_AT_LEAST_DEFINITIONS, or more than are left of
# MAX_DEFINITIONS for the whole schema, is not written out: the items it decides are listed as inexact.
MAX_AT_LEAST_DEFINITIONS = 512
MAX_DEFINITIONS = 4096

Schema = dict[str, Any] | bool


@dataclass(frozen=True)
class Disagreement:
    """A rule the service and a JSON Schema validator apply differently (docs/answers.md lists the same)."""

    id: str
    text: str


PERMITTED_DISAGREEMENTS: tuple[Disagreement, ...] = (
    Disagreement(
        "whole-number-with-fraction",
        "A whole number written with a fraction part (`3.0`) as the answer to an integer item: JSON Schema counts "
        "it as an integer, the service refuses it (`expected a whole number, got 3.0`). Send `3`.",
    ),
    Disagreement(
        "inexact-presence",
        "Whether an item listed under `x-riskapi-inexact-presence` must, may or must not be answered: its "
        "`enable_when` or `required_when` compares two dates (`days_between`, `years_between`) or is an "
        "`at_least` too large to write out, or a score's `min_answered` spans too many items to write out, which "
        "JSON Schema cannot express. The schema accepts the item answered or left out wherever the service might; "
        "the service decides.",
    ),
    Disagreement(
        "request-limits",
        "The limits every request body is held to before its answers are read (docs/http.md): nesting depth, "
        "1,000 entries per array or object, 10,000 characters per string, integers within ±(2^53 − 1), no U+0000 "
        "or unpaired surrogate in a string. They are server settings and apply to the whole body, so the schema "
        "does not repeat them.",
    ),
    Disagreement(
        "date-after-today",
        "A date answer after today: the schema accepts any calendar date; recording an assessment (create, amend) "
        "refuses a date later than tomorrow's date in the UK (Europe/London), the one day's tolerance allowing for "
        "a clock or a time zone a little ahead. A dry run (evaluate) accepts it, so that it gives the same result "
        "on any day.",
    ),
)


def answers_schema(
    questionnaire: Questionnaire,
    required_by_rules: dict[str, str],
    answered_at_least: Sequence[AnsweredAtLeast] = (),
) -> dict[str, Any]:
    """The JSON Schema of the answers `AnswerValidator(questionnaire, required_by_rules, answered_at_least)`
    accepts."""
    return _Builder(questionnaire).build(item_requirements(questionnaire, required_by_rules), answered_at_least)


# --- conditions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Translated:
    """`sure` holds only where the condition holds, `maybe` wherever it may; the same schema when exact."""

    sure: Schema
    maybe: Schema
    why: tuple[str, ...] = ()  # why it is not exact (empty: exact)


def _exact(schema: Schema) -> _Translated:
    return _Translated(schema, schema)


def _inexpressible(why: str) -> _Translated:
    return _Translated(False, True, (why,))


def _all(parts: list[Schema]) -> Schema:
    if any(part is False for part in parts):
        return False
    kept = [part for part in parts if part is not True]
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else {"allOf": kept}


def _any(parts: list[Schema]) -> Schema:
    if any(part is True for part in parts):
        return True
    kept = [part for part in parts if part is not False]
    if not kept:
        return False
    return kept[0] if len(kept) == 1 else {"anyOf": kept}


def _not(schema: Schema) -> Schema:
    if isinstance(schema, bool):
        return not schema
    if list(schema) == ["not"]:
        inner: Schema = schema["not"]
        return inner
    return {"not": schema}


def _one_of_values(values: list[Any]) -> Schema:
    if not values:
        return False
    return {"const": values[0]} if len(values) == 1 else {"enum": values}


def _unknown_forms(item: Item | None) -> list[Any]:
    """The well-formed answers to `item` that `conditions.is_unknown` sees as unknown (no comparison holds on
    them). Text counts too: a text answer "unknown" is read as unknown even where the item does not offer it."""
    if item is None:
        return [UNKNOWN, [UNKNOWN]]
    if isinstance(item, MultiChoiceItem):
        return [[UNKNOWN]] if can_be_unknown(item) else []
    return [UNKNOWN] if can_be_unknown(item) or isinstance(item, TextItem) else []


def _date_pattern(date: str, op: str) -> str | None:
    """A pattern for the YYYY-MM-DD dates that compare to `date` by `op` (lt, lte, gt, gte) as strings compare;
    None when no date does. A date is well formed wherever this is used, so a prefix decides."""
    below = op in ("lt", "lte")
    alternatives = []
    for position, char in enumerate(date):
        if not char.isdigit():
            continue
        digit = int(char)
        low, high = (0, digit - 1) if below else (digit + 1, 9)
        if low <= high:
            span = str(low) if low == high else f"[{low}-{high}]"
            alternatives.append(date[:position] + span)
    if op in ("lte", "gte"):
        alternatives.append(date)
    if not alternatives:
        return None
    return "^(?:" + "|".join(alternatives) + ")"


def _date_comparison(op: str, operand: Any) -> Schema:
    bounds = [("gte", operand[0]), ("lte", operand[1])] if op == "between" else [(op, operand)]
    patterns = [_date_pattern(date, bound) for bound, date in bounds]
    if any(pattern is None for pattern in patterns):
        return False
    if len(patterns) == 1:
        return {"type": "string", "pattern": patterns[0]}
    return {"type": "string", "allOf": [{"pattern": pattern} for pattern in patterns]}


NUMBER_KEYWORDS = {"lt": "exclusiveMaximum", "lte": "maximum", "gt": "exclusiveMinimum", "gte": "minimum"}


def _number_comparison(op: str, operand: Any) -> Schema:
    if op == "between":
        return {"type": "integer", "minimum": operand[0], "maximum": operand[1]}
    return {"type": "integer", NUMBER_KEYWORDS[op]: operand}


def _refused_comparison(item: Item | None, op: str, values: list[Any]) -> str | None:
    """Why the static checks would refuse this comparison (so its Python meaning is not JSON Schema's)."""
    if item is None:
        return None  # never answered (an unknown key is refused): no comparison holds, as in the service
    if op in ("contains", "contains_any"):
        return None if isinstance(item, MultiChoiceItem) else f"'{op}' on a {item.type} item"
    if op in ("lt", "lte", "gt", "gte", "between"):
        if isinstance(item, IntegerItem) and all(type(v) is int for v in values):
            return None
        if isinstance(item, DateItem) and all(isinstance(v, str) and is_iso_date(v) for v in values):
            return None
        return f"'{op}' on a {item.type} item with {json_text(values)}"
    if isinstance(item, BooleanItem) != all(isinstance(v, bool) for v in values):
        return f"'{op}' on a {item.type} item with {json_text(values)}"
    if isinstance(item, IntegerItem) and not all(type(v) is int for v in values):
        return f"'{op}' on an integer item with {json_text(values)}"
    return None


class _Builder:
    def __init__(self, questionnaire: Questionnaire) -> None:
        self.questionnaire = questionnaire
        self.items: dict[str, Item] = {item.id: item for item in questionnaire.items}
        self.definitions: dict[str, Schema] = {}
        self._at_least_count = 0
        self._definitions_left = MAX_DEFINITIONS
        self._translated: dict[str, _Translated] = {}

    def translate(self, condition: Condition) -> _Translated:
        """`condition`, translated once however many items share it."""
        key = json.dumps(condition.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)
        if key not in self._translated:
            self._translated[key] = self.condition(condition)
        return self._translated[key]

    # --- conditions ---------------------------------------------------------------------------------------

    def condition(self, condition: Condition) -> _Translated:
        if isinstance(condition, AnswerCondition):
            return self._answer(condition)
        if isinstance(condition, DateDifferenceCondition):
            return _inexpressible(f"it compares two dates ({condition.unit}_between)")
        if isinstance(condition, ScoreCondition):
            return _inexpressible("it reads a score")
        if isinstance(condition, NotCondition):
            inner = self.condition(condition.not_)
            return _Translated(_not(inner.maybe), _not(inner.sure), inner.why)
        if isinstance(condition, AllCondition | AnyCondition):
            parts = [
                self.condition(c) for c in (condition.all if isinstance(condition, AllCondition) else condition.any)
            ]
            join = _all if isinstance(condition, AllCondition) else _any
            return self._joined(parts, join)
        assert isinstance(condition, AtLeastCondition)
        return self._at_least(condition)

    @staticmethod
    def _joined(parts: list[_Translated], join: Any) -> _Translated:
        why = tuple(reason for part in parts for reason in part.why)
        sure = join([part.sure for part in parts])
        return _Translated(sure, sure if not why else join([part.maybe for part in parts]), why)

    def _answer(self, leaf: AnswerCondition) -> _Translated:
        op, operand = leaf.op()
        present: dict[str, Any] = {"required": [leaf.q]}
        if op == "answered":
            return _exact(present)
        if op == "unanswered":
            return _exact({"not": present})
        item = self.items.get(leaf.q)
        unknown = _unknown_forms(item)
        if op == "is_unknown":
            return _exact(self._on(leaf.q, _one_of_values(unknown)))
        values = list(operand) if isinstance(operand, list | tuple) else [operand]
        refused = _refused_comparison(item, op, values)
        if refused is not None:
            return _inexpressible(f"it compares {refused}, which the static checks refuse")
        value: Schema
        if op in ("eq", "in"):
            value = _one_of_values([v for v in values if v not in unknown])
        elif op in ("ne", "not_in"):
            value = _not(_one_of_values([*unknown, *(v for v in values if v not in unknown)]))
        elif op in ("contains", "contains_any"):
            # "unknown" is an answer alone, and no comparison holds on it
            codes = [code for code in values if code != UNKNOWN]
            value = False if not codes else {"type": "array", "contains": _one_of_values(codes)}
        elif isinstance(values[0], str):
            value = _date_comparison(op, operand)
        else:
            value = _number_comparison(op, operand)
        return _exact(self._on(leaf.q, value))

    @staticmethod
    def _on(item_id: str, value: Schema) -> Schema:
        """Holds when the item is answered and its answer is valid under `value`."""
        if value is False:
            return False
        if value is True:
            return {"required": [item_id]}
        return {"required": [item_id], "properties": {item_id: value}}

    def _at_least(self, condition: AtLeastCondition) -> _Translated:
        parts = [self.condition(c) for c in condition.of]
        needed, count = condition.at_least, len(parts)
        if needed > count:
            return _exact(False)
        why = tuple(reason for part in parts for reason in part.why)
        if not self._room_for(needed, count, copies=2 if why else 1):
            return _inexpressible(f"it is an at_least {needed} of {count} conditions, too large to write out")
        sure = self._counted(needed, [part.sure for part in parts])
        return _Translated(sure, sure if not why else self._counted(needed, [part.maybe for part in parts]), why)

    def _room_for(self, needed: int, count: int, copies: int) -> bool:
        """Whether `copies` chains of "at least `needed` of `count`" fit the limits; if so, their room is taken."""
        if needed in (1, count):
            return True  # anyOf / allOf: no definitions
        states = sum(min(needed, count - i) - max(1, needed - i) + 1 for i in range(count))
        definitions = (states + count) * copies
        if definitions > min(MAX_AT_LEAST_DEFINITIONS, self._definitions_left):
            return False
        self._definitions_left -= definitions
        return True

    def _counted(self, needed: int, parts: list[Schema]) -> Schema:
        """At least `needed` of `parts` hold: if the first holds, `needed - 1` of the rest, else `needed` of the
        rest; one definition per (still needed, position), so it is n × k definitions, never n choose k, and a
        validator follows one path through them."""
        count = len(parts)
        if needed == 1:
            return _any(parts)
        if needed == count:
            return _all(parts)
        self._at_least_count += 1
        prefix = f"atLeast{self._at_least_count}"
        refs: list[Schema] = []
        for index, part in enumerate(parts):
            if isinstance(part, bool):
                refs.append(part)
            else:
                self.definitions[f"{prefix}_{index}"] = part
                refs.append({"$ref": f"#/$defs/{prefix}_{index}"})

        def state(still: int, index: int) -> Schema:
            if still <= 0:
                return True
            if count - index < still:
                return False
            return {"$ref": f"#/$defs/{prefix}_need{still}_from{index}"}

        for index in reversed(range(count)):
            for still in range(max(1, needed - index), min(needed, count - index) + 1):
                self.definitions[f"{prefix}_need{still}_from{index}"] = {
                    "if": refs[index],
                    "then": state(still - 1, index + 1),
                    "else": state(still, index + 1),
                }
        return state(needed, 0)

    # --- items --------------------------------------------------------------------------------------------

    def build(
        self, requirements: list[ItemRequirement], answered_at_least: Sequence[AnsweredAtLeast] = ()
    ) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        rules: list[Schema] = []
        groups: dict[str, tuple[Schema, list[tuple[str, Schema]]]] = {}
        inexact: dict[str, str] = {}
        for requirement in requirements:
            item_id = requirement.item.id
            properties[item_id] = self._property(requirement)
            enabled = _exact(True) if requirement.enable_when is None else self.translate(requirement.enable_when)
            if requirement.always_required:
                needed = _exact(True)
            elif requirement.required_when is not None:
                needed = self.translate(requirement.required_when)
            else:
                needed = _exact(False)
            reasons = [*(f"enable_when: {w}" for w in enabled.why), *(f"required_when: {w}" for w in needed.why)]
            if reasons:
                inexact[item_id] = "; ".join(dict.fromkeys(reasons))
                properties[item_id][INEXACT_PRESENCE] = inexact[item_id]
            if enabled.why:
                # asked only where it may be; required only where it surely is asked and surely required
                if enabled.maybe is not True:
                    rules.append({"if": enabled.maybe, "else": {"properties": {item_id: False}}})
                rules.extend(self._required_if(item_id, _all([enabled.sure, needed.sure]), required))
                continue
            if requirement.enable_when is None:
                rules.extend(self._required_if(item_id, needed.sure, required))
                continue
            key = json.dumps(requirement.enable_when.model_dump(mode="json", by_alias=True, exclude_none=True))
            groups.setdefault(key, (enabled.sure, []))[1].append((item_id, needed.sure))
        for enabled_schema, members in groups.values():
            always = [item_id for item_id, needed in members if needed is True]
            then = _all(
                [
                    {"required": always} if always else True,
                    *(
                        rule
                        for item_id, needed in members
                        if needed is not True
                        for rule in self._required_if(item_id, needed)
                    ),
                ]
            )
            rule: dict[str, Any] = {"if": enabled_schema}
            if then is not True:
                rule["then"] = then
            rule["else"] = {"properties": {item_id: False for item_id, _ in members}}
            rules.append(rule)
        for at_least in answered_at_least:
            if self._room_for(at_least.count, len(at_least.items), copies=1):
                rules.append(self._counted(at_least.count, [self._answered_known(i) for i in at_least.items]))
                continue
            why = (
                f"min_answered of score '{at_least.score}': at least {at_least.count} of {len(at_least.items)} "
                "items, too large to write out"
            )
            for item_id in at_least.items:
                inexact[item_id] = f"{inexact[item_id]}; {why}" if item_id in inexact else why
                properties[item_id][INEXACT_PRESENCE] = inexact[item_id]
        schema: dict[str, Any] = {
            "$schema": DIALECT,
            "title": f"Answers to {self.questionnaire.title}",
            "description": self._description(inexact),
            "type": "object",
            "properties": properties,
        }
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        if answered_at_least:
            schema["description"] += " " + " ".join(
                f"Score '{r.score}' needs at least {r.count} of {', '.join(r.items)} answered other than \"unknown\"."
                for r in answered_at_least
            )
        if rules:
            schema["allOf"] = rules
        if self.definitions:
            schema["$defs"] = self.definitions
        schema[INEXACT_PRESENCE] = inexact
        return schema

    def _answered_known(self, item_id: str) -> Schema:
        """Holds when the item is answered with something other than "unknown" (a `min_answered` counts it)."""
        unknown = _unknown_forms(self.items[item_id])
        return self._on(item_id, _not(_one_of_values(unknown)) if unknown else True)

    @staticmethod
    def _required_if(item_id: str, needed: Schema, required: list[str] | None = None) -> list[Schema]:
        """The rule "answered when `needed` holds" (as a list of zero or one rule); an unconditional one goes to
        `required` when given."""
        if needed is False:
            return []
        if needed is True:
            if required is not None:
                required.append(item_id)
                return []
            return [{"required": [item_id]}]
        return [{"if": needed, "then": {"required": [item_id]}}]

    def _description(self, inexact: dict[str, str]) -> str:
        q = self.questionnaire
        text = (
            f"The `answers` object of questionnaire '{q.key}' version {q.version}: one property per item, each "
            "with its question as the title. Which items must, may or must not be answered (enable_when, "
            "required, required_when and the items the rule set's triggers read) is in allOf. Validate with "
            "format assertion on (dates)."
        )
        if inexact:
            text += (
                f" Not exact for {len(inexact)} item(s) listed under {INEXACT_PRESENCE}: the service decides "
                "whether they are asked or required."
            )
        return text

    def _property(self, requirement: ItemRequirement) -> dict[str, Any]:
        item = requirement.item
        schema: dict[str, Any] = {"title": item.question}
        if item.help:
            schema["description"] = item.help
        schema.update(_value_rules(item))
        schema["x-riskapi-type"] = item.type
        schema["x-riskapi-section"] = item.section
        presence: dict[str, Any] = {}
        if requirement.enable_when is not None:
            presence["enable_when"] = requirement.enable_when.model_dump(mode="json", by_alias=True, exclude_none=True)
        if requirement.required:
            presence["required"] = True
        if requirement.required_when is not None:
            presence["required_when"] = requirement.required_when.model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        if requirement.required_by_rules is not None:
            presence["required_by_rules"] = requirement.required_by_rules
        schema["x-riskapi-presence"] = presence
        return schema


def _value_rules(item: Item) -> dict[str, Any]:
    """What `answers.value_problems` accepts for `item`, null never included."""
    if isinstance(item, YesNoUnknownItem):
        return {"enum": list(YES_NO_UNKNOWN)}
    if isinstance(item, BooleanItem):
        return {"type": "boolean"}
    if isinstance(item, SingleChoiceItem | MultiChoiceItem):
        codes = [option.code for option in item.options]
        labels = {"x-riskapi-options": {option.code: option.label for option in item.options}}
        if isinstance(item, SingleChoiceItem):
            return {"enum": codes, **labels}
        rules: dict[str, Any] = {"type": "array", "items": {"enum": codes}, "uniqueItems": True}
        if UNKNOWN in codes:
            rules.update({"if": {"contains": {"const": UNKNOWN}}, "then": {"maxItems": 1}})
        return {**rules, **labels}
    if isinstance(item, IntegerItem):
        rules = {"type": "integer"}
        if item.min is not None:
            rules["minimum"] = item.min
        if item.max is not None:
            rules["maximum"] = item.max
    elif isinstance(item, DateItem):
        rules = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
    else:
        assert isinstance(item, TextItem)
        rules = {"type": "string", "maxLength": item.max_length}
        if item.max_length >= len(UNKNOWN):
            return rules  # "unknown" is text within the limit: allowed either way
    if item.allow_unknown:
        return {"anyOf": [rules, {"const": UNKNOWN}]}
    return rules
