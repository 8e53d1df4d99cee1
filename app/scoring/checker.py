"""Static checks of a questionnaire and of a rule set against its questionnaire (docs/rule-language.md)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from app.scoring.answers import AnswerValidator, can_be_unknown, is_iso_date
from app.scoring.budget import StepBudget, unlimited
from app.scoring.conditions import UNKNOWN, depth, items_read, leaves, size, walk
from app.scoring.errors import Issue, WorkLimitExceeded, code_list, json_text
from app.scoring.models import (
    AnswerCondition,
    AtLeastCondition,
    Band,
    BooleanItem,
    Condition,
    ConditionTerm,
    DateDifferenceCondition,
    DateItem,
    IntegerItem,
    Item,
    MultiChoiceItem,
    PointsTerm,
    Questionnaire,
    RuleSet,
    Score,
    ScoreBand,
    ScoreCondition,
    ScoreTerm,
    SingleChoiceItem,
    TextItem,
    YesNoUnknownItem,
)
from app.scoring.monotonicity import check_monotone
from app.scoring.requirements import answered_at_least_of
from app.scoring.unknown_reading import check_unknown_reads_as, is_unknown_refused

MAX_DEPTH = 10
GAP_RULE_ID = "unknown_answers"
JURISDICTION_NOTICE = "jurisdiction_outside_ruleset"
# The largest integer a result carries exactly (I-JSON, RFC 7493); every score must stay within it.
LARGEST_SCORE = 2**53 - 1


def _duplicates(entries: Iterable[tuple[str, str]], what: str) -> list[Issue]:
    """`entries` are (id, pointer); one issue per repeated id, at the repeat."""
    first: dict[str, str] = {}
    issues = []
    for ident, pointer in entries:
        if ident in first:
            issues.append(Issue(pointer, f"duplicate {what} id '{ident}' (first at {first[ident]})"))
        else:
            first[ident] = pointer
    return issues


# --- conditions -------------------------------------------------------------------------------------------


@dataclass
class ConditionScope:
    items: dict[str, Item]
    scores_defined: Collection[str] | None = None  # None: score conditions are not allowed here
    all_scores: set[str] = field(default_factory=set)
    budget: StepBudget = field(default_factory=unlimited)
    unknown_read: Collection[str] = ()  # items whose unknown rules read as another answer (unknown_reads_as)


def check_condition(condition: Condition, pointer: str, scope: ConditionScope) -> list[Issue]:
    scope.budget.spend(size(condition), pointer)
    levels = depth(condition)
    if levels > MAX_DEPTH:
        return [Issue(pointer, f"condition is nested {levels} levels deep; the limit is {MAX_DEPTH}")]
    issues: list[Issue] = []
    for node, at in _nodes_with_at_least(condition, pointer):
        if node.at_least > len(node.of):
            issues.append(
                Issue(at + "/at_least", f"at_least {node.at_least} of {len(node.of)} conditions can never hold")
            )
    for leaf, at in leaves(condition, pointer):
        if isinstance(leaf, AnswerCondition):
            issues.extend(_check_answer_leaf(leaf, at, scope.items, scope.unknown_read))
        elif isinstance(leaf, ScoreCondition):
            issues.extend(_check_score_leaf(leaf, at, scope))
        else:
            issues.extend(_check_date_leaf(leaf, at, scope.items))
    return issues


def _nodes_with_at_least(condition: Condition, pointer: str) -> list[tuple[AtLeastCondition, str]]:
    return [(node, at) for node, at in walk(condition, pointer) if isinstance(node, AtLeastCondition)]


def type_name(item: Item) -> str:
    return f"'{item.id}' ({item.type})"


def rule_codes(item: SingleChoiceItem | MultiChoiceItem | YesNoUnknownItem) -> list[str]:
    """The answers a rule may name: every option but unknown (a rule asks about unknown with is_unknown)."""
    if isinstance(item, YesNoUnknownItem):
        return ["yes", "no"]
    return [option.code for option in item.options if option.code != UNKNOWN]


def not_offered(value: object, item: SingleChoiceItem | MultiChoiceItem | YesNoUnknownItem) -> str:
    """Says that `value` is no answer of `item` and lists the ones it has."""
    kind = "answer" if isinstance(item, YesNoUnknownItem) else "option"
    codes = rule_codes(item)
    offered = f"its {kind}s are {code_list(codes)}" if codes else "it offers no option but unknown"
    return f"{json_text(value)} is not an {kind} of {type_name(item)}; {offered}"


def _check_answer_leaf(
    leaf: AnswerCondition, at: str, items: dict[str, Item], unknown_read: Collection[str] = ()
) -> list[Issue]:
    item = items.get(leaf.q)
    if item is None:
        return [Issue(at + "/q", f"unknown item '{leaf.q}'")]
    op, operand = leaf.op()
    at_op = f"{at}/{op}"
    if op in ("answered", "unanswered"):
        return []
    if op == "is_unknown":
        if leaf.q in unknown_read:
            return [Issue(at_op, is_unknown_refused(leaf.q))]
        if can_be_unknown(item):
            return []
        return [Issue(at_op, f"{type_name(item)} can never be answered unknown")]
    values = list(operand) if isinstance(operand, list | tuple) else [operand]
    if any(value == UNKNOWN for value in values if isinstance(value, str)):
        return [Issue(at_op, 'compare with "unknown" using is_unknown: true (unknown satisfies no comparison)')]
    if isinstance(item, TextItem):
        return [Issue(at_op, f"{type_name(item)} is free text: only answered, unanswered and is_unknown apply")]
    if op in ("contains", "contains_any"):
        if not isinstance(item, MultiChoiceItem):
            return [Issue(at_op, f"'{op}' applies to multi_choice items; {type_name(item)} is not one")]
        return _offered(item, values, at_op)
    if isinstance(item, MultiChoiceItem):
        return [Issue(at_op, f"use contains or contains_any on multi_choice item {type_name(item)}, not '{op}'")]
    ordered = op in ("lt", "lte", "gt", "gte", "between")
    if isinstance(item, YesNoUnknownItem | BooleanItem | SingleChoiceItem) and ordered:
        return [Issue(at_op, f"'{op}' needs a number or date item; {type_name(item)} has no numeric order")]
    if op == "between" and values[0] > values[1]:
        return [Issue(at_op, f"between {json_text(values)} is empty (low > high)")]
    if isinstance(item, YesNoUnknownItem):
        wrong = [v for v in values if v not in ("yes", "no")]
        if wrong:
            shown = json_text(wrong[0])
            return [Issue(at_op, f'{type_name(item)} is compared with {shown}; write "yes" or "no" in quotes')]
        return []
    if isinstance(item, BooleanItem):
        if any(not isinstance(v, bool) for v in values):
            return [Issue(at_op, f"{type_name(item)} is compared with a non-boolean; use true or false")]
        return []
    if isinstance(item, SingleChoiceItem):
        return _offered(item, values, at_op)
    if isinstance(item, IntegerItem):
        if any(not isinstance(v, int) or isinstance(v, bool) for v in values):
            return [Issue(at_op, f"{type_name(item)} is compared with a non-number")]
        return []
    assert isinstance(item, DateItem)
    if any(not isinstance(v, str) or not is_iso_date(v) for v in values):
        return [Issue(at_op, f"{type_name(item)} is compared with something that is not a YYYY-MM-DD date")]
    return []


def _offered(item: SingleChoiceItem | MultiChoiceItem, values: list[object], at: str) -> list[Issue]:
    codes = set(rule_codes(item))
    for index, value in enumerate(values):
        if not isinstance(value, str) or value not in codes:
            where = at if len(values) == 1 else f"{at}/{index}"
            return [Issue(where, not_offered(value, item))]
    return []


def _check_score_leaf(leaf: ScoreCondition, at: str, scope: ConditionScope) -> list[Issue]:
    if scope.scores_defined is None:
        return [Issue(at + "/score", "score conditions cannot be used here (the questionnaire has no scores)")]
    op, operand = leaf.op()
    if op == "between" and operand[0] > operand[1]:
        return [Issue(f"{at}/between", "between is empty (low > high)")]
    if leaf.score in scope.scores_defined:
        return []
    if leaf.score in scope.all_scores:
        return [Issue(at + "/score", f"score '{leaf.score}' is read before it is computed (scores run in order)")]
    return [Issue(at + "/score", f"unknown score '{leaf.score}'")]


def _check_date_leaf(leaf: DateDifferenceCondition, at: str, items: dict[str, Item]) -> list[Issue]:
    issues = []
    span_at = f"{at}/{leaf.unit}_between"
    for name, item_id in (("from", leaf.span.from_), ("to", leaf.span.to)):
        item = items.get(item_id)
        if item is None:
            issues.append(Issue(f"{span_at}/{name}", f"unknown item '{item_id}'"))
        elif not isinstance(item, DateItem):
            issues.append(Issue(f"{span_at}/{name}", f"{type_name(item)} is not a date item"))
    op, operand = leaf.op()
    if op == "between" and operand[0] > operand[1]:
        issues.append(Issue(f"{at}/between", "between is empty (low > high)"))
    return issues


# --- questionnaire ----------------------------------------------------------------------------------------


def check_questionnaire(questionnaire: Questionnaire, budget: StepBudget | None = None) -> list[Issue]:
    budget = budget or unlimited()
    budget.spend(len(questionnaire.sections) + len(questionnaire.items), "/items")
    issues = _duplicates(((s.id, f"/sections/{i}/id") for i, s in enumerate(questionnaire.sections)), "section")
    issues += _duplicates(((item.id, f"/items/{i}/id") for i, item in enumerate(questionnaire.items)), "item")
    sections = {section.id for section in questionnaire.sections}
    items = {item.id: item for item in questionnaire.items}
    scope = ConditionScope(items=items, budget=budget)
    for index, item in enumerate(questionnaire.items):
        at = f"/items/{index}"
        if item.section not in sections:
            issues.append(Issue(at + "/section", f"unknown section '{item.section}'"))
        if isinstance(item, SingleChoiceItem | MultiChoiceItem):
            issues += _duplicates(
                ((option.code, f"{at}/options/{j}/code") for j, option in enumerate(item.options)), "option"
            )
        if isinstance(item, IntegerItem) and item.min is not None and item.max is not None and item.min > item.max:
            issues.append(Issue(at + "/min", f"min {item.min} is greater than max {item.max}"))
        for name in ("enable_when", "required_when"):
            condition = getattr(item, name)
            if condition is None:
                continue
            issues += check_condition(condition, f"{at}/{name}", scope)
            if item.id in items_read(condition):
                issues.append(Issue(f"{at}/{name}", f"'{item.id}' cannot depend on its own answer"))
    return issues


# --- rule set ---------------------------------------------------------------------------------------------


def items_read_by_triggers(ruleset: RuleSet) -> dict[str, str]:
    """Item id → why it is required (every item a trigger reads is required)."""
    required: dict[str, str] = {}
    for trigger in ruleset.triggers:
        for item_id in items_read(trigger.when):
            required.setdefault(item_id, f"trigger '{trigger.id}' reads it")
    return required


def check_ruleset(ruleset: RuleSet, questionnaire: Questionnaire, budget: StepBudget | None = None) -> list[Issue]:
    """Every static-check problem; raises `WorkLimitExceeded` when the checks need more steps than `budget`."""
    budget = budget or unlimited()
    try:
        questionnaire_issues = check_questionnaire(questionnaire, budget)
    except WorkLimitExceeded as exc:  # point into the checked document: the rule set
        raise WorkLimitExceeded(exc.limit, "/questionnaire") from None
    if questionnaire_issues:
        return [Issue("/questionnaire", f"the questionnaire has errors: {issue}") for issue in questionnaire_issues]
    checker = _RuleSetChecker(ruleset, questionnaire, budget)
    issues = checker.run()
    if ruleset.monotone and not issues:
        issues += check_monotone(ruleset, questionnaire, budget)
    return issues


def answer_check_steps(questionnaire: Questionnaire) -> int:
    """Steps to check one set of answers: every item, and every enable_when / required_when condition."""
    conditions = [c for item in questionnaire.items for c in (item.enable_when, item.required_when) if c is not None]
    return len(questionnaire.items) + sum(size(condition) for condition in conditions)


class _RuleSetChecker:
    def __init__(self, ruleset: RuleSet, questionnaire: Questionnaire, budget: StepBudget) -> None:
        self.budget = budget
        self.ruleset = ruleset
        self.questionnaire = questionnaire
        self.items: dict[str, Item] = {item.id: item for item in questionnaire.items}
        self.levels = set(ruleset.levels)
        self.actions = {action.id for action in ruleset.actions}
        self.scores = [score.id for score in ruleset.scores]
        self.score_ids = set(self.scores)
        self.issues: list[Issue] = []

    def run(self) -> list[Issue]:
        rs = self.ruleset
        ref = rs.questionnaire
        if (ref.key, ref.version) != (self.questionnaire.key, self.questionnaire.version):
            self.issues.append(
                Issue(
                    "/questionnaire",
                    f"targets {ref.key} v{ref.version} but was checked against "
                    f"{self.questionnaire.key} v{self.questionnaire.version}",
                )
            )
        self.issues += _duplicates(((level, f"/levels/{i}") for i, level in enumerate(rs.levels)), "level")
        self.issues += _duplicates(((a.id, f"/actions/{i}/id") for i, a in enumerate(rs.actions)), "action")
        self.issues += _duplicates(((s.id, f"/scores/{i}/id") for i, s in enumerate(rs.scores)), "score")
        self.issues += _duplicates(self._rule_ids(), "rule")
        self.issues += _duplicates(((t.name, f"/tests/{i}/name") for i, t in enumerate(rs.tests)), "test")
        self._check_risk_order()
        self._check_level_labels()
        self.budget.spend(len(rs.unknown_reads_as), "/unknown_reads_as")
        self.issues += check_unknown_reads_as(rs, self.items)
        self._check_scores()
        self._check_score_kinds()
        self._check_score_ranges()
        self._check_bands()
        self._check_score_bands()
        self._check_jurisdictions()
        for kind in ("triggers", "floors"):
            for index, rule in enumerate(getattr(rs, kind)):
                at = f"/{kind}/{index}"
                self._condition(rule.when, at + "/when", self.score_ids)
                self._level(rule.level, at + "/level")
                self._actions(rule.actions, at + "/actions")
                self._explained(rule.reason, rule.source, at)
        self._check_gap_rule()
        self._check_policies()
        for index, rule in enumerate(rs.action_rules):
            at = f"/action_rules/{index}"
            self._condition(rule.when, at + "/when", self.score_ids)
            for j, level in enumerate(rule.levels or []):
                self._level(level, f"{at}/levels/{j}")
            self._actions(rule.actions, at + "/actions")
        self.issues += _duplicates(
            ((item_id, f"/protective_factors/{i}") for i, item_id in enumerate(rs.protective_factors)),
            "protective factor",
        )
        for index, item_id in enumerate(rs.protective_factors):
            item = self.items.get(item_id)
            if item is None:
                self.issues.append(Issue(f"/protective_factors/{index}", f"unknown item '{item_id}'"))
            elif not isinstance(item, YesNoUnknownItem | BooleanItem):
                self.issues.append(
                    Issue(f"/protective_factors/{index}", f"{type_name(item)} is not a yes/no or boolean item")
                )
        self._check_reachable_levels()
        self._check_tests()
        return self.issues

    def _rule_ids(self) -> list[tuple[str, str]]:
        rs = self.ruleset
        ids = [(GAP_RULE_ID, "/unknown_answers")] if rs.unknown_answers else []
        for i, score in enumerate(rs.scores):
            ids += [(term.id, f"/scores/{i}/terms/{j}/id") for j, term in enumerate(score.terms or [])]
        ids += [(band.id, f"/bands/{i}/id") for i, band in enumerate(rs.bands) if band.id]
        ids += [(rule.id, f"/triggers/{i}/id") for i, rule in enumerate(rs.triggers)]
        ids += [(rule.id, f"/floors/{i}/id") for i, rule in enumerate(rs.floors)]
        ids += [(rule.id, f"/action_rules/{i}/id") for i, rule in enumerate(rs.action_rules)]
        return ids

    def _condition(self, condition: Condition, at: str, scores_defined: Collection[str]) -> None:
        scope = ConditionScope(self.items, scores_defined, self.score_ids, self.budget, self.ruleset.unknown_reads_as)
        self.issues += check_condition(condition, at, scope)

    def _level(self, level: str, at: str) -> None:
        if level not in self.levels:
            self.issues.append(Issue(at, f"unknown level '{level}' (levels: {', '.join(self.ruleset.levels)})"))

    def _actions(self, actions: list[str], at: str) -> None:
        for index, action in enumerate(actions):
            if action not in self.actions:
                self.issues.append(Issue(f"{at}/{index}", f"unknown action '{action}' (not in the actions catalogue)"))

    def _explained(self, reason: str | None, source: str | None, at: str) -> None:
        if not reason:
            self.issues.append(Issue(at, "a reason is required (plain text for a professional)"))
        if not source:
            self.issues.append(Issue(at, "a source is required (citation tag)"))

    def _check_risk_order(self) -> None:
        for item_id, order in self.ruleset.risk_order.items():
            at = f"/risk_order/{item_id}"
            item = self.items.get(item_id)
            if item is None:
                self.issues.append(Issue(at, f"unknown item '{item_id}'"))
            elif isinstance(order, str):
                if not isinstance(item, IntegerItem | DateItem):
                    self.issues.append(Issue(at, f"rising/falling applies to integer and date items, not {item.type}"))
            elif isinstance(item, SingleChoiceItem | YesNoUnknownItem):
                self._check_order_list(item, order, at)
            else:
                self.issues.append(
                    Issue(at, f"an ordered list of codes applies to single_choice and yes_no_unknown, not {item.type}")
                )

    def _check_order_list(self, item: SingleChoiceItem | YesNoUnknownItem, order: list[str], at: str) -> None:
        codes = rule_codes(item)
        seen: set[str] = set()
        for index, code in enumerate(order):
            if code == UNKNOWN:
                self.issues.append(Issue(f"{at}/{index}", '"unknown" is never in a risk order'))
            elif code not in codes:
                self.issues.append(Issue(f"{at}/{index}", not_offered(code, item)))
            elif code in seen:
                self.issues.append(Issue(f"{at}/{index}", f"{json_text(code)} is listed twice"))
            seen.add(code)
        left_out = [code for code in codes if code not in seen]
        if left_out:
            self.issues.append(
                Issue(
                    at,
                    f"the order leaves out {code_list(left_out)}: list every answer except unknown exactly once, "
                    "least to most concerning",
                )
            )

    def _check_scores(self) -> None:
        earlier: set[str] = set()
        for index, score in enumerate(self.ruleset.scores):
            at = f"/scores/{index}"
            self.budget.spend(1 + len(score.terms or score.items or []), at)
            if index:
                earlier.add(self.scores[index - 1])
            if score.subtotal_of is not None:
                self._check_subtotal(score.subtotal_of, score.items or [], at, earlier)
                continue
            for j, term in enumerate(score.terms or []):
                term_at = f"{at}/terms/{j}"
                if isinstance(term, ScoreTerm):
                    if term.score not in earlier:
                        known = term.score in self.score_ids
                        message = "is read before it is computed (scores run in order)" if known else "is unknown"
                        self.issues.append(Issue(term_at + "/score", f"score '{term.score}' {message}"))
                    if term.times < 0:
                        self.issues.append(Issue(term_at + "/times", "weights cannot be negative"))
                    continue
                if isinstance(term, ConditionTerm):
                    self._condition(term.when, term_at + "/when", earlier)
                    if term.add < 0:
                        self.issues.append(Issue(term_at + "/add", "weights cannot be negative"))
                else:
                    self._check_points_term(term, term_at)
                self._actions(term.actions, term_at + "/actions")
                if score.purpose == "level":
                    self._explained(term.reason, term.source, term_at)

    def _check_score_ranges(self) -> None:
        """Bounds each stored score (scaled by 10^decimals) from above by its weights (they are non-negative, so
        0 is the least), never by computing it: a score past LARGEST_SCORE is reported where it first passes it,
        not in the scores reading it. Bounds are held at LARGEST_SCORE + 1 so that a chain of products stays a
        small number. A mean is at most its largest points; a prorated score that times its number of items."""
        over = LARGEST_SCORE + 1
        largest: dict[str, int] = {}
        for index, score in enumerate(self.ruleset.scores):
            reads = [score.subtotal_of] if score.subtotal_of is not None else []
            bound = largest.get(score.subtotal_of, 0) if score.subtotal_of is not None else 0
            for term in score.terms or []:
                if isinstance(term, ConditionTerm):
                    bound += max(term.add, 0)
                elif isinstance(term, PointsTerm):
                    bound += max([*term.points.values(), 0])
                else:
                    reads.append(term.score)
                    bound += max(term.times, 0) * largest.get(term.score, 0)
                bound = min(bound, over)
            if score.kind != "sum":
                points = [max([*t.points.values(), 0]) for t in score.terms or [] if isinstance(t, PointsTerm)]
                bound = max(points, default=0) * (len(points) if score.kind == "prorated" else 1)
            bound = min(bound * 10**score.decimals, over)
            largest[score.id] = bound
            if bound == over and all(largest.get(read, 0) < over for read in reads):
                self.issues.append(
                    Issue(
                        f"/scores/{index}",
                        f"score '{score.id}' can reach more than {LARGEST_SCORE}, the largest number a result "
                        f"carries exactly; lower its weights{' or its decimals' if score.decimals else ''}",
                    )
                )

    def _check_score_kinds(self) -> None:
        """A mean or prorated score: one `q` + `points` term per item, `min_answered` and `rounding` declared;
        a sum has neither (its `decimals` only scale it)."""
        for index, score in enumerate(self.ruleset.scores):
            at = f"/scores/{index}"
            if score.kind == "sum":
                if score.min_answered is not None:
                    self.issues.append(
                        Issue(at + "/min_answered", "min_answered applies to mean and prorated scores, not to a sum")
                    )
                if score.rounding is not None:
                    self.issues.append(
                        Issue(
                            at + "/rounding",
                            "rounding applies to mean and prorated scores; a sum is exact (decimals only scale it)",
                        )
                    )
                continue
            self._check_mean(score, at)

    def _check_mean(self, score: Score, at: str) -> None:
        kind = f"a {score.kind} score"
        if score.subtotal_of is not None:
            self.issues.append(
                Issue(at + "/subtotal_of", f"{kind} needs its own terms (one `q` + `points` term per item)")
            )
            return
        if score.min_answered is None:
            self.issues.append(
                Issue(at, f"{kind} needs min_answered: how many of its items must be answered (not unknown)")
            )
        if score.rounding is None:
            self.issues.append(
                Issue(at, f"{kind} needs rounding (half_up, half_even, floor or ceiling), as the instrument says")
            )
        first: dict[str, int] = {}
        for j, term in enumerate(score.terms or []):
            term_at = f"{at}/terms/{j}"
            if not isinstance(term, PointsTerm):
                found = "`when` + `add`" if isinstance(term, ConditionTerm) else "`score`"
                self.issues.append(
                    Issue(term_at, f"{kind} takes only `q` + `points` terms, one per item (this is a {found} term)")
                )
                continue
            if term.q in first:
                self.issues.append(
                    Issue(
                        term_at + "/q",
                        f"'{term.q}' is already read by {at}/terms/{first[term.q]}: {kind} reads each item once",
                    )
                )
            first.setdefault(term.q, j)
            if term.q in self.ruleset.unknown_reads_as:
                self.issues.append(
                    Issue(
                        term_at + "/q",
                        f"'{term.q}' is in unknown_reads_as, but {kind} counts only answers other than unknown; "
                        "leave it out of unknown_reads_as or of this score",
                    )
                )
        if score.min_answered is not None and score.min_answered > len(first):
            self.issues.append(
                Issue(
                    at + "/min_answered",
                    f"min_answered {score.min_answered} is more than the score's {len(first)} item(s)",
                )
            )

    def _check_points_term(self, term: PointsTerm, at: str) -> None:
        item = self.items.get(term.q)
        if item is None:
            self.issues.append(Issue(at + "/q", f"unknown item '{term.q}'"))
            return
        if not isinstance(item, SingleChoiceItem | YesNoUnknownItem):
            self.issues.append(Issue(at + "/q", f"points apply to single_choice or yes_no_unknown; {type_name(item)}"))
            return
        codes = set(rule_codes(item))
        for code, points in term.points.items():
            if code not in codes:
                unknown_hint = ""
                if code == UNKNOWN:
                    unknown_hint = (
                        " (unknown scores the points of the most concerning answer, unknown_reads_as)"
                        if term.q in self.ruleset.unknown_reads_as
                        else " (unknown answers score nothing)"
                    )
                self.issues.append(Issue(f"{at}/points/{code}", not_offered(code, item) + unknown_hint))
            if points < 0:
                self.issues.append(Issue(f"{at}/points/{code}", "weights cannot be negative"))

    def _check_subtotal(self, base_id: str, item_ids: list[str], at: str, earlier: set[str]) -> None:
        if base_id not in earlier:
            self.issues.append(Issue(at + "/subtotal_of", f"score '{base_id}' must be defined before this one"))
        else:
            base = self.ruleset.scores[self.scores.index(base_id)]
            if base.terms is None:
                self.issues.append(
                    Issue(at + "/subtotal_of", f"'{base_id}' is itself a subtotal; name a score with terms")
                )
            elif base.kind != "sum":
                self.issues.append(
                    Issue(
                        at + "/subtotal_of",
                        f"'{base_id}' is a {base.kind} score; a subtotal adds up part of a sum (declare a {base.kind} "
                        "score over those items instead)",
                    )
                )
        for j, item_id in enumerate(item_ids):
            if item_id not in self.items:
                self.issues.append(Issue(f"{at}/items/{j}", f"unknown item '{item_id}'"))

    def _check_bands(self) -> None:
        by_score: dict[str, list[tuple[int, int, int | None]]] = {}
        self.budget.spend(len(self.ruleset.bands), "/bands")
        for index, band in enumerate(self.ruleset.bands):
            at = f"/bands/{index}"
            if band.score not in self.score_ids:
                self.issues.append(Issue(at + "/score", f"unknown score '{band.score}'"))
            self._level(band.level, at + "/level")
            self._actions(band.actions, at + "/actions")
            if band.lt is not None and band.lt <= band.gte:
                self.issues.append(Issue(at, f"band [{band.gte}, {band.lt}) is empty"))
                continue
            by_score.setdefault(band.score, []).append((band.gte, index, band.lt))
        for score, bands in by_score.items():
            self._check_layout(score, bands, "/bands")

    def _check_layout(self, score: str, bands: list[tuple[int, int, int | None]], at: str) -> None:
        """The non-empty bands (gte, index under `at`, lt) of one score: contiguous from 0, the last open."""
        bands.sort()
        if bands[0][0] != 0:
            self.issues.append(Issue(f"{at}/{bands[0][1]}/gte", f"the bands of '{score}' must start at 0"))
        for (_gte, index, lt), (next_gte, next_index, _) in itertools.pairwise(bands):
            if lt is None or lt > next_gte:
                self.issues.append(Issue(f"{at}/{next_index}", f"band overlaps {at}/{index} of score '{score}'"))
            elif lt < next_gte:
                self.issues.append(
                    Issue(f"{at}/{index}/lt", f"gap between {lt} and {next_gte} in the bands of '{score}'")
                )
        if bands[-1][2] is not None:
            self.issues.append(Issue(f"{at}/{bands[-1][1]}/lt", f"the last band of '{score}' must be open (no lt)"))

    def _check_score_bands(self) -> None:
        """A score's own named bands: laid out like level bands, codes unique within the score."""
        for index, score in enumerate(self.ruleset.scores):
            if score.bands is None:
                continue
            at = f"/scores/{index}/bands"
            self.budget.spend(len(score.bands), at)
            if not score.bands:
                self.issues.append(Issue(at, "list at least one band, or leave `bands` out"))
                continue
            self.issues += _duplicates(((band.code, f"{at}/{j}/code") for j, band in enumerate(score.bands)), "band")
            laid_out: list[tuple[int, int, int | None]] = []
            for j, band in enumerate(score.bands):
                if band.lt is not None and band.lt <= band.gte:
                    self.issues.append(Issue(f"{at}/{j}", f"band [{band.gte}, {band.lt}) is empty"))
                else:
                    laid_out.append((band.gte, j, band.lt))
            if laid_out:
                self._check_layout(score.id, laid_out, at)

    def _check_level_labels(self) -> None:
        for level in self.ruleset.level_labels:
            self._level(level, f"/level_labels/{level}")

    def _check_jurisdictions(self) -> None:
        declared = self.ruleset.jurisdictions
        if declared is None:
            return
        at = "/jurisdictions"
        item = self.items.get(declared.item)
        if item is None:
            self.issues.append(Issue(at + "/item", f"unknown item '{declared.item}'"))
        elif not isinstance(item, SingleChoiceItem):
            self.issues.append(Issue(at + "/item", f"{type_name(item)} is not a single_choice item"))
        else:
            codes = [option.code for option in item.options if option.code != UNKNOWN]
            for j, code in enumerate(declared.codes):
                if code not in codes:
                    offered = ", ".join(codes)
                    self.issues.append(
                        Issue(f"{at}/codes/{j}", f'"{code}" is not an option of {type_name(item)} (options: {offered})')
                    )
        self.issues += _duplicates(((code, f"{at}/codes/{j}") for j, code in enumerate(declared.codes)), "code")
        for placeholder in re.findall(r"\{[^{}]*\}", declared.notice or ""):
            if placeholder != "{answer}":
                self.issues.append(
                    Issue(at + "/notice", f"unknown placeholder {placeholder}; a notice may contain only {{answer}}")
                )

    def _check_gap_rule(self) -> None:
        gap = self.ruleset.unknown_answers
        if gap is None:
            return
        self._level(gap.level, "/unknown_answers/level")
        self._actions(gap.actions, "/unknown_answers/actions")
        for index, item_id in enumerate(gap.items or []):
            item = self.items.get(item_id)
            if item is None:
                self.issues.append(Issue(f"/unknown_answers/items/{index}", f"unknown item '{item_id}'"))
            elif not can_be_unknown(item):
                self.issues.append(
                    Issue(f"/unknown_answers/items/{index}", f"{type_name(item)} can never be answered unknown")
                )

    def _check_policies(self) -> None:
        for level, policy in self.ruleset.level_policies.items():
            at = f"/level_policies/{level}"
            self._level(level, at)
            self._actions(policy.actions, at + "/actions")

    def _check_reachable_levels(self) -> None:
        rs = self.ruleset
        reachable = {rs.levels[0]}
        reachable |= {band.level for band in rs.bands}
        reachable |= {rule.level for rule in rs.triggers} | {rule.level for rule in rs.floors}
        if rs.unknown_answers is not None:
            reachable.add(rs.unknown_answers.level)
        for index, level in enumerate(rs.levels):
            if level not in reachable:
                self.issues.append(
                    Issue(f"/levels/{index}", f"level '{level}' cannot be reached: no band, trigger or floor sets it")
                )

    def _reason_ids(self) -> set[str]:
        """The ids of the rules whose reasons can appear in a result's `reasons` (compiler.py decides which)."""
        rs = self.ruleset
        ids = {rule.id for rule in [*rs.triggers, *rs.floors]} | ({GAP_RULE_ID} if rs.unknown_answers else set())
        for score in rs.scores:
            if score.purpose == "level":
                ids |= {term.id for term in score.terms or [] if not isinstance(term, ScoreTerm)}
        per_score: dict[str, int] = {}
        for band in rs.bands:
            n = per_score[band.score] = per_score.get(band.score, -1) + 1
            if band.reason is not None:
                ids.add(band.id or f"{band.score}_band_{n}")
        return ids

    def _check_tests(self) -> None:
        rs = self.ruleset
        validator = AnswerValidator(self.questionnaire, items_read_by_triggers(rs), answered_at_least_of(rs))
        trigger_ids = {rule.id for rule in rs.triggers}
        floor_ids = {rule.id for rule in rs.floors} | ({GAP_RULE_ID} if rs.unknown_answers else set())
        reason_ids = self._reason_ids()
        notices = {JURISDICTION_NOTICE} if rs.jurisdictions is not None else set()
        steps = answer_check_steps(self.questionnaire)
        for index, test in enumerate(rs.tests):
            at = f"/tests/{index}"
            self.budget.spend(steps + len(test.answers), at)
            self.issues += validator.validate(test.answers, prefix=at + "/answers")
            expect = test.expect
            if expect.level is not None:
                self._level(expect.level, at + "/expect/level")
            for name, known, what in (
                ("triggers", trigger_ids, "trigger"),
                ("floors", floor_ids, "floor"),
                ("actions_include", self.actions, "action"),
                ("actions_exclude", self.actions, "action"),
                ("reasons_include", reason_ids, "rule"),
                ("notices", notices, "notice"),
            ):
                for j, ident in enumerate(getattr(expect, name) or []):
                    if ident not in known:
                        hint = _EXPECTATION_HINTS.get(name, "")
                        self.issues.append(Issue(f"{at}/expect/{name}/{j}", f"unknown {what} '{ident}'{hint}"))
            for j, action in enumerate(expect.actions_exclude or []):
                if action in (expect.actions_include or []):
                    self.issues.append(
                        Issue(f"{at}/expect/actions_exclude/{j}", f"'{action}' is also in actions_include")
                    )
            for name in ("information_gaps", "information_gaps_include"):
                for j, item_id in enumerate(getattr(expect, name) or []):
                    item = self.items.get(item_id)
                    if item is None:
                        self.issues.append(Issue(f"{at}/expect/{name}/{j}", f"unknown item '{item_id}'"))
                    elif not can_be_unknown(item):
                        self.issues.append(
                            Issue(f"{at}/expect/{name}/{j}", f"{type_name(item)} can never be answered unknown")
                        )
            for name in expect.scores or {}:
                if name not in self.score_ids:
                    self.issues.append(Issue(f"{at}/expect/scores/{name}", f"unknown score '{name}'"))
            self._check_expected_bands(expect.score_bands or {}, f"{at}/expect/score_bands")

    def _check_expected_bands(self, expected: dict[str, str], at: str) -> None:
        bands = {score.id: [band.code for band in score.bands or []] for score in self.ruleset.scores}
        for score_id, code in expected.items():
            if score_id not in bands:
                self.issues.append(Issue(f"{at}/{score_id}", f"unknown score '{score_id}'"))
            elif not bands[score_id]:
                self.issues.append(Issue(f"{at}/{score_id}", f"score '{score_id}' declares no bands"))
            elif code not in bands[score_id]:
                known = ", ".join(bands[score_id])
                self.issues.append(Issue(f"{at}/{score_id}", f"'{code}' is not a band of '{score_id}' ({known})"))


_EXPECTATION_HINTS = {
    "reasons_include": " (reasons come from terms of level scores, bands with a reason, triggers, floors and "
    "unknown_answers)",
    "notices": f" (a rule set with jurisdictions may give {JURISDICTION_NOTICE})",
}


def authoring_issues(ruleset: RuleSet) -> list[Issue]:
    """Checks that new content must pass but published versions are exempt from (they were published before
    the check existed): every band, level band or score band, carries a reason and a source. Run when a draft or a
    document is validated or published, never when a published version is compiled."""
    issues = []
    located: list[tuple[str, Band | ScoreBand]] = [(f"/bands/{i}", band) for i, band in enumerate(ruleset.bands)]
    for i, score in enumerate(ruleset.scores):
        located += [(f"/scores/{i}/bands/{j}", band) for j, band in enumerate(score.bands or [])]
    for at, band in located:
        if not band.reason:
            issues.append(Issue(at, "a band needs a reason (plain text for a professional)"))
        if not band.source:
            issues.append(Issue(at, "a band needs a source (citation tag)"))
    return issues
