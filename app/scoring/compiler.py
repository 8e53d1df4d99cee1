"""Compiles a checked rule set into generated Python functions.

`valid(answers) -> bool` is a fast yes/no answer check (the interpreted `AnswerValidator` explains a no),
`core(answers) -> (level index, score tuple, fired rule indices)` is the whole decision, and `plain(answers, chk)`
/ `traced(answers, chk)` check, decide and build the complete result object (with the trace) in one pass.

Only the validated model reaches the generator: item ids, option codes and numbers are emitted with `repr()`,
every identifier in the generated source is made here (`a3`, `s1`, `K7`), and no text a rule author wrote
(titles, reasons) is ever part of the source: it reaches the result through constants in the functions' globals.

Whatever is the same in every result that contains it (a reason with its items, a trigger, a floor, an action,
the questionnaire and rule-set references) is one read-only constant (`FrozenDict` / `FrozenList`, frozen.py)
that results share; a result's own dict, its lists, its scores and its trace are built per call.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal

from app.scoring.answers import can_be_unknown, is_iso_date
from app.scoring.checker import GAP_RULE_ID, JURISDICTION_NOTICE, items_read_by_triggers
from app.scoring.conditions import UNKNOWN, days_between, items_read, leaves, years_between
from app.scoring.frozen import FrozenDict, FrozenList, freeze
from app.scoring.models import (
    URGENCY_ORDER,
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
    Score,
    ScoreCondition,
    ScoreTerm,
    SingleChoiceItem,
    TextItem,
    YesNoUnknownItem,
)
from app.scoring.requirements import answered_at_least_of
from app.scoring.result import Result
from app.scoring.rounding import ROUNDING
from app.scoring.unknown_reading import unknown_readings

RuleKind = Literal["term", "band", "trigger", "floor", "gap", "action_rule"]
CoreFunction = Callable[[dict[str, Any]], tuple[int, tuple[int, ...], list[int]]]
ValidFunction = Callable[[object], bool]
ResultFunction = Callable[[Any, bool], "dict[str, Any] | None"]
_ACTION_MEMO_SIZE = 4096
# a reason whose items depend on which branches of an any/at_least held is looked up in a table of 2**tests
# prebuilt reasons indexed by the bit mask of those branches, up to this many tests (64 entries); built otherwise
_MAX_ITEM_TESTS = 6


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
    plain: ResultFunction
    traced: ResultFunction
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
    def __init__(self, ruleset: RuleSet, questionnaire: Questionnaire, engine_version: str) -> None:
        self.ruleset = ruleset
        self.engine_version = engine_version
        self.questionnaire = questionnaire
        self.items = {item.id: item for item in questionnaire.items}
        self.item_var = {item.id: f"a{index}" for index, item in enumerate(questionnaire.items)}
        # rules read "unknown" on these items as their most concerning answer: from a second local, `r<n>`, while
        # the answer check (enable_when, required_when), the gap rule and the trace read the answer (`a<n>`)
        self.readings = unknown_readings(ruleset, questionnaire.items)
        self.reading_var = {item_id: "r" + self.item_var[item_id][1:] for item_id in self.readings}
        self.checking_answers = False
        self.score_var = {score.id: f"s{index}" for index, score in enumerate(ruleset.scores)}
        self.level_index = {level: index for index, level in enumerate(ruleset.levels)}
        self.constants: dict[str, object] = {}
        self.rounding: dict[str, Callable[[int, int], int]] = {}
        self._shared: dict[frozenset[object], str] = {}
        self._texts: dict[str, str] = {}
        self.rules: list[RuleInfo] = []
        self._temp = itertools.count()
        self.read: set[str] = set()
        self._next_rule = 0
        self.mode: Literal["core", "plain", "traced"] = "core"
        # actions are numbered by (urgency, catalogue order), so a bit mask lists them in their result order
        urgency = {name: rank for rank, name in enumerate(URGENCY_ORDER)}
        ranked = sorted(range(len(ruleset.actions)), key=lambda i: (urgency[ruleset.actions[i].urgency], i))
        self.actions_in_order = tuple(ruleset.actions[i] for i in ranked)
        self.action_bit = {action.id: bit for bit, action in enumerate(self.actions_in_order)}
        policies = ruleset.level_policies
        self.policy_masks = tuple(
            self.action_mask(policies[level].actions) if level in policies else 0 for level in ruleset.levels
        )
        self.review_days = tuple(
            policies[level].review_within_days if level in policies else None for level in ruleset.levels
        )
        self.identity = {
            "questionnaire": {
                "key": questionnaire.key,
                "version": questionnaire.version,
                "content_hash": questionnaire.content_hash,
            },
            "ruleset": {"key": ruleset.key, "version": ruleset.version, "content_hash": ruleset.content_hash},
        }
        # term reasons come out by points (descending), then definition order: one list per possible points value
        points: set[int] = set()
        for score in ruleset.scores:
            for term in score.terms or [] if score.purpose == "level" else []:
                if isinstance(term, ConditionTerm):
                    points.add(term.add)
                elif isinstance(term, PointsTerm):
                    points.update(value for value in term.points.values() if value)
        self.buckets = {value: index for index, value in enumerate(sorted(points, reverse=True))}

    def constant(self, value: object) -> str:
        """A generated name for `value` in the functions' globals (one name per distinct string)."""
        if value is None:
            return "None"
        if value.__class__ is str:
            name = self._texts.get(value)
            if name is None:
                name = self._texts[value] = f"K{len(self.constants)}"
                self.constants[name] = value
            return name
        name = f"K{len(self.constants)}"
        self.constants[name] = value
        return name

    def frozen_constant(self, value: object) -> str:
        """A name for a read-only copy of JSON data that every result may share (see frozen.py)."""
        return self.constant(freeze(value))

    def shared_constant(self, value: frozenset[object]) -> str:
        """One name per distinct immutable value (the answer checks use the same few sets many times)."""
        name = self._shared.get(value)
        if name is None:
            name = self._shared[value] = self.constant(value)
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
        """The local a condition reads: the answer as rules read it, or as given while checking the answers."""
        self.read.add(item_id)
        if item_id in self.reading_var and not self.checking_answers:
            return self.reading_var[item_id]
        return self.item_var[item_id]

    def answer_var(self, item_id: str) -> str:
        """The local holding the answer as given ("unknown" included)."""
        self.read.add(item_id)
        return self.item_var[item_id]

    def _reading_lines(self, item_ids: Collection[str]) -> list[str]:
        """`r3 = <most concerning> if a3 == "unknown" else a3` for the fetched items that have a reading."""
        return [
            f"    {self.reading_var[item_id]} = {self.readings[item_id]!r} if {self.item_var[item_id]} == "
            f"{UNKNOWN!r} else {self.item_var[item_id]}"
            for item_id in self.readings
            if item_id in item_ids
        ]

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
        may_be_unknown = can_be_unknown(item) and var == self.item_var[leaf.q]
        known = f"{var} is not None and {var} != {UNKNOWN!r}" if may_be_unknown else f"{var} is not None"
        if op == "ne":
            return f"({known} and {var} != {operand!r})"
        if op == "not_in":
            return f"({known} and {var} not in {tuple(operand)!r})"
        return f"({known} and {self._compare(var, op, operand)})"

    def _fetch_lines(self, item_ids: list[str]) -> list[str]:
        """`a0 = ...` for each item: all at once by `itemgetter` when every item is answered (`full`), else with
        `a.get`.

        One `itemgetter` call does in C the subscripts that would each be three bytecodes; `full` is only set for
        an exact dict (a subclass could define `__missing__`) with as many keys as items, and a KeyError (an
        unknown key) falls back."""
        count = len(self.questionnaire.items)
        lines = [f"    full = len(a) == {count} and a.__class__ is dict", "    if full:", "        try:"]
        if len(item_ids) > 1:
            targets = ", ".join(self.item_var[item_id] for item_id in item_ids)
            lines.append(f"            {targets} = {self.constant(itemgetter(*item_ids))}(a)")
        else:
            lines += [f"            {self.item_var[item_id]} = a[{item_id!r}]" for item_id in item_ids]
        lines += ["        except KeyError:", "            full = False", "    if not full:", "        g = a.get"]
        lines += [f"        {self.item_var[item_id]} = g({item_id!r})" for item_id in item_ids]
        return lines

    # --- answer check -------------------------------------------------------------------------------------

    def valid_source(self) -> list[str]:
        lines = ["def valid(a):", "    if a.__class__ is not dict:", "        return False"]
        lines += [*self._fetch_lines(list(self.item_var)), "    try:"]
        lines += self._check_lines("        ", "return False", "full")
        lines += ["    except TypeError:  # an unhashable value where an option code belongs", "        return False"]
        lines.append("    return True")
        return lines

    def _check_lines(self, indent: str, fail: str, full: str | None = None, gaps: bool = False) -> list[str]:
        """Statements that run `fail` unless the fetched answers (`a0`, `a1`, ...) are valid.

        `len(a)` equal to the number of items answered with something other than None rules out unknown keys
        and null values in one comparison; `full`, when given, names a local that is true only if every item is
        a key of `a` (it replaces the `len(a)` test of the common case). A hashable value is checked by set
        membership; an unhashable one raises TypeError there, which the callers treat as "not valid" (or "ask
        the full validator"). With `gaps`, the answers that are "unknown" are also appended to `gp` (in item
        order): in the common case by the same comparisons that check a yes/no/unknown answer."""
        self.checking_answers = True
        try:
            return self._answer_check_lines(indent, fail, full, gaps)
        finally:
            self.checking_answers = False

    def _answer_check_lines(self, indent: str, fail: str, full: str | None, gaps: bool) -> list[str]:
        required_by_rules = items_read_by_triggers(self.ruleset)
        always = 0
        maybe: list[str] = []
        for item in self.questionnaire.items:
            if item.enable_when is None and (item.required or item.id in required_by_rules):
                always += 1
            else:
                maybe.append(f"({self.item_var[item.id]} is not None)")
        # Common case first: every item answered. Then no None may be fetched (each check below rejects it),
        # and an answered item only has to be enabled.
        inner = indent + "    "
        lines = [f"{indent}if {full or f'len(a) == {len(self.questionnaire.items)}'}:"]
        for item in self.questionnaire.items:
            var = self.item_var[item.id]
            if gaps and isinstance(item, YesNoUnknownItem):
                lines += [
                    f"{inner}if {var} != 'no':",
                    f"{inner}    if {var} == {UNKNOWN!r}:",
                    f"{inner}        gp.append({item.id!r})",
                    f"{inner}    elif {var} != 'yes':",
                    f"{inner}        {fail}",
                ]
                continue
            lines += [f"{inner}if {self._malformed_expr(item, present=True)}:", f"{inner}    {fail}"]
            if gaps and can_be_unknown(item):
                lines += self._gap_lines(item, inner)
        for item in self.questionnaire.items:
            if item.enable_when is not None:
                lines += [f"{inner}if not {self.expr(item.enable_when)}:", f"{inner}    {fail}"]
        lines += self._answered_at_least_lines(inner, fail, every_item_answered=True)
        lines.append(f"{indent}else:")
        indent = inner
        lines += [f"{indent}if len(a) != {' + '.join([str(always), *maybe])}:", f"{indent}    {fail}"]
        for item in self.questionnaire.items:
            lines += [f"{indent}if {self._malformed_expr(item)}:", f"{indent}    {fail}"]
        for item in self.questionnaire.items:
            var = self.item_var[item.id]
            enabled = self.expr(item.enable_when) if item.enable_when is not None else None
            if enabled is not None:
                lines += [f"{indent}if {var} is not None and not {enabled}:", f"{indent}    {fail}"]
            if item.required or item.id in required_by_rules:
                needed = [f"{var} is None"]
            elif item.required_when is not None:
                needed = [f"{var} is None", self.expr(item.required_when)]
            else:
                continue
            if enabled is not None:
                needed.insert(1, enabled)
            lines += [f"{indent}if {' and '.join(needed)}:", f"{indent}    {fail}"]
        lines += self._answered_at_least_lines(indent, fail, every_item_answered=False)
        if gaps:
            lines += self._all_gap_lines(indent)
        return lines

    def _answered_at_least_lines(self, indent: str, fail: str, every_item_answered: bool) -> list[str]:
        """`fail` unless each mean or prorated score has at least `min_answered` of its items answered (not
        unknown); with `every_item_answered`, only an "unknown" can leave one of them unanswered."""
        lines = []
        for rule in answered_at_least_of(self.ruleset):
            counted = []
            for item_id in rule.items:
                var, item = self.item_var[item_id], self.items[item_id]
                if not can_be_unknown(item):
                    counted.append("1" if every_item_answered else f"({var} is not None)")
                elif every_item_answered:
                    counted.append(f"({var} != {UNKNOWN!r})")
                else:
                    counted.append(f"({var} not in {_set_literal((None, UNKNOWN))})")
            if every_item_answered and all(term == "1" for term in counted):
                continue  # every item answered and none can be "unknown": min_answered (<= items) holds
            test = f"{indent}if {' + '.join(counted)} < {rule.count!r}:"
            if test not in lines:  # two scores over the same items (a mean and a prorated one) share one test
                lines += [test, f"{indent}    {fail}"]
        return lines

    def _gap_lines(self, item: Item, indent: str) -> list[str]:
        var = self.item_var[item.id]
        return [f"{indent}if {var} == {_unknown_token(item)!r}:", f"{indent}    gp.append({item.id!r})"]

    def _all_gap_lines(self, indent: str) -> list[str]:
        return [
            line for item in self.questionnaire.items if can_be_unknown(item) for line in self._gap_lines(item, indent)
        ]

    def _malformed_expr(self, item: Item, present: bool = False) -> str:
        """True when the answer is not a well-formed value; None passes unless the item must be `present`."""
        var = self.item_var[item.id]
        absent = () if present else (None,)
        if isinstance(item, YesNoUnknownItem):
            return f"{var} not in {_set_literal(('yes', 'no', UNKNOWN, *absent))}"
        if isinstance(item, SingleChoiceItem):
            return f"{var} not in {_set_literal([*(option.code for option in item.options), *absent])}"
        present_test = "" if present else f"{var} is not None and "
        if isinstance(item, BooleanItem):
            return f"{present_test}{var} is not True and {var} is not False"
        if isinstance(item, MultiChoiceItem):
            codes = self.shared_constant(frozenset(option.code for option in item.options))
            return f"{present_test}not _multi_ok({var}, {codes})"
        unknown_ok = f"{var} != {UNKNOWN!r} and " if item.allow_unknown else ""
        if isinstance(item, IntegerItem):
            bounds = []
            if item.min is not None:
                bounds.append(f"{var} < {item.min!r}")
            if item.max is not None:
                bounds.append(f"{var} > {item.max!r}")
            out_of_bounds = "".join(f" or {bound}" for bound in bounds)
            return f"{present_test}{unknown_ok}({var}.__class__ is not int{out_of_bounds})"
        if isinstance(item, DateItem):
            return f"{present_test}{unknown_ok}not _date_ok({var})"
        assert isinstance(item, TextItem)
        return f"{present_test}({var}.__class__ is not str or len({var}) > {item.max_length!r})"

    # --- decision -----------------------------------------------------------------------------------------

    def add_rule(self, info: RuleInfo) -> int:
        """Registers a rule on the first pass; later passes emit the same rules in the same order."""
        index = self._next_rule
        self._next_rule += 1
        if index == len(self.rules):
            self.rules.append(info)
        return index

    def core_source(self) -> list[str]:
        rs = self.ruleset
        self.mode, self._next_rule, self.read = "core", 0, set()
        body = self._scores_source() + self._level_source()
        header = ["def core(a):", *self._fetch_lines([item_id for item_id in self.item_var if item_id in self.read])]
        header += self._reading_lines(self.read)
        header += ["    f = []", "    ap = f.append"]
        lines = header + body
        scores = ", ".join(self.score_var[score.id] for score in rs.scores)
        lines.append(f"    return lvl, ({scores}{',' if len(rs.scores) == 1 else ''}), f")
        return lines

    # --- result object ------------------------------------------------------------------------------------

    def result_source(self, mode: Literal["plain", "traced"]) -> list[str]:
        """`plain(a, chk)` / `traced(a, chk)`: the answer check (when `chk`), the decision and the whole result.

        Returns None when `chk` is set and the answers are not valid (the evaluator then asks the interpreted
        validator why). Reasons are appended where their rule fires into lists whose concatenation is already
        the documented order, so nothing is sorted per call; author text only comes in through constants.
        """
        self.mode, self._next_rule = mode, 0
        lines = [
            f"def {mode}(a, chk):",
            "    if chk and a.__class__ is not dict:",
            "        return None",
            *self._fetch_lines(list(self.item_var)),
        ]
        lines += ["    gp = []", "    if chk:", *self._check_lines("        ", "return None", "full", gaps=True)]
        lines += ["    else:", *(self._all_gap_lines("        ") or ["        pass"])]
        lines += self._reading_lines(self.item_var)
        band_reasons = any(band.reason is not None for band in self.ruleset.bands)
        lines += ["    m = 0", "    TR = []", "    FL = []", "    LR = []"] + (["    BR = []"] if band_reasons else [])
        lines += [f"    b{index} = []" for index in range(len(self.buckets))]
        if mode == "traced":
            lines.append("    T = []")
        lines += self._scores_source() + self._level_source() + self._score_band_lines()
        lines.append("    pf = []")
        for item_id in self.ruleset.protective_factors:
            if item_id in self.item_var:
                var = self.item_var[item_id]
                lines += [f"    if {var} is True or {var} == 'yes':", f"        pf.append({item_id!r})"]
        ids = self.constant
        scores = ", ".join(f"{ids(score.id)}: {self.score_var[score.id]}" for score in self.ruleset.scores)
        reasons = ", ".join(["*LR", *(["*BR"] if band_reasons else []), *(f"*b{i}" for i in range(len(self.buckets)))])
        lines += [
            f"    m |= {ids(self.policy_masks)}[lvl]",
            "    ts = _action_memo.get(m)",
            "    if ts is None:",
            "        ts = _actions_of(m)",
            f"    r = _copy({ids(self._result_templates())}[lvl])",
            f"    r['scores'] = {{{scores}}}",
            "    r['triggers'] = TR",
            "    r['floors_applied'] = FL",
            f"    r['reasons'] = [{reasons}]",
            "    r['actions'] = [*ts]",
            "    r['information_gaps'] = gp",
            "    r['protective_factors'] = pf",
        ]
        banded = self._banded_scores()
        if banded:
            found = ", ".join(f"{ids(score.id)}: sb{index}" for index, score in banded)
            lines.append(f"    r['score_bands'] = {{{found}}}")
        notices = self._notices()
        if notices:
            assert self.ruleset.jurisdictions is not None
            answer = self.var(self.ruleset.jurisdictions.item)
            lines += [
                f"    nt = {self.frozen_constant(notices)}.get({answer})",
                "    r['notices'] = [] if nt is None else [nt]",
            ]
        else:
            lines.append("    r['notices'] = []")
        if mode == "traced":
            lines.append("    r['trace'] = T")
        lines.append("    return r")
        return lines

    def when_fired(self, index: int, when: Condition, first: list[str], after: list[str]) -> list[str]:
        """`if <when>:`, then the lines `first`, what the rule does when it fires, and the lines `after`.

        When the rule's reason is picked by which branches of a top-level any/at_least held and each branch is
        one test, the branches' bit mask `k` is computed first and decides the condition: each branch is tested
        once instead of twice (the condition, then the mask)."""
        indent = "        "
        rule = self.rules[index]
        explains = rule.kind in ("trigger", "floor") or (rule.kind == "term" and rule.explains_level)
        tests = _item_tests(when)
        one_pass = self.mode != "core" and explains and 0 < len(tests) <= _MAX_ITEM_TESTS
        if one_pass and isinstance(when, AnyCondition) and tests == when.any:
            held = "k"
        elif one_pass and isinstance(when, AtLeastCondition) and tests == when.of:
            counts = tuple(mask.bit_count() for mask in range(1 << len(tests)))
            held = f"{self.constant(counts)}[k] >= {when.at_least!r}"
        else:
            return [f"    if {self.expr(when)}:", *first, *self.fire(index, indent, when), *after]
        lines = ["    k = 0"]
        self._mask_lines(when, "    ", {id(test): position for position, test in enumerate(tests)}, lines)
        return [*lines, f"    if {held}:", *first, *self.fire(index, indent, when, mask_ready=True), *after]

    def _result_templates(self) -> tuple[dict[str, Any], ...]:
        """Per level, the result's required keys in the published schema's order (result.py; `trace` and
        `counterfactuals` are added only when asked), with what depends only on the level filled in. Each call
        copies one (a C-level copy of the key table) and stores the rest, instead of building a 17-key dict.
        The templates never leave the generated functions' globals: a result gets a copy."""
        keys = dict.fromkeys(name for name, field in Result.model_fields.items() if field.is_required())
        decimals = {score.id: score.decimals for score in self.ruleset.scores if score.decimals}
        shared = {
            "score_decimals": freeze(decimals),
            "score_bands": freeze({}),  # when no score has bands; else set per call
            "disclaimer": self.ruleset.disclaimer,
            "questionnaire": freeze(self.identity["questionnaire"]),
            "ruleset": freeze(self.identity["ruleset"]),
            "engine_version": self.engine_version,
        }
        return tuple(
            keys | {"level": level, "computed_level": level, "review_within_days": self.review_days[index], **shared}
            for index, level in enumerate(self.ruleset.levels)
        )

    def _banded_scores(self) -> list[tuple[int, Score]]:
        return [(index, score) for index, score in enumerate(self.ruleset.scores) if score.bands]

    def _score_band_lines(self) -> list[str]:
        """`sb<n> = ` the band (a shared {code, label}) score n falls in: bands tried from the highest `gte` down;
        the lowest starts at 0 and scores are never negative, so one always holds."""
        lines = []
        for index, score in self._banded_scores():
            assert score.bands is not None
            var = self.score_var[score.id]
            ordered = sorted(score.bands, key=lambda band: band.gte, reverse=True)
            for rank, band in enumerate(ordered):
                if rank == len(ordered) - 1:
                    lines.append("    else:" if rank else "    if True:")
                else:
                    lines.append(f"    {'if' if rank == 0 else 'elif'} {var} >= {band.gte!r}:")
                lines.append(f"        sb{index} = {self.frozen_constant({'code': band.code, 'label': band.label})}")
        return lines

    def _notices(self) -> dict[str, dict[str, str]]:
        """Per answer of the jurisdiction item outside the rule set's `codes`, the notice it adds (empty without
        `jurisdictions`); unanswered and "unknown" add none."""
        declared = self.ruleset.jurisdictions
        if declared is None:
            return {}
        item = self.items[declared.item]
        assert isinstance(item, SingleChoiceItem)
        labels = {option.code: option.label for option in item.options}
        followed = _in_words([labels[code] for code in declared.codes])
        notices = {}
        for code, label in labels.items():
            if code in declared.codes or code == UNKNOWN:
                continue
            if declared.notice is not None:
                text = declared.notice.replace("{answer}", label)
            else:
                text = (
                    f"This rule set's actions follow the procedures of {followed}. The child's jurisdiction was given "
                    f"as {label}: follow {label}'s own child-protection procedures, and treat the actions below as a "
                    "guide only."
                )
            notices[code] = {"code": JURISDICTION_NOTICE, "text": text}
        return notices

    def fire(self, index: int, indent: str, when: Condition | None = None, mask_ready: bool = False) -> list[str]:
        """What a rule that fired does: record its index (core) or add its part of the result (plain/traced).

        For points and score terms the contribution is in the local `p`; `mask_ready`: the local `k` already
        holds the bit mask of the branches of `when` that held (see `when_fired`)."""
        if self.mode == "core":
            return [f"{indent}ap({index})"]
        rule = self.rules[index]
        lines = []
        if rule.actions:
            lines.append(f"{indent}m |= {self.action_mask(rule.actions)!r}")
        if self.mode == "traced":
            lines += self._trace_lines(rule, indent)
        if rule.kind == "term" and rule.explains_level:
            if rule.points is None:
                assert rule.add is not None
                lines += self._reason_lines(rule, rule.add, when, f"b{self.buckets[rule.add]}", indent, mask_ready)
            else:  # one prebuilt reason per points value
                values = sorted({v for v in rule.points.values() if v}, reverse=True)
                for position, value in enumerate(values):
                    test = "if" if position == 0 else "elif"
                    reason = self.frozen_constant(_reason(rule, value, rule.items))
                    lines += [f"{indent}{test} p == {value!r}:", f"{indent}    b{self.buckets[value]}.append({reason})"]
        elif rule.kind == "band" and rule.explains_level:
            lines.append(f"{indent}BR.append({self.frozen_constant(_reason(rule, None, ()))})")
        elif rule.kind in ("trigger", "floor"):
            if rule.kind == "trigger":
                shown = {"id": rule.id, "title": rule.title, "reason": rule.reason, "source": rule.source}
                lines.append(f"{indent}TR.append({self.frozen_constant(shown)})")
            else:
                lines.append(f"{indent}FL.append({self.frozen_constant({'id': rule.id, 'reason': rule.reason})})")
            lines += self._reason_lines(rule, None, when, "LR", indent, mask_ready)
        elif rule.kind == "gap":
            lines.append(f"{indent}gu = []")
            for item_id in rule.items:
                token = _unknown_token(self.items[item_id])
                lines += [f"{indent}if {self.item_var[item_id]} == {token!r}:", f"{indent}    gu.append({item_id!r})"]
            rule_id, source = self.constant(rule.id), self.constant(rule.source)
            lines += [
                f"{indent}t = {self.constant(rule.reason or '')}.replace('{{items}}', ', '.join(gu))",
                f"{indent}FL.append(_FD({{'id': {rule_id}, 'reason': t}}))",
                f"{indent}LR.append(_FD({{'rule_id': {rule_id}, 'text': t, 'points': None, 'items': _FL(gu), "
                f"'source': {source}}}))",
            ]
        return lines

    def _reason_lines(
        self, rule: RuleInfo, points: int | None, when: Condition | None, to: str, indent: str, mask_ready: bool
    ) -> list[str]:
        """Appends the rule's reason to list `to`: a prebuilt read-only constant, chosen by which branches held
        when the items depend on it (any/at_least: only the satisfied branches' items), else built."""
        if when is None or _static_items(when):
            return [f"{indent}{to}.append({self.frozen_constant(_reason(rule, points, rule.items))})"]
        tests = _item_tests(when)
        if len(tests) <= _MAX_ITEM_TESTS:
            bit = {id(test): position for position, test in enumerate(tests)}
            table = tuple(
                freeze(_reason(rule, points, _firing_items(when, _held_in(mask, bit))))
                for mask in range(1 << len(tests))
            )
            lines = []
            if not mask_ready:
                lines.append(f"{indent}k = 0")
                self._mask_lines(when, indent, bit, lines)
            return [*lines, f"{indent}{to}.append({self.constant(table)}[k])"]
        lines = [f"{indent}it = []"]
        self._emit_items(when, indent, lines)
        leaf_items = [item for leaf, _ in leaves(when) for item in _leaf_items(leaf)]
        if len(leaf_items) != len(set(leaf_items)):
            lines.append(f"{indent}it = list(dict.fromkeys(it))")
        rule_id, text, source = self.constant(rule.id), self.constant(rule.reason), self.constant(rule.source)
        return [
            *lines,
            f"{indent}{to}.append(_FD({{'rule_id': {rule_id}, 'text': {text}, 'points': {points!r}, "
            f"'items': _FL(it), 'source': {source}}}))",
        ]

    def _mask_lines(self, condition: Condition, indent: str, bit: dict[int, int], lines: list[str]) -> None:
        """`k |= 2**n` for each of the `_item_tests` (number n) that held; a branch's own tests only if it held.

        Statements, not one `(test) | (test) << 1 ...` expression: CPython 3.11 specialises a comparison only
        when a jump follows it (about 3 % fewer instructions per call on the bench's rule set)."""
        if _static_items(condition):
            return
        if isinstance(condition, AllCondition):
            for child in condition.all:
                self._mask_lines(child, indent, bit, lines)
            return
        assert isinstance(condition, AnyCondition | AtLeastCondition)
        for child in _branches(condition):
            if items_read(child):
                lines += [f"{indent}if {self.expr(child)}:", f"{indent}    k |= {1 << bit[id(child)]}"]
                self._mask_lines(child, indent + "    ", bit, lines)

    def _emit_items(self, condition: Condition, indent: str, lines: list[str]) -> None:
        """`it.append(...)` for the items that made `condition` hold (see `_firing_items`)."""
        if _static_items(condition):
            found = items_read(condition)
            if len(found) == 1:
                lines.append(f"{indent}it.append({found[0]!r})")
            elif found:
                lines.append(f"{indent}it += {tuple(found)!r}")
        elif isinstance(condition, AllCondition):
            for child in condition.all:
                self._emit_items(child, indent, lines)
        else:
            assert isinstance(condition, AnyCondition | AtLeastCondition)
            for child in _branches(condition):
                body: list[str] = []
                self._emit_items(child, indent + "    ", body)
                if body:
                    lines += [f"{indent}if {self.expr(child)}:", *body]

    def _read_value(self, item_id: str) -> str:
        """An answer as the trace shows it: a multi-choice list is copied (the result must not share the caller's)."""
        var = self.item_var[item_id]
        if isinstance(self.items[item_id], MultiChoiceItem):
            return f"(None if {var} is None else [*{var}])"
        return var

    def _trace_lines(self, rule: RuleInfo, indent: str) -> list[str]:
        """Appends the rule's trace entry: a copy of its constant part, then what this evaluation adds."""
        template: dict[str, Any] = {"id": rule.id, "kind": rule.kind, "contribution": None, "reads": None}
        lines = []
        if rule.kind == "term":
            if rule.add is not None:
                template["contribution"] = rule.add
            else:
                lines.append(f"{indent}e['contribution'] = p")
        elif rule.kind == "action_rule":
            lines.append(f"{indent}e['contribution'] = list({self.constant(rule.actions)})")
        else:
            assert rule.level is not None
            template["contribution"] = self.ruleset.levels[rule.level]
        reads = ", ".join(f"{item_id!r}: {self._read_value(item_id)}" for item_id in rule.items)
        lines.append(f"{indent}e['reads'] = {{{reads}}}")
        if rule.score is not None:
            template["score"] = rule.score
        if rule.reads_score is not None:
            template["reads_score"] = None
            lines.append(
                f"{indent}e['reads_score'] = {{{self.constant(rule.reads_score)}: {self.score_var[rule.reads_score]}}}"
            )
        return [f"{indent}e = _copy({self.constant(template)})", *lines, f"{indent}T.append(e)"]

    def action_mask(self, action_ids: Collection[str]) -> int:
        mask = 0
        for action_id in action_ids:
            mask |= 1 << self.action_bit[action_id]
        return mask

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
                    lines += self.when_fired(index, term.when, [f"        {t} += {term.add!r}" for t in targets], [])
                    continue
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
                lines += self.fire(index, "        ")
            lines += self._stored_value_lines(score)
        return lines

    def _stored_value_lines(self, score: Score) -> list[str]:
        """The score's points total made its stored integer: a sum scaled by 10^decimals; a mean (of the answered
        items' points) or prorated score (the mean times the number of items) with its rounding, in integers.
        Valid answers have at least `min_answered` (>= 1) of the items answered; the guard is for `core` callers
        that skip the check."""
        var, scale = self.score_var[score.id], 10**score.decimals
        if score.kind == "sum":
            return [f"    {var} *= {scale!r}"] if scale != 1 else []
        assert score.rounding is not None
        items = list(dict.fromkeys(term.q for term in score.terms or [] if isinstance(term, PointsTerm)))
        counted = [
            f"({self.var(i)} not in {_set_literal((None, UNKNOWN))})"
            if can_be_unknown(self.items[i])
            else f"({self.var(i)} is not None)"
            for i in items
        ]
        factor = scale * (len(items) if score.kind == "prorated" else 1)
        rounding = f"_round_{score.rounding}"
        self.rounding[rounding] = ROUNDING[score.rounding]
        numerator = var if factor == 1 else f"{var} * {factor!r}"
        return [f"    na = {' + '.join(counted)}", f"    {var} = {rounding}({numerator}, na) if na else 0"]

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
                lines += self.fire(index, "        ") + self._raise_to(level, "        ") or ["        pass"]
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
                lines += self.when_fired(index, rule.when, [], self._raise_to(level, "        "))
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
                test = " or ".join(f"{self.answer_var(i)} == {_unknown_token(self.items[i])!r}" for i in gap_items)
                lines += [f"    if {test}:", *self.fire(index, "        "), *self._raise_to(level, "        ")]
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
            lines += [
                f"    if {guard}{self.expr(action_rule.when)}:",
                *(self.fire(index, "        ") or ["        pass"]),
            ]
        return lines


