"""Compiles a checked rule set into two generated Python functions.

`valid(answers) -> bool` is a fast yes/no answer check (the interpreted `AnswerValidator` explains a no), and
`core(answers) -> (level index, score tuple, fired rule indices)` is the whole decision. Everything that
explains a result is assembled afterwards from the fired indices (see evaluator.py).

Only the validated model reaches the generator: item ids, option codes and numbers are emitted with `repr()`,
every identifier in the generated source is made here (`a3`, `s1`, `P7`), and no text a rule author wrote
(titles, reasons) is ever part of the source.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from app.scoring.answers import can_be_unknown, is_iso_date
from app.scoring.checker import GAP_RULE_ID, items_read_by_triggers
from app.scoring.conditions import UNKNOWN, days_between, items_read, years_between
from app.scoring.models import (
    AllCondition,
    AnswerCondition,
    AnyCondition,
    AtLeastCondition,
    BooleanItem,
    Condition,
    ConditionTerm,
    DateDifferenceCondition,
    DateItem,
    IntegerItem,
    Item,
    LevelRule,
    MultiChoiceItem,
    NotCondition,
    PointsTerm,
    Questionnaire,
    RuleSet,
    ScoreCondition,
    ScoreTerm,
    SingleChoiceItem,
    TextItem,
    YesNoUnknownItem,
)

RuleKind = Literal["term", "band", "trigger", "floor", "gap", "action_rule"]
CoreFunction = Callable[[dict[str, Any]], tuple[int, tuple[int, ...], list[int]]]
ValidFunction = Callable[[object], bool]


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What the result needs to know about a rule that fired (index = position in `CompiledCode.rules`)."""

    kind: RuleKind
    id: str
    title: str | None
    reason: str | None
    source: str | None
    items: tuple[str, ...]
    actions: tuple[str, ...]
    level: int | None = None
    score: str | None = None
    explains_level: bool = False
    add: int | None = None
    points: dict[str, int] | None = None
    reads_score: str | None = None
    times: int = 0
    applies_at_levels: tuple[int, ...] | None = None


@dataclass(frozen=True)
class CompiledCode:
    source: str
    valid: ValidFunction
    core: CoreFunction
    rules: tuple[RuleInfo, ...]
    score_ids: tuple[str, ...]


def _unknown_token(item: Item) -> object:
    return [UNKNOWN] if isinstance(item, MultiChoiceItem) else UNKNOWN


def _multi_choice_ok(value: object, codes: frozenset[str]) -> bool:
    if value.__class__ is not list:
        return False
    assert isinstance(value, list)
    seen: set[str] = set()
    for code in value:
        if code.__class__ is not str or code not in codes or code in seen:
            return False
        seen.add(code)
    return not (UNKNOWN in seen and len(value) > 1)


def _date_ok(value: object) -> bool:
    return value.__class__ is str and is_iso_date(str(value))


