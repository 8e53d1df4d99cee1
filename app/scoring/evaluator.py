"""A compiled rule set: runs the generated check, decision and result assembly; explains failures and options."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from typing import Any

from cachetools import LRUCache, cached

from app.scoring.answers import AnswerValidator
from app.scoring.checker import answer_check_steps, check_ruleset, items_read_by_triggers
from app.scoring.compiler import CompiledCode, RuleInfo, generate
from app.scoring.conditions import size
from app.scoring.errors import AnswerError, DefinitionError, Issue, ScoringError
from app.scoring.explain import counterfactuals as nearest_changes
from app.scoring.models import ActionRule, ConditionTerm, LevelRule, PointsTerm, Questionnaire, RuleSet
from app.scoring.requirements import answered_at_least_of
from app.scoring.unknown_reading import as_rules_read, unknown_readings

ENGINE_VERSION = "riskapi-scoring/2"
EXPLAIN_OPTIONS = frozenset({"trace", "counterfactuals"})
# (trace, counterfactuals) for the explain values callers pass most often (a frozenset's hash is cached)
_EXPLAIN_MODES = {
    frozenset({"trace"}): (True, False),
    frozenset({"counterfactuals"}): (False, True),
    EXPLAIN_OPTIONS: (True, True),
}
_CACHE_SIZE = 64


class CompiledRuleSet:
    """A rule set bound to its questionnaire, compiled once; evaluation is pure and thread-safe."""

    def __init__(self, ruleset: RuleSet, questionnaire: Questionnaire, code: CompiledCode) -> None:
        self.ruleset = ruleset
        self.questionnaire = questionnaire
        self.code = code
        self.validator = AnswerValidator(questionnaire, items_read_by_triggers(ruleset), answered_at_least_of(ruleset))
        self.unknown_readings = unknown_readings(ruleset, questionnaire.items)
        self._levels = tuple(ruleset.levels)
        self._plain, self._traced = code.plain, code.traced
        self.evaluation_steps = _evaluation_steps(ruleset, questionnaire)

    # --- answers ------------------------------------------------------------------------------------------

    def validate_answers(self, answers: object) -> list[Issue]:
        return self.validator.validate(answers)

    def is_valid(self, answers: object) -> bool:
        """The generated check, falling back to the full validator if the generated one is unsure."""
        try:
            if self.code.valid(answers):
                return True
        except Exception:  # noqa: S110 - hostile input may upset the fast check; the full validator decides
            pass
        return not self.validator.validate(answers)

    # --- evaluation ---------------------------------------------------------------------------------------

    def decide(self, answers: dict[str, Any]) -> tuple[int, tuple[int, ...], list[int]]:
        """Fast path on valid answers: (level index, scores, indices of fired rules)."""
        return self.code.core(answers)

    def evaluate(self, answers: object, explain: Collection[str] = frozenset()) -> dict[str, Any]:
        if not explain:
            traced = counterfactuals = False
        elif (mode := _EXPLAIN_MODES.get(explain) if explain.__class__ is frozenset else None) is not None:
            traced, counterfactuals = mode
        else:
            unknown_options = set(explain) - EXPLAIN_OPTIONS
            if unknown_options:
                raise ScoringError(f"unknown explain option(s): {', '.join(sorted(unknown_options))}")
            traced, counterfactuals = "trace" in explain, "counterfactuals" in explain
        # One generated function checks the answers, decides and builds the result object (see compiler.py).
        run = self._traced if traced else self._plain
        try:
            result = run(answers, True)
        except Exception:  # hostile input may upset the fast check; the full validator decides
            result = None
        if result is None:
            issues = self.validator.validate(answers)
            if issues:
                raise AnswerError(issues)
            result = run(answers, False)  # valid after all (the fast check is only sure about a "yes")
            assert result is not None
        if counterfactuals:
            assert isinstance(answers, dict)
            result["counterfactuals"] = nearest_changes(self, answers, self._levels.index(result["level"]))
        return result

    def _points(self, rule: RuleInfo, answers: Mapping[str, Any], scores: tuple[int, ...]) -> int:
        if rule.add is not None:
            return rule.add
        if rule.points is not None:
            return rule.points.get(answers.get(rule.items[0]), 0)  # type: ignore[arg-type]
        assert rule.reads_score is not None
        return scores[self.code.score_ids.index(rule.reads_score)] * rule.times

    def trace(self, answers: dict[str, Any], scores: tuple[int, ...], fired: list[int]) -> list[dict[str, Any]]:
        """Every rule that fired, in evaluation order, with its contribution and the answers it read (as given:
        "unknown" stays "unknown" where rules read it as another answer)."""
        entries = []
        read = as_rules_read(answers, self.unknown_readings)
        for index in fired:
            rule = self.code.rules[index]
            contribution: object
            if rule.kind == "term":
                contribution = self._points(rule, read, scores)
            elif rule.kind == "action_rule":
                contribution = list(rule.actions)
            else:
                assert rule.level is not None
                contribution = self._levels[rule.level]
            entry: dict[str, Any] = {
                "id": rule.id,
                "kind": rule.kind,
                "contribution": contribution,
                "reads": {item_id: answers.get(item_id) for item_id in rule.items},
            }
            if rule.score is not None:
                entry["score"] = rule.score
            if rule.reads_score is not None:
                entry["reads_score"] = {rule.reads_score: scores[self.code.score_ids.index(rule.reads_score)]}
            entries.append(entry)
        return entries


def _evaluation_steps(ruleset: RuleSet, questionnaire: Questionnaire) -> int:
    """What one evaluation costs in checking steps (budget.py): the answer check, every rule's condition (or its
    points), every band and action; a fixed figure per rule set, whatever the answers."""
    steps = answer_check_steps(questionnaire) + len(ruleset.bands) + len(ruleset.actions)
    for score in ruleset.scores:
        steps += len(score.bands or [])
        for term in score.terms or []:
            if isinstance(term, ConditionTerm):
                steps += size(term.when)
            elif isinstance(term, PointsTerm):
                steps += len(term.points)
            else:
                steps += 1
    rules: list[LevelRule | ActionRule] = [*ruleset.triggers, *ruleset.floors, *ruleset.action_rules]
    steps += sum(size(rule.when) for rule in rules)
    return steps


def compile_ruleset(ruleset: RuleSet, questionnaire: Questionnaire) -> CompiledRuleSet:
    """Check and compile, once per (questionnaire hash, rule-set hash); raises DefinitionError."""
    try:
        key = (questionnaire.content_hash, ruleset.content_hash)
    except ScoringError as exc:
        raise DefinitionError([Issue("", str(exc))]) from None
    return _checked_and_compiled(key, ruleset, questionnaire)


# Compiles run in the server's threadpool: cachetools caches are not thread-safe, hence the lock.
@cached(LRUCache(maxsize=_CACHE_SIZE), key=lambda key, _ruleset, _questionnaire: key, lock=threading.Lock())
def _checked_and_compiled(_key: tuple[str, str], ruleset: RuleSet, questionnaire: Questionnaire) -> CompiledRuleSet:
    issues = check_ruleset(ruleset, questionnaire)
    if issues:
        raise DefinitionError(issues)
    return CompiledRuleSet(ruleset, questionnaire, generate(ruleset, questionnaire, ENGINE_VERSION))