def _in_words(names: list[str]) -> str:
    """`A`, `A and B`, `A, B and C`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _reason(rule: RuleInfo, points: int | None, items: Collection[str]) -> dict[str, Any]:
    return {"rule_id": rule.id, "text": rule.reason, "points": points, "items": list(items), "source": rule.source}


def _set_literal(values: Collection[str | None]) -> str:
    """`{'a', 'b'}`: as the right operand of `in`, CPython folds it into one frozenset constant of the code."""
    return "{" + ", ".join(sorted(map(repr, values))) + "}"


def _static_items(condition: Condition) -> bool:
    """Whether every item the condition reads made it hold (no any/at_least outside a `not`)."""
    if isinstance(condition, AnyCondition | AtLeastCondition):
        return False
    if isinstance(condition, AllCondition):
        return all(_static_items(child) for child in condition.all)
    return True


def _branches(condition: AnyCondition | AtLeastCondition) -> list[Condition]:
    return condition.any if isinstance(condition, AnyCondition) else condition.of


def _item_tests(condition: Condition) -> list[Condition]:
    """The branches whose truth decides a reason's items, in the order `_firing_items` asks about them."""
    if _static_items(condition):
        return []
    if isinstance(condition, AllCondition):
        return [test for child in condition.all for test in _item_tests(child)]
    assert isinstance(condition, AnyCondition | AtLeastCondition)
    tests: list[Condition] = []
    for child in _branches(condition):
        if items_read(child):
            tests += [child, *_item_tests(child)]
    return tests


