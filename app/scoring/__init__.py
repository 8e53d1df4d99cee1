"""The pure scoring core: rule-set language, static checks, compiler, evaluator and explanations.

Imports nothing from the web or database layers; every public function raises only `ScoringError`s.
"""

from __future__ import annotations

from typing import Any

from app.scoring.budget import StepBudget
from app.scoring.canonical import canonical_json, content_hash, load_document
from app.scoring.checker import authoring_issues
from app.scoring.checker import check_ruleset as _check_ruleset
from app.scoring.embedded_tests import TestOutcome, run_tests
from app.scoring.errors import AnswerError, DefinitionError, Issue, ScoringError, WorkLimitExceeded
from app.scoring.evaluator import ENGINE_VERSION, CompiledRuleSet, compile_ruleset
from app.scoring.models import Questionnaire, RuleSet
from app.scoring.parsing import parse_questionnaire, parse_ruleset

__all__ = [
    "ENGINE_VERSION",
    "AnswerError",
    "CompiledRuleSet",
    "DefinitionError",
    "Issue",
    "Questionnaire",
    "RuleSet",
    "ScoringError",
    "StepBudget",
    "TestOutcome",
    "WorkLimitExceeded",
    "authoring_issues",
    "canonical_json",
    "check",
    "compile_ruleset",
    "content_hash",
    "load_document",
    "parse_questionnaire",
    "parse_ruleset",
    "questionnaire_json_schema",
    "ruleset_json_schema",
    "run_tests",
]


def check(ruleset: RuleSet, questionnaire: Questionnaire, budget: StepBudget | None = None) -> list[Issue]:
    """Every static-check problem of `ruleset` against `questionnaire` (monotonicity included); empty = clean.

    Raises `WorkLimitExceeded` when the checks need more steps than `budget` allows (none: only counted)."""
    return _check_ruleset(ruleset, questionnaire, budget)


def questionnaire_json_schema() -> dict[str, Any]:
    return Questionnaire.model_json_schema(by_alias=True)


def ruleset_json_schema() -> dict[str, Any]:
    return RuleSet.model_json_schema(by_alias=True)