class _Generator:
    def __init__(self, ruleset: RuleSet, questionnaire: Questionnaire) -> None:
        self.ruleset = ruleset
        self.questionnaire = questionnaire
        self.items = {item.id: item for item in questionnaire.items}
        self.item_var = {item.id: f"a{index}" for index, item in enumerate(questionnaire.items)}
        self.score_var = {score.id: f"s{index}" for index, score in enumerate(ruleset.scores)}
        self.level_index = {level: index for index, level in enumerate(ruleset.levels)}
        self.constants: dict[str, object] = {}
        self.rules: list[RuleInfo] = []
        self._temp = itertools.count()
        self.read: set[str] = set()

    def constant(self, value: object) -> str:
        name = f"K{len(self.constants)}"
        self.constants[name] = value
        return name

    # --- conditions ---------------------------------------------------------------------------------------

    def expr(self, condition: Condition) -> str:
        if isinstance(condition, AnswerCondition):
            return self._answer_expr(condition)
        if isinstance(condition, ScoreCondition):
            op, operand = condition.op()
            return self._compare(self.score_var[condition.score], op, operand)
        if isinstance(condition, DateDifferenceCondition):
            helper = "_days" if condition.unit == "days" else "_years"
            temp = f"d{next(self._temp)}"
            start, end = self.var(condition.span.from_), self.var(condition.span.to)
            op, operand = condition.op()
            return f"(({temp} := {helper}({start}, {end})) is not None and {self._compare(temp, op, operand)})"
        if isinstance(condition, AllCondition):
            return "(" + " and ".join(self.expr(c) for c in condition.all) + ")"
        if isinstance(condition, AnyCondition):
            return "(" + " or ".join(self.expr(c) for c in condition.any) + ")"
        if isinstance(condition, NotCondition):
            return f"(not {self.expr(condition.not_)})"
        assert isinstance(condition, AtLeastCondition)
        return "((" + ") + (".join(self.expr(c) for c in condition.of) + f") >= {condition.at_least!r})"

    def _compare(self, var: str, op: str, operand: Any) -> str:
        symbol = {"eq": "==", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}.get(op)
        if symbol is not None:
            return f"{var} {symbol} {operand!r}"
        assert op == "between"
        return f"{operand[0]!r} <= {var} <= {operand[1]!r}"

    def var(self, item_id: str) -> str:
        self.read.add(item_id)
        return self.item_var[item_id]

    def _answer_expr(self, leaf: AnswerCondition) -> str:
        var = self.var(leaf.q)
        item = self.items[leaf.q]
        op, operand = leaf.op()
        if op == "answered":
            return f"{var} is not None"
        if op == "unanswered":
            return f"{var} is None"
        if op == "is_unknown":
            return f"{var} == {_unknown_token(item)!r}"
        if isinstance(item, BooleanItem) and op in ("eq", "ne"):
            same = (op == "eq") == operand
            return f"{var} is True" if same else f"{var} is False"
        if op == "eq":
            return f"{var} == {operand!r}"  # None and "unknown" never equal an operand (checked)
        if op == "in":
            return f"{var} in {tuple(operand)!r}"
        if op == "contains":
            return f"({var} is not None and {operand!r} in {var})"
        if op == "contains_any":
            return f"({var} is not None and not {self.constant(frozenset(operand))}.isdisjoint({var}))"
        known = f"{var} is not None and {var} != {UNKNOWN!r}" if can_be_unknown(item) else f"{var} is not None"
        if op == "ne":
            return f"({known} and {var} != {operand!r})"
        if op == "not_in":
            return f"({known} and {var} not in {tuple(operand)!r})"
        return f"({known} and {self._compare(var, op, operand)})"

    # --- answer check -------------------------------------------------------------------------------------

    def valid_source(self) -> list[str]:
        required_by_rules = items_read_by_triggers(self.ruleset)
        known = self.constant(frozenset(self.items))
        lines = [
            "def valid(a):",
            "    if a.__class__ is not dict or not a.keys() <= " + known + " or None in a.values():",
            "        return False",
            "    g = a.get",
        ]
        lines += [f"    {self.item_var[item.id]} = g({item.id!r})" for item in self.questionnaire.items]
        for item in self.questionnaire.items:
            bad = self._malformed_expr(item)
            lines += [f"    if {self.item_var[item.id]} is not None and {bad}:", "        return False"]
        for item in self.questionnaire.items:
            var = self.item_var[item.id]
            enabled = self.expr(item.enable_when) if item.enable_when is not None else None
            if enabled is not None:
                lines += [f"    if {var} is not None and not {enabled}:", "        return False"]
            if item.required or item.id in required_by_rules:
                needed = [f"{var} is None"]
            elif item.required_when is not None:
                needed = [f"{var} is None", self.expr(item.required_when)]
            else:
                continue
            if enabled is not None:
                needed.insert(1, enabled)
            lines += [f"    if {' and '.join(needed)}:", "        return False"]
        lines.append("    return True")
        return lines

    def _malformed_expr(self, item: Item) -> str:
        var = self.item_var[item.id]
        if isinstance(item, YesNoUnknownItem):
            return f"{var} not in ('yes', 'no', 'unknown')"
        if isinstance(item, BooleanItem):
            return f"{var} is not True and {var} is not False"
        if isinstance(item, SingleChoiceItem):
            codes = self.constant(frozenset(option.code for option in item.options))
            return f"({var}.__class__ is not str or {var} not in {codes})"
        if isinstance(item, MultiChoiceItem):
            codes = self.constant(frozenset(option.code for option in item.options))
            return f"not _multi_ok({var}, {codes})"
        unknown_ok = f"{var} != {UNKNOWN!r} and " if item.allow_unknown else ""
        if isinstance(item, IntegerItem):
            bounds = []
            if item.min is not None:
                bounds.append(f"{var} < {item.min!r}")
            if item.max is not None:
                bounds.append(f"{var} > {item.max!r}")
            out_of_bounds = "".join(f" or {bound}" for bound in bounds)
            return f"{unknown_ok}({var}.__class__ is not int{out_of_bounds})"
        if isinstance(item, DateItem):
            return f"{unknown_ok}not _date_ok({var})"
        assert isinstance(item, TextItem)
        return f"({var}.__class__ is not str or len({var}) > {item.max_length!r})"

    # --- decision -----------------------------------------------------------------------------------------

    def add_rule(self, info: RuleInfo) -> int:
        self.rules.append(info)
        return len(self.rules) - 1

    def core_source(self) -> list[str]:
        rs = self.ruleset
        self.read = set()
        body = self._scores_source() + self._level_source()
        header = ["def core(a):", "    g = a.get"]
        header += [f"    {var} = g({item_id!r})" for item_id, var in self.item_var.items() if item_id in self.read]
        header += ["    f = []", "    ap = f.append"]
        lines = header + body
        scores = ", ".join(self.score_var[score.id] for score in rs.scores)
        lines.append(f"    return lvl, ({scores}{',' if len(rs.scores) == 1 else ''}), f")
        return lines

    def _scores_source(self) -> list[str]:
        rs = self.ruleset
        lines = [f"    {self.score_var[score.id]} = 0" for score in rs.scores]
        subtotals_of_term: dict[str, list[str]] = {}
        for score in rs.scores:
            if score.subtotal_of is None:
                continue
            base = next(s for s in rs.scores if s.id == score.subtotal_of)
            wanted = set(score.items or [])
            for term in base.terms or []:
                reads = _term_items(term)
                if wanted.intersection(reads):
                    subtotals_of_term.setdefault(term.id, []).append(self.score_var[score.id])
        for score in rs.scores:
            target = self.score_var[score.id]
            for term in score.terms or []:
                targets = [target, *subtotals_of_term.get(term.id, [])]
                explains = score.purpose == "level"
                if isinstance(term, ConditionTerm):
                    index = self.add_rule(
                        RuleInfo(
                            "term",
                            term.id,
                            None,
                            term.reason,
                            term.source,
                            tuple(items_read(term.when)),
                            tuple(term.actions),
                            score=score.id,
                            explains_level=explains,
                            add=term.add,
                        )
                    )
                    lines.append(f"    if {self.expr(term.when)}:")
                    lines += [f"        {t} += {term.add!r}" for t in targets]
                elif isinstance(term, PointsTerm):
                    index = self.add_rule(
                        RuleInfo(
                            "term",
                            term.id,
                            None,
                            term.reason,
                            term.source,
                            (term.q,),
                            tuple(term.actions),
                            score=score.id,
                            explains_level=explains,
                            points=dict(term.points),
                        )
                    )
                    lines.append(f"    p = {self.constant(dict(term.points))}.get({self.var(term.q)}, 0)")
                    lines.append("    if p:")
                    lines += [f"        {t} += p" for t in targets]
                else:
                    index = self.add_rule(
                        RuleInfo(
                            "term",
                            term.id,
                            None,
                            None,
                            None,
                            (),
                            (),
                            score=score.id,
                            reads_score=term.score,
                            times=term.times,
                        )
                    )
                    lines.append(f"    p = {self.score_var[term.score]} * {term.times!r}")
                    lines.append("    if p:")
                    lines += [f"        {t} += p" for t in targets]
                lines.append(f"        ap({index})")
        return lines

    def _raise_to(self, level: int, indent: str) -> list[str]:
        return [f"{indent}if lvl < {level!r}:", f"{indent}    lvl = {level!r}"] if level else []

    def _level_source(self) -> list[str]:
        rs = self.ruleset
        lines = ["    lvl = 0"]
        by_score: dict[str, list[tuple[int, int]]] = {}
        for position, band in enumerate(rs.bands):
            by_score.setdefault(band.score, []).append((band.gte, position))
        for score_id, bands in by_score.items():
            var = self.score_var[score_id]
            ordered = sorted(bands, reverse=True)
            for rank, (gte, position) in enumerate(ordered):
                band = rs.bands[position]
                level = self.level_index[band.level]
                n = sum(1 for b in rs.bands[:position] if b.score == score_id)
                index = self.add_rule(
                    RuleInfo(
                        "band",
                        band.id or f"{score_id}_band_{n}",
                        None,
                        band.reason,
                        band.source,
                        (),
                        tuple(band.actions),
                        level=level,
                        score=score_id,
                        explains_level=band.reason is not None,
                    )
                )
                if rank < len(ordered) - 1:
                    lines.append(f"    {'if' if rank == 0 else 'elif'} {var} >= {gte!r}:")
                else:
                    lines.append("    else:" if rank else "    if True:")
                lines.append(f"        ap({index})")
                lines += self._raise_to(level, "        ")
        level_rules: tuple[tuple[RuleKind, list[LevelRule]], ...] = (("trigger", rs.triggers), ("floor", rs.floors))
        for kind, rules in level_rules:
            for rule in rules:
                level = self.level_index[rule.level]
                index = self.add_rule(
                    RuleInfo(
                        kind,
                        rule.id,
                        rule.title,
                        rule.reason,
                        rule.source,
                        tuple(items_read(rule.when)),
                        tuple(rule.actions),
                        level=level,
                        explains_level=True,
                    )
                )
                lines += [f"    if {self.expr(rule.when)}:", f"        ap({index})", *self._raise_to(level, "        ")]
        gap = rs.unknown_answers
        if gap is not None:
            gap_items = gap.items if gap.items is not None else list(items_read_by_triggers(rs))
            gap_items = [i for i in self.items if i in gap_items and can_be_unknown(self.items[i])]
            if gap_items:
                level = self.level_index[gap.level]
                index = self.add_rule(
                    RuleInfo(
                        "gap",
                        GAP_RULE_ID,
                        None,
                        gap.reason,
                        gap.source,
                        tuple(gap_items),
                        tuple(gap.actions),
                        level=level,
                        explains_level=True,
                    )
                )
                test = " or ".join(f"{self.var(i)} == {_unknown_token(self.items[i])!r}" for i in gap_items)
                lines += [f"    if {test}:", f"        ap({index})", *self._raise_to(level, "        ")]
        for action_rule in rs.action_rules:
            levels = tuple(self.level_index[level] for level in action_rule.levels) if action_rule.levels else None
            index = self.add_rule(
                RuleInfo(
                    "action_rule",
                    action_rule.id,
                    None,
                    action_rule.reason,
                    action_rule.source,
                    tuple(items_read(action_rule.when)),
                    tuple(action_rule.actions),
                    applies_at_levels=levels,
                )
            )
            guard = f"lvl in {levels!r} and " if levels else ""
            lines += [f"    if {guard}{self.expr(action_rule.when)}:", f"        ap({index})"]
        return lines


def _term_items(term: ConditionTerm | PointsTerm | ScoreTerm) -> list[str]:
    if isinstance(term, ConditionTerm):
        return items_read(term.when)
    if isinstance(term, PointsTerm):
        return [term.q]
    return []


def generate(ruleset: RuleSet, questionnaire: Questionnaire) -> CompiledCode:
    """Source and functions for a rule set that passed `check_ruleset`."""
    generator = _Generator(ruleset, questionnaire)
    source = "\n".join([*generator.valid_source(), "", "", *generator.core_source(), ""])
    namespace: dict[str, Any] = {
        "__builtins__": {},
        "_days": days_between,
        "_years": years_between,
        "_multi_ok": _multi_choice_ok,
        "_date_ok": _date_ok,
        "len": len,
        "dict": dict,
        "int": int,
        "str": str,
        **generator.constants,
    }
    code = compile(source, f"<ruleset {ruleset.key} v{ruleset.version}>", "exec")
    exec(code, namespace)  # noqa: S102 - generated from the validated model only (see module docstring)
    return CompiledCode(
        source=source,
        valid=namespace["valid"],
        core=namespace["core"],
        rules=tuple(generator.rules),
        score_ids=tuple(score.id for score in ruleset.scores),
    )