def _firing_items(condition: Condition, held: Callable[[Condition], bool]) -> list[str]:
    """The items that made `condition` hold, given which of its `_item_tests` held (in first-seen order)."""

    def found(node: Condition) -> list[str]:
        if _static_items(node):
            return items_read(node)
        if isinstance(node, AllCondition):
            return [item for child in node.all for item in found(child)]
        assert isinstance(node, AnyCondition | AtLeastCondition)
        return [item for child in _branches(node) if items_read(child) and held(child) for item in found(child)]

    return list(dict.fromkeys(found(condition)))


def _held_in(mask: int, bit: dict[int, int]) -> Callable[[Condition], bool]:
    """Whether a test held, for the bit mask `mask` of the tests numbered by `bit` (keyed by `id(test)`)."""
    return lambda test: bool(mask >> bit[id(test)] & 1)


def _leaf_items(leaf: Condition) -> list[str]:
    return items_read(leaf)


def _term_items(term: ConditionTerm | PointsTerm | ScoreTerm) -> list[str]:
    if isinstance(term, ConditionTerm):
        return items_read(term.when)
    if isinstance(term, PointsTerm):
        return [term.q]
    return []


def _actions_in_mask(actions: tuple[FrozenDict, ...], memo: dict[int, tuple[FrozenDict, ...]]) -> Any:
    def actions_of(mask: int) -> tuple[FrozenDict, ...]:
        found = tuple(action for bit, action in enumerate(actions) if mask >> bit & 1)
        if len(memo) < _ACTION_MEMO_SIZE:
            memo[mask] = found
        return found

    return actions_of


