"""Every scoring-engine version and the result fields it produces (docs/engine-changelog.md).

A stored result is only ever compared, field by field, on the fields the engine version that produced it knew: a
field a later engine added is not a difference. Reads give a stored result that lacks a later field its default.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

V1_RESULT_FIELDS: Final = (
    "level",
    "computed_level",
    "scores",
    "triggers",
    "floors_applied",
    "reasons",
    "actions",
    "information_gaps",
    "protective_factors",
    "review_within_days",
    "disclaimer",
    "questionnaire",
    "ruleset",
    "engine_version",
)

# The result fields each engine version produces, oldest first (`trace` and `counterfactuals` aside: they appear
# only when asked for). The last entry is the current version, `evaluator.ENGINE_VERSION`.
RESULT_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "riskapi-scoring/1": V1_RESULT_FIELDS,
    "riskapi-scoring/2": (*V1_RESULT_FIELDS, "score_bands", "score_decimals", "notices"),
}

# What a stored result written by an engine that did not produce a field reads as.
FIELD_DEFAULTS: Final[Mapping[str, Any]] = {"score_bands": {}, "score_decimals": {}, "notices": []}

LATEST_VERSION: Final = list(RESULT_FIELDS)[-1]


def result_fields(engine_version: str) -> tuple[str, ...] | None:
    """The fields `engine_version` produces; None for a version this engine does not know."""
    return RESULT_FIELDS.get(engine_version)


def with_field_defaults(result: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a stored result with every field a later engine added and the result lacks set to its default."""
    filled = dict(result)
    for name, default in FIELD_DEFAULTS.items():
        if name not in filled:
            filled[name] = copy.deepcopy(default)
    return filled
