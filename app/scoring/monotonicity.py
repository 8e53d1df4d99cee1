"""Proof by construction that raising one answer along its risk order never lowers the computed level.

Every condition that feeds the level (terms of the scores that reach a band, trigger or floor; triggers;
floors) must be built only from monotone pieces: upward-closed sets on ordered answers, `ne` excluding exactly
the least concerning answer, `gt`/`gte` on rising numbers, `lt`/`lte` on falling ones, `contains` on multi-choice
answers (more options selected = more concern), `answered`, and `gt`/`gte` on scores, combined with all / any /
at_least. Weights are non-negative (checked elsewhere), points never fall along the order, and each score's bands
have non-decreasing levels.
The unknown answer sits outside every order, its effect the gap rule's alone; except on an item in
`unknown_reads_as` (unknown_reading.py): there it sits at the top, above the most concerning answer, which rules
read in its place. An upward-closed piece then holds on unknown whenever it holds on any answer, and the gap rule
only adds; `is_unknown` and `unanswered` stay refused.
"""

from __future__ import annotations

import itertools
from typing import Any

from app.scoring.budget import StepBudget
from app.scoring.conditions import leaves, scores_read, size, walk
from app.scoring.errors import Issue, code_list, json_text
from app.scoring.models import (
    AnswerCondition,
    BooleanItem,
    Condition,
    ConditionTerm,
    DateDifferenceCondition,
    DateItem,
    IntegerItem,
    Item,
    MultiChoiceItem,
    NotCondition,
    PointsTerm,
    Questionnaire,
    RuleSet,
    ScoreCondition,
    ScoreTerm,
    YesNoUnknownItem,
)

RiskOrder = str | list[Any] | None  # "rising" | "falling" | least→most list | None for multi-choice inclusion


def risk_order_of(ruleset: RuleSet, item: Item) -> RiskOrder:
    """The declared order, the default one, or None when the item has none (the checker reports that)."""
    declared = ruleset.risk_order.get(item.id)
    if declared is not None:
        return declared
    if isinstance(item, YesNoUnknownItem):
        return ["no", "yes"]
    if isinstance(item, BooleanItem):
        return [False, True]
    return None


def feeding_scores(ruleset: RuleSet) -> set[str]:
    """Scores whose value can change the level: banded, read by triggers/floors, or feeding such a score."""
    by_id = {score.id: score for score in ruleset.scores}
    pending = [band.score for band in ruleset.bands]
    for rule in [*ruleset.triggers, *ruleset.floors]:
        pending += scores_read(rule.when)
    feeding: set[str] = set()
    while pending:
        score_id = pending.pop()
        if score_id in feeding or score_id not in by_id:
            continue
        feeding.add(score_id)
        score = by_id[score_id]
        if score.subtotal_of:
            pending.append(score.subtotal_of)
        for term in score.terms or []:
            if isinstance(term, ScoreTerm):
                pending.append(term.score)
            elif isinstance(term, ConditionTerm):
                pending += scores_read(term.when)
    return feeding


def check_monotone(ruleset: RuleSet, questionnaire: Questionnaire, budget: StepBudget) -> list[Issue]:
    items = {item.id: item for item in questionnaire.items}
    prover = _Prover(ruleset, items, budget)
    feeding = feeding_scores(ruleset)
    for index, score in enumerate(ruleset.scores):
        if score.id not in feeding:
            continue
        for j, term in enumerate(score.terms or []):
            at = f"/scores/{index}/terms/{j}"
            rule = f"term '{term.id}' of score '{score.id}'"
            if isinstance(term, ConditionTerm):
                prover.condition(term.when, at + "/when", rule)
            elif isinstance(term, PointsTerm):
                prover.points(term, at, rule)
    for kind, label in (("triggers", "trigger"), ("floors", "floor")):
        for index, level_rule in enumerate(getattr(ruleset, kind)):
            prover.condition(level_rule.when, f"/{kind}/{index}/when", f"{label} '{level_rule.id}'")
    prover.bands()
    return prover.issues