def generate(ruleset: RuleSet, questionnaire: Questionnaire, engine_version: str = "") -> CompiledCode:
    """Source and functions for a rule set that passed `check_ruleset`."""
    generator = _Generator(ruleset, questionnaire, engine_version)
    parts = [generator.valid_source(), generator.core_source()]
    parts += [generator.result_source("plain"), generator.result_source("traced")]
    source = "\n\n\n".join("\n".join(part) for part in parts) + "\n"
    templates = tuple(
        FrozenDict(id=action.id, title=action.title, who=action.who, urgency=action.urgency)
        for action in generator.actions_in_order
    )
    memo: dict[int, tuple[FrozenDict, ...]] = {}
    namespace: dict[str, Any] = {
        "__builtins__": {},
        "_days": days_between,
        "_years": years_between,
        "_multi_ok": _multi_choice_ok,
        "_date_ok": _date_ok,
        "_copy": dict.copy,
        "_FD": FrozenDict,
        "_FL": FrozenList,
        "_action_memo": memo,
        "_actions_of": _actions_in_mask(templates, memo),
        **generator.rounding,
        "TypeError": TypeError,
        "KeyError": KeyError,
        "len": len,
        "list": list,
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
        plain=namespace["plain"],
        traced=namespace["traced"],
        rules=tuple(generator.rules),
        score_ids=tuple(score.id for score in ruleset.scores),
    )
