"""Our `enable_when` as FHIR R4 `enableWhen` + `enableBehavior`, or as an SDC `enableWhenExpression` (FHIRPath) where
R4's flat list cannot say exactly what our engine decides (docs/fhir.md, ADR 0016).

The engine's reading (app.scoring.conditions.holds): "unknown" and unanswered satisfy no comparison, not even `ne`;
`not` is plain negation. R4's operators (as R4B and R5 word them): `=`, `<`, `>`, `<=`, `>=` hold when at least one
answer compares so (never on no answer); `!=` holds when no answer equals the value (so also on no answer); `exists`
compares whether there is an answer. So `ne` becomes `=` over the remaining known codes (or `<` or `>` for a number
or a date), `not` of an `=` becomes `!=`, and one level of all/any becomes `enableBehavior`. Anything else (an
ordered comparison under `not`, mixed all/any nesting, `at_least` k of n with 1 < k < n, a difference of dates) is
an expression that decides the same thing on the QuestionnaireResponse.

In FHIR, "unknown" is a coding `unknown` for yes/no/unknown and choice items, and the `<id>.unknown` sibling
answered true for an integer, date or text item that allows it (its typed item is then absent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.fhir.canonical import (
    UNKNOWN_SUFFIX,
    YES_NO_UNKNOWN_DISPLAY,
    YES_NO_UNKNOWN_SYSTEM,
    YES_NO_UNKNOWN_VERSION,
    option_system,
)
from app.scoring.conditions import UNKNOWN
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
    ScoreCondition,
    SingleChoiceItem,
    TextItem,
    YesNoUnknownItem,
)

SDC_ENABLE_WHEN_EXPRESSION = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"
FHIRPATH = "text/fhirpath"

Behavior = Literal["all", "any"]


def has_unknown_sibling(item: Item) -> bool:
    """Whether the export adds the `<id>.unknown` boolean sibling (an integer, date or text item allowing unknown)."""
    return isinstance(item, IntegerItem | DateItem | TextItem) and item.allow_unknown


def sibling_id(item_id: str) -> str:
    return f"{item_id}{UNKNOWN_SUFFIX}"


@dataclass(frozen=True)
class Coded:
    """What a coded answer is compared with: the coding of one code of one item."""

    system: str
    version: str
    code: str
    display: str


@dataclass(frozen=True)
class Atom:
    """One R4 `enableWhen`: `question` `operator` `answer` (the answer[x] element name and its value)."""

    question: str
    operator: str
    answer_type: str
    answer: Any

    def negated(self) -> Atom | None:
        """The atom that holds exactly where this one does not (None: R4 has no such operator)."""
        if self.operator == "=":
            return Atom(self.question, "!=", self.answer_type, self.answer)
        if self.operator == "!=":
            return Atom(self.question, "=", self.answer_type, self.answer)
        if self.operator == "exists":
            return Atom(self.question, "exists", "answerBoolean", not self.answer)
        return None  # "no answer is < v" is not ">= v" (it also holds on no answer)

    def element(self) -> dict[str, Any]:
        answer = self.answer
        if isinstance(answer, Coded):
            answer = {
                "system": answer.system,
                "version": answer.version,
                "code": answer.code,
                "display": answer.display,
            }
        return {"question": self.question, "operator": self.operator, self.answer_type: answer}


@dataclass(frozen=True)
class Whens:
    """A flat list of atoms joined by `behavior` (one atom: either)."""

    behavior: Behavior | None
    atoms: tuple[Atom, ...]

    def joinable(self, behavior: Behavior) -> bool:
        return self.behavior is None or self.behavior == behavior


NEVER = "false"  # the FHIRPath of a condition that never holds


@dataclass(frozen=True)
class EnableRule:
    """How one item's enablement is written: `whens` (+ `behavior` when more than one), or an `expression`."""

    whens: tuple[Atom, ...] = ()
    behavior: Behavior | None = None
    expression: str | None = None

    def elements(self) -> dict[str, Any]:
        """The item's elements: enableWhen (+ enableBehavior), or the SDC extension."""
        if self.expression is not None:
            return {
                "extension": [
                    {
                        "url": SDC_ENABLE_WHEN_EXPRESSION,
                        "valueExpression": {"language": FHIRPATH, "expression": self.expression},
                    }
                ]
            }
        out: dict[str, Any] = {"enableWhen": [atom.element() for atom in self.whens]}
        if len(self.whens) > 1:
            out["enableBehavior"] = self.behavior
        return out


