"""A compiled rule set: validates answers, runs the generated decision, and assembles the result object."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from app.scoring.answers import AnswerValidator, can_be_unknown
from app.scoring.checker import check_ruleset, items_read_by_triggers
from app.scoring.compiler import CompiledCode, RuleInfo, generate
from app.scoring.conditions import UNKNOWN
from app.scoring.errors import AnswerError, DefinitionError, Issue, ScoringError
from app.scoring.models import URGENCY_ORDER, MultiChoiceItem, Questionnaire, RuleSet

ENGINE_VERSION = "riskapi-scoring/1"
_SILENT, _TERM, _TRIGGER, _FLOOR, _GAP, _BAND = range(6)
EXPLAIN_OPTIONS = frozenset({"trace", "counterfactuals"})
_CACHE_SIZE = 64


class CompiledRuleSet:
    """A rule set bound to its questionnaire, compiled once; evaluation is pure and thread-safe."""

    def __init__(self, ruleset: RuleSet, questionnaire: Questionnaire, code: CompiledCode) -> None:
        self.ruleset = ruleset
        self.questionnaire = questionnaire
        self.code = code
        self.validator = AnswerValidator(questionnaire, items_read_by_triggers(ruleset))
        self._levels = tuple(ruleset.levels)
        catalogue = {action.id: position for position, action in enumerate(ruleset.actions)}
        urgency = {name: rank for rank, name in enumerate(URGENCY_ORDER)}
        self._action_rank = {action.id: (urgency[action.urgency], catalogue[action.id]) for action in ruleset.actions}
        self._action_out = {
            action.id: {"id": action.id, "title": action.title, "who": action.who, "urgency": action.urgency}
            for action in ruleset.actions
        }
        self._policy_actions = tuple(
            tuple(ruleset.level_policies[level].actions) if level in ruleset.level_policies else ()
            for level in ruleset.levels
        )
        self._review_days = tuple(
            ruleset.level_policies[level].review_within_days if level in ruleset.level_policies else None
            for level in ruleset.levels
        )
        self._unknowable = tuple(
            (item.id, [UNKNOWN] if isinstance(item, MultiChoiceItem) else UNKNOWN)
            for item in questionnaire.items
            if can_be_unknown(item)
        )
        self._protective = tuple(ruleset.protective_factors)
        self._plan = self._prepare()
        self._identity = {
            "questionnaire": {
                "key": questionnaire.key,
                "version": questionnaire.version,
                "content_hash": questionnaire.content_hash,
            },
            "ruleset": {"key": ruleset.key, "version": ruleset.version, "content_hash": ruleset.content_hash},
        }

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
        unknown_options = set(explain) - EXPLAIN_OPTIONS
        if unknown_options:
            raise ScoringError(f"unknown explain option(s): {', '.join(sorted(unknown_options))}")
        if not self.is_valid(answers):
            raise AnswerError(self.validator.validate(answers))
        assert isinstance(answers, dict)
        level, scores, fired = self.code.core(answers)
        result = self._assemble(answers, level, scores, fired)
        if "trace" in explain:
            result["trace"] = self.trace(answers, scores, fired)
        if "counterfactuals" in explain:
            from app.scoring.explain import counterfactuals

            result["counterfactuals"] = counterfactuals(self, answers, level)
        return result

    def _points(self, rule: RuleInfo, answers: dict[str, Any], scores: tuple[int, ...]) -> int:
        if rule.add is not None:
            return rule.add
        if rule.points is not None:
            return rule.points.get(answers.get(rule.items[0]), 0)  # type: ignore[arg-type]
        assert rule.reads_score is not None
        return scores[self.code.score_ids.index(rule.reads_score)] * rule.times

    def _assemble(
        self, answers: dict[str, Any], level: int, scores: tuple[int, ...], fired: list[int]
    ) -> dict[str, Any]:
        # Per-rule templates are prepared once (see _prepare); here they are only copied, which keeps the
        # result object cheap next to the generated decision.
        plan = self._plan
        triggers: list[dict[str, Any]] = []
        floors: list[dict[str, Any]] = []
        level_reasons: list[dict[str, Any]] = []
        band_reasons: list[dict[str, Any]] = []
        term_reasons: list[tuple[int, dict[str, Any]]] = []
        action_ids = set(self._policy_actions[level])
        for index in fired:
            kind, rule_actions, reason, points, rule = plan[index]
            if rule_actions:
                action_ids.update(rule_actions)
            if kind == _TERM:
                if points is None:
                    points = self._points(rule, answers, scores)
                explained = reason.copy()
                explained["points"] = points
                explained["items"] = list(rule.items)
                term_reasons.append((-points, explained))
            elif kind == _TRIGGER:
                triggers.append({"id": rule.id, "title": rule.title, "reason": rule.reason, "source": rule.source})
                explained = reason.copy()
                explained["items"] = list(rule.items)
                level_reasons.append(explained)
            elif kind == _FLOOR:
                floors.append({"id": rule.id, "reason": rule.reason})
                explained = reason.copy()
                explained["items"] = list(rule.items)
                level_reasons.append(explained)
            elif kind == _GAP:
                unknown = [item_id for item_id in rule.items if _is_unknown(answers.get(item_id))]
                text = (rule.reason or "").replace("{items}", ", ".join(unknown))
                floors.append({"id": rule.id, "reason": text})
                level_reasons.append(
                    {"rule_id": rule.id, "text": text, "points": None, "items": unknown, "source": rule.source}
                )
            elif kind == _BAND:
                band_reasons.append(reason.copy())
        # generation order already puts triggers before floors and the gap rule
        term_reasons.sort(key=_first)  # stable: equal points keep definition order
        reasons = level_reasons + band_reasons
        reasons += [reason for _, reason in term_reasons]
        action_out = self._action_out
        actions = [action_out[a].copy() for a in sorted(action_ids, key=self._action_rank.__getitem__)]
        get = answers.get
        return {
            "level": self._levels[level],
            "computed_level": self._levels[level],
            "scores": dict(zip(self.code.score_ids, scores, strict=True)),
            "triggers": triggers,
            "floors_applied": floors,
            "reasons": reasons,
            "actions": actions,
            "information_gaps": [item_id for item_id, token in self._unknowable if get(item_id) == token],
            "protective_factors": [i for i in self._protective if get(i) is True or get(i) == "yes"],
            "review_within_days": self._review_days[level],
            "disclaimer": self.ruleset.disclaimer,
            "questionnaire": self._identity["questionnaire"].copy(),
            "ruleset": self._identity["ruleset"].copy(),
            "engine_version": ENGINE_VERSION,
        }

    def _prepare(self) -> list[tuple[int, tuple[str, ...], dict[str, Any], int | None, RuleInfo]]:
        plan = []
        for rule in self.code.rules:
            reason: dict[str, Any] = {
                "rule_id": rule.id,
                "text": rule.reason,
                "points": None,
                "items": [],
                "source": rule.source,
            }
            kind = _SILENT
            if rule.kind == "term" and rule.explains_level:
                kind = _TERM
            elif rule.kind in ("trigger", "floor", "gap"):
                kind = {"trigger": _TRIGGER, "floor": _FLOOR, "gap": _GAP}[rule.kind]
            elif rule.kind == "band" and rule.explains_level:
                kind = _BAND
            plan.append((kind, rule.actions, reason, rule.add, rule))
        return plan

    @staticmethod
    def _reason(rule: RuleInfo, points: int | None, items: list[str]) -> dict[str, Any]:
        return {"rule_id": rule.id, "text": rule.reason, "points": points, "items": items, "source": rule.source}

    def trace(self, answers: dict[str, Any], scores: tuple[int, ...], fired: list[int]) -> list[dict[str, Any]]:
        """Every rule that fired, in evaluation order, with its contribution and the answers it read."""
        entries = []
        for index in fired:
            rule = self.code.rules[index]
            contribution: object
            if rule.kind == "term":
                contribution = self._points(rule, answers, scores)
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


def _first(pair: tuple[int, dict[str, Any]]) -> int:
    return pair[0]


def _is_unknown(value: object) -> bool:
    return value == UNKNOWN or value == [UNKNOWN]


_compiled: OrderedDict[tuple[str, str], CompiledRuleSet] = OrderedDict()


def compile_ruleset(ruleset: RuleSet, questionnaire: Questionnaire) -> CompiledRuleSet:
    """Check and compile, once per (questionnaire hash, rule-set hash); raises DefinitionError."""
    try:
        key = (questionnaire.content_hash, ruleset.content_hash)
    except ScoringError as exc:
        raise DefinitionError([Issue("", str(exc))]) from None
    cached = _compiled.get(key)
    if cached is not None:
        _compiled.move_to_end(key)
        return cached
    issues = check_ruleset(ruleset, questionnaire)
    if issues:
        raise DefinitionError(issues)
    compiled = CompiledRuleSet(ruleset, questionnaire, generate(ruleset, questionnaire))
    _compiled[key] = compiled
    if len(_compiled) > _CACHE_SIZE:
        _compiled.popitem(last=False)
    return compiled