def value_intervals(op: str, operand: Any) -> list[tuple[int, int]]:
    """The integers an `eq`, `in` or `between` operand names, as sorted, disjoint, non-adjacent closed intervals.

    The cost follows the length of the operand as written, never the size of the numbers: `in` lists are sorted
    and runs of consecutive values merged; a range is never enumerated."""
    if op == "between":
        low, high = operand
        return [(low, high)] if low <= high else []
    intervals: list[tuple[int, int]] = []
    for value in sorted({operand} if op == "eq" else set(operand)):
        if intervals and value == intervals[-1][1] + 1:
            intervals[-1] = (intervals[-1][0], value)
        else:
            intervals.append((value, value))
    return intervals


class _Prover:
    def __init__(self, ruleset: RuleSet, items: dict[str, Item], budget: StepBudget) -> None:
        self.budget = budget
        self.ruleset = ruleset
        self.items = items
        self.issues: list[Issue] = []

    def fail(self, at: str, rule: str, why: str) -> None:
        self.issues.append(Issue(at, f"not monotone ({rule}): {why}"))

    def condition(self, condition: Condition, at: str, rule: str) -> None:
        self.budget.spend(size(condition), at)
        for node, node_at in walk(condition, at):
            if isinstance(node, NotCondition):
                self.fail(node_at + "/not", rule, "`not` can turn a higher-risk answer into a lower level")
        for leaf, leaf_at in leaves(condition, at):
            if isinstance(leaf, AnswerCondition):
                self._answer_leaf(leaf, leaf_at, rule)
            elif isinstance(leaf, ScoreCondition):
                op, _ = leaf.op()
                if op not in ("gt", "gte"):
                    self.fail(f"{leaf_at}/{op}", rule, f"a score read by a level rule must use gt or gte, not {op}")
            else:
                self._date_leaf(leaf, leaf_at, rule)

    def _order(self, item_id: str, at: str, rule: str) -> RiskOrder | bool:
        """The item's order, or False (after reporting) when it has none."""
        item = self.items[item_id]
        order = risk_order_of(self.ruleset, item)
        if order is None and not isinstance(item, MultiChoiceItem):
            self.fail(at, rule, f"'{item_id}' ({item.type}) has no risk_order entry")
            return False
        return order

    def _answer_leaf(self, leaf: AnswerCondition, at: str, rule: str) -> None:
        op, operand = leaf.op()
        op_at = f"{at}/{op}"
        if op == "answered":
            return
        if op in ("not_in", "unanswered", "is_unknown"):
            self.fail(op_at, rule, f"`{op}` on '{leaf.q}' can hold for a lower-risk answer and not a higher one")
            return
        item = self.items[leaf.q]
        if isinstance(item, MultiChoiceItem):
            return  # contains / contains_any: selecting more options keeps them true
        order = self._order(leaf.q, op_at, rule)
        if order is False or order is True:
            return
        if op == "ne":
            self._ne_leaf(item, order, operand, op_at, rule)
            return
        if isinstance(order, list):
            selected = {operand} if op == "eq" else set(operand)
            # the codes of a risk order are distinct, so the only upward-closed set of this size is the order's tail
            if len(selected) > len(order) or selected != set(order[len(order) - len(selected) :]):
                self.fail(
                    op_at,
                    rule,
                    f"{json_text(sorted(selected, key=str))} is not the top of the risk order of '{leaf.q}' "
                    f"({code_list(order, ' < ')}); name an answer and every answer above it",
                )
            return
        self._numeric_leaf(item, order, op, operand, op_at, rule)

    def _ne_leaf(self, item: Item, order: RiskOrder, operand: Any, at: str, rule: str) -> None:
        """`ne` holds on every answer but one: upward-closed exactly when that one is the least concerning."""
        if isinstance(order, list):
            least, what = order[0], f"answer {json_text(order[0])} (order: {code_list(order, ' < ')})"
        elif isinstance(item, IntegerItem):
            least = item.min if order == "rising" else item.max
            bound = "min" if order == "rising" else "max"
            if least is None:
                self.fail(
                    at, rule, f"`ne` on '{item.id}' needs a {bound}: its least concerning value in its {order} order"
                )
                return
            what = f"value {least} ({bound} of a {order} item)"
        else:
            self.fail(at, rule, f"`ne` on '{item.id}': a date has no least concerning value to exclude")
            return
        if type(operand) is not type(least) or operand != least:
            self.fail(
                at,
                rule,
                f"`ne` on '{item.id}' holds for a lower-risk answer and not a higher one unless it names its least "
                f"concerning {what}",
            )

    def _numeric_leaf(self, item: Item, order: RiskOrder, op: str, operand: Any, at: str, rule: str) -> None:
        rising = order == "rising"
        if op in ("gt", "gte"):
            if not rising:
                self.fail(at, rule, f"`{op}` on '{item.id}' whose risk order is {order}; use lt/lte or reverse it")
            return
        if op in ("lt", "lte"):
            if rising:
                self.fail(at, rule, f"`{op}` on '{item.id}' whose risk order is rising; use gt/gte or reverse it")
            return
        low = item.min if isinstance(item, IntegerItem) else None
        high = item.max if isinstance(item, IntegerItem) else None
        if isinstance(item, DateItem) or (rising and high is None) or (not rising and low is None):
            self.fail(at, rule, f"`{op}` on '{item.id}' is not upward-closed in its {order} order")
            return
        intervals = value_intervals(op, operand)
        if not intervals:
            return  # an empty condition never holds (the checker reports an inverted `between`)
        if rising:
            assert high is not None
            least, first_end = intervals[0]
            upward_closed = least > high or first_end >= high
        else:
            assert low is not None
            last_start, greatest = intervals[-1]
            upward_closed = greatest < low or last_start <= low
        if not upward_closed:
            self.fail(at, rule, f"`{op}` on '{item.id}' does not include every value beyond it in its {order} order")

    def _date_leaf(self, leaf: DateDifferenceCondition, at: str, rule: str) -> None:
        op, _ = leaf.op()
        span_at = f"{at}/{leaf.unit}_between"
        start = self._order(leaf.span.from_, span_at + "/from", rule)
        end = self._order(leaf.span.to, span_at + "/to", rule)
        if start is False or end is False:
            return
        # the difference grows with `to` and shrinks with `from`
        if op in ("gt", "gte") and (end, start) == ("rising", "falling"):
            return
        if op in ("lt", "lte") and (end, start) == ("falling", "rising"):
            return
        self.fail(
            f"{at}/{op}",
            rule,
            f"`{op}` on {leaf.unit}_between needs gt/gte with `to` rising and `from` falling, or lt/lte with "
            "`to` falling and `from` rising",
        )

    def points(self, term: PointsTerm, at: str, rule: str) -> None:
        """Points never fall along the item's order. For a mean or prorated score that is the whole proof: with
        the set of answered items unchanged, a higher answer never lowers the mean, and every rounding rule is
        non-decreasing. Answering an unanswered item can lower a mean (the instrument says so), so for the items
        of such a score the proof does not compare unanswered with an answer (docs/rule-language.md)."""
        item = self.items[term.q]
        order = self._order(term.q, at + "/q", rule)
        if not isinstance(order, list):
            return
        self.budget.spend(len(order), at)
        previous = None
        for code in order:
            points = term.points.get(code, 0)
            if previous is not None and points < previous[1]:
                self.fail(
                    f"{at}/points",
                    rule,
                    f"{json_text(code)} scores {points} but the less concerning {json_text(previous[0])} scores "
                    f"{previous[1]} (order of '{item.id}': {code_list(order, ' < ')})",
                )
                return
            previous = (code, points)

    def bands(self) -> None:
        self.budget.spend(len(self.ruleset.bands), "/bands")
        rank = {level: index for index, level in enumerate(self.ruleset.levels)}
        by_score: dict[str, list[tuple[int, int, str]]] = {}
        for index, band in enumerate(self.ruleset.bands):
            by_score.setdefault(band.score, []).append((band.gte, index, band.level))
        for score, bands in by_score.items():
            bands.sort()
            for (_, _, level), (_, index, next_level) in itertools.pairwise(bands):
                if rank[next_level] < rank[level]:
                    self.fail(
                        f"/bands/{index}/level",
                        f"bands of '{score}'",
                        f"level {next_level} follows {level}: a higher score must not give a lower level",
                    )