class Translator:
    """Translates the conditions of one questionnaire (they read its items)."""

    def __init__(self, items: Mapping[str, Item], base: str, questionnaire_key: str, questionnaire_version: int):
        self.items = items
        self.base = base
        self.key = questionnaire_key
        self.version = str(questionnaire_version)

    # --- the rule of one item -------------------------------------------------------------------------------

    def rule(self, condition: Condition | None, *, unknown_sibling_of: str | None = None) -> EnableRule | None:
        """The enablement of an item asked while `condition` holds (always when None); with `unknown_sibling_of`,
        also only while that item's unknown sibling is not answered true (the typed item of an unknown pair)."""
        off: Atom | None = None
        if unknown_sibling_of is not None:
            off = Atom(sibling_id(unknown_sibling_of), "!=", "answerBoolean", True)
        if condition is None:
            return None if off is None else EnableRule(whens=(off,))
        whens = self.whens(condition)
        if whens is not None and off is not None:
            whens = Whens("all", (*whens.atoms, off)) if whens.joinable("all") else None
        if whens is not None:
            behavior = whens.behavior or ("all" if len(whens.atoms) > 1 else None)
            return EnableRule(whens=whens.atoms, behavior=behavior)
        expression = self.expression(condition)
        if unknown_sibling_of is not None:
            expression = f"({expression}) and {self._sibling_true(unknown_sibling_of)}.not()"
        return EnableRule(expression=expression)

    # --- flat enableWhen lists ------------------------------------------------------------------------------

    def whens(self, condition: Condition) -> Whens | None:
        """`condition` as one flat list of atoms that decides exactly as the engine does; None if there is none."""
        if isinstance(condition, AnswerCondition):
            return self._leaf_whens(condition)
        if isinstance(condition, ScoreCondition | DateDifferenceCondition):
            return None
        if isinstance(condition, NotCondition):
            inner = self.whens(condition.not_)
            if inner is None:
                return None
            negated = [atom.negated() for atom in inner.atoms]
            if any(atom is None for atom in negated):
                return None
            flipped: Behavior | None = None
            if inner.behavior is not None:
                flipped = "any" if inner.behavior == "all" else "all"
            return Whens(flipped, tuple(atom for atom in negated if atom is not None))
        if isinstance(condition, AtLeastCondition):
            count = len(condition.of)
            if condition.at_least == 1:
                return self._joined("any", condition.of)
            if condition.at_least == count:
                return self._joined("all", condition.of)
            return None
        if isinstance(condition, AllCondition):
            return self._joined("all", condition.all)
        assert isinstance(condition, AnyCondition)
        return self._joined("any", condition.any)

    def _joined(self, behavior: Behavior, parts: list[Condition]) -> Whens | None:
        atoms: list[Atom] = []
        for part in parts:
            whens = self.whens(part)
            if whens is None or not whens.joinable(behavior):
                return None
            atoms.extend(whens.atoms)
        return Whens(behavior if len(atoms) > 1 else None, tuple(atoms))

    def _leaf_whens(self, leaf: AnswerCondition) -> Whens | None:
        item = self.items.get(leaf.q)
        if item is None:
            return None
        op, operand = leaf.op()
        sibling = has_unknown_sibling(item)
        if op == "answered":
            present = Atom(item.id, "exists", "answerBoolean", True)
            if not sibling:
                return _one(present)
            return Whens("any", (present, Atom(sibling_id(item.id), "=", "answerBoolean", True)))
        if op == "unanswered":
            absent = Atom(item.id, "exists", "answerBoolean", False)
            if not sibling:
                return _one(absent)
            return Whens("all", (absent, Atom(sibling_id(item.id), "!=", "answerBoolean", True)))
        if op == "is_unknown":
            return self._unknown_whens(item)
        values = list(operand) if isinstance(operand, list | tuple) else [operand]
        if any(value == UNKNOWN for value in values if isinstance(value, str)):
            return None  # refused by the static checks: "unknown" satisfies no comparison
        if isinstance(item, YesNoUnknownItem | SingleChoiceItem | MultiChoiceItem | BooleanItem):
            return self._choice_whens(item, op, values)
        if isinstance(item, IntegerItem | DateItem):
            return self._ordered_whens(item, op, values)
        return None  # text: only answered, unanswered and is_unknown pass the checks

    def _unknown_whens(self, item: Item) -> Whens | None:
        if isinstance(item, YesNoUnknownItem | SingleChoiceItem | MultiChoiceItem):
            if UNKNOWN not in self.codes(item):
                return None
            return _one(Atom(item.id, "=", "answerCoding", self.coded(item, UNKNOWN)))
        unknown_text = Atom(item.id, "=", "answerString", UNKNOWN)  # a text answer "unknown" reads as unknown
        if has_unknown_sibling(item):
            ticked = Atom(sibling_id(item.id), "=", "answerBoolean", True)
            return Whens("any", (ticked, unknown_text)) if isinstance(item, TextItem) else _one(ticked)
        return _one(unknown_text) if isinstance(item, TextItem) else None

    def _choice_whens(
        self, item: YesNoUnknownItem | SingleChoiceItem | MultiChoiceItem | BooleanItem, op: str, values: list[Any]
    ) -> Whens | None:
        if isinstance(item, BooleanItem):
            if op in ("eq", "in"):
                matching = [v for v in (True, False) if v in values]
            elif op in ("ne", "not_in"):
                matching = [v for v in (True, False) if v not in values]
            else:
                return None
            return _any_of([Atom(item.id, "=", "answerBoolean", v) for v in matching])
        known = [code for code in self.codes(item) if code != UNKNOWN]
        if isinstance(item, MultiChoiceItem):
            if op not in ("contains", "contains_any"):
                return None  # eq/ne on a list fail the checks
            return _any_of([Atom(item.id, "=", "answerCoding", self.coded(item, c)) for c in known if c in values])
        if op in ("eq", "in"):
            chosen = [code for code in known if code in values]
        elif op in ("ne", "not_in"):
            chosen = [code for code in known if code not in values]
        else:
            return None
        return _any_of([Atom(item.id, "=", "answerCoding", self.coded(item, code)) for code in chosen])

    @staticmethod
    def _ordered_whens(item: IntegerItem | DateItem, op: str, values: list[Any]) -> Whens | None:
        kind = "answerInteger" if isinstance(item, IntegerItem) else "answerDate"
        if not all(_typed_value(item, v) for v in values):
            return None
        single = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
        if op in single:
            return _one(Atom(item.id, single[op], kind, values[0]))
        if op == "in":
            return _any_of([Atom(item.id, "=", kind, v) for v in dict.fromkeys(values)])
        if op == "between":
            return Whens("all", (Atom(item.id, ">=", kind, values[0]), Atom(item.id, "<=", kind, values[1])))
        if op == "ne" or (op == "not_in" and len(set(values)) == 1):
            # one answer, known (unknown is the sibling): different from v means below or above it
            return Whens("any", (Atom(item.id, "<", kind, values[0]), Atom(item.id, ">", kind, values[0])))
        return None

    # --- FHIRPath -------------------------------------------------------------------------------------------

    def expression(self, condition: Condition) -> str:
        """A FHIRPath expression on the QuestionnaireResponse (%resource) that is true exactly where the engine's
        `holds` is, and never empty (every part ends in exists(), not() or a comparison of present values)."""
        if isinstance(condition, AnswerCondition):
            return self._leaf_expression(condition)
        if isinstance(condition, DateDifferenceCondition):
            return self._dates_expression(condition)
        if isinstance(condition, ScoreCondition):
            return NEVER  # refused in a questionnaire by the static checks (no scores there)
        if isinstance(condition, NotCondition):
            return f"({self.expression(condition.not_)}).not()"
        if isinstance(condition, AllCondition):
            return " and ".join(f"({self.expression(c)})" for c in condition.all)
        if isinstance(condition, AnyCondition):
            return " or ".join(f"({self.expression(c)})" for c in condition.any)
        assert isinstance(condition, AtLeastCondition)
        if condition.at_least > len(condition.of):
            return NEVER
        counted = " + ".join(f"iif({self.expression(c)}, 1, 0)" for c in condition.of)
        return f"({counted}) >= {condition.at_least}"

    def _leaf_expression(self, leaf: AnswerCondition) -> str:
        item = self.items.get(leaf.q)
        op, operand = leaf.op()
        if item is None:
            return "true" if op == "unanswered" else NEVER  # an item that does not exist is never answered
        answered = f"{_answers(item.id)}.exists()"
        if has_unknown_sibling(item):
            answered = f"({answered} or {self._sibling_true(item.id)})"
        if op == "answered":
            return answered
        if op == "unanswered":
            return f"{answered}.not()"
        if op == "is_unknown":
            return self._unknown_expression(item)
        values = list(operand) if isinstance(operand, list | tuple) else [operand]
        if any(value == UNKNOWN for value in values if isinstance(value, str)):
            return NEVER
        predicate = self._predicate(item, op, values)
        if predicate is None:
            return NEVER
        return f"{_answers(item.id)}.where({predicate}).exists()"

    def _unknown_expression(self, item: Item) -> str:
        if isinstance(item, YesNoUnknownItem | SingleChoiceItem | MultiChoiceItem):
            if UNKNOWN not in self.codes(item):
                return NEVER
            return f"{_answers(item.id)}.where(code = {_string(UNKNOWN)}).exists()"
        parts = []
        if has_unknown_sibling(item):
            parts.append(self._sibling_true(item.id))
        if isinstance(item, TextItem):
            parts.append(f"{_answers(item.id)}.where($this = {_string(UNKNOWN)}).exists()")
        return " or ".join(parts) if parts else NEVER

    def _predicate(self, item: Item, op: str, values: list[Any]) -> str | None:
        """A condition on one answer (`$this`) that holds for the answers `op values` holds on; None: none."""
        if isinstance(item, YesNoUnknownItem | SingleChoiceItem | MultiChoiceItem):
            known = [code for code in self.codes(item) if code != UNKNOWN]
            if isinstance(item, MultiChoiceItem):
                chosen = [code for code in known if code in values] if op in ("contains", "contains_any") else []
            elif op in ("eq", "in"):
                chosen = [code for code in known if code in values]
            elif op in ("ne", "not_in"):
                chosen = [code for code in known if code not in values]
            else:
                chosen = []
            return " or ".join(f"code = {_string(code)}" for code in chosen) or None
        if isinstance(item, BooleanItem):
            if op in ("eq", "in"):
                matching = [v for v in (True, False) if v in values]
            elif op in ("ne", "not_in"):
                matching = [v for v in (True, False) if v not in values]
            else:
                matching = []
            return " or ".join(f"$this = {_literal(v)}" for v in matching) or None
        if not isinstance(item, IntegerItem | DateItem) or not all(_typed_value(item, v) for v in values):
            return None  # text compares with nothing but answered/unanswered/is_unknown
        literals = [_literal(v) for v in values]
        if op in ("eq", "in"):
            return " or ".join(f"$this = {lit}" for lit in literals)
        if op in ("ne", "not_in"):
            return " and ".join(f"$this != {lit}" for lit in literals)
        if op == "between":
            return f"$this >= {literals[0]} and $this <= {literals[1]}"
        symbol = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}.get(op)
        return None if symbol is None else f"$this {symbol} {literals[0]}"

    def _dates_expression(self, condition: DateDifferenceCondition) -> str:
        span = condition.span
        first, last = (self.items.get(span.from_), self.items.get(span.to))
        if not isinstance(first, DateItem) or not isinstance(last, DateItem):
            return NEVER
        start, end = f"{_answers(first.id)}.first()", f"{_answers(last.id)}.first()"
        present = f"{_answers(first.id)}.exists() and {_answers(last.id)}.exists()"
        op, operand = condition.op()
        if condition.unit == "days":
            # end - start op n days  <=>  end op start + n days (whole days: exact)
            def shifted(days: int) -> str:
                return f"({start} {'+' if days >= 0 else '-'} {abs(days)} days)"

            if op == "between":
                test = f"$this >= {shifted(operand[0])} and $this <= {shifted(operand[1])}"
            else:
                symbol = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
                test = f"$this {symbol} {shifted(operand)}"
            return f"{_answers(last.id)}.where({test}).exists()"
        # completed years as app.scoring.conditions.years_between counts them (negative when end is earlier)
        years = f"iif({end} >= {start}, {_whole_years(start, end)}, 0 - {_whole_years(end, start)})"
        if op == "between":
            test = f"{years} >= {operand[0]} and {years} <= {operand[1]}"
        else:
            symbol = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
            test = f"{years} {symbol} {operand}"
        return f"({present} and ({test}))"

    def _sibling_true(self, item_id: str) -> str:
        return f"{_answers(sibling_id(item_id))}.where($this = true).exists()"

    # --- codes ----------------------------------------------------------------------------------------------

    @staticmethod
    def codes(item: YesNoUnknownItem | SingleChoiceItem | MultiChoiceItem) -> list[str]:
        if isinstance(item, YesNoUnknownItem):
            return ["yes", "no", UNKNOWN]
        return [option.code for option in item.options]

    def coded(self, item: YesNoUnknownItem | SingleChoiceItem | MultiChoiceItem, code: str) -> Coded:
        if isinstance(item, YesNoUnknownItem):
            return Coded(YES_NO_UNKNOWN_SYSTEM, YES_NO_UNKNOWN_VERSION, code, YES_NO_UNKNOWN_DISPLAY[code])
        label = next(option.label for option in item.options if option.code == code)
        return Coded(option_system(self.base, self.key, item.id), self.version, code, label)


def _one(atom: Atom) -> Whens:
    return Whens(None, (atom,))


def _any_of(atoms: list[Atom]) -> Whens | None:
    if not atoms:
        return None  # holds on no answer at all: written as the expression `false`
    return Whens("any" if len(atoms) > 1 else None, tuple(atoms))


def _typed_value(item: IntegerItem | DateItem, value: Any) -> bool:
    if isinstance(item, IntegerItem):
        return type(value) is int
    return isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-"


def _answers(link_id: str) -> str:
    return f"%resource.repeat(item).where(linkId = {_string(link_id)}).answer.value"


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f"@{value}"  # a YYYY-MM-DD date (checked by the static checks)


def _whole_years(start: str, end: str) -> str:
    """Completed years from `start` to `end` when end >= start: the difference of the years, less one when end's
    month and day come before start's (compared as MM-DD text, so 29 February needs no calendar arithmetic)."""

    def year(date: str) -> str:
        return f"{date}.toString().substring(0, 4).toInteger()"

    def month_day(date: str) -> str:
        return f"{date}.toString().substring(5, 5)"

    return f"({year(end)} - {year(start)} - iif({month_day(end)} < {month_day(start)}, 1, 0))"
