"""Labels of a rule set's levels, as reads and the report show them (docs/rule-language.md)."""

from __future__ import annotations

from app.scoring.models import RuleSet


def level_label(ruleset: RuleSet, level: str) -> str:
    """The level's declared label (`level_labels`), else its id with underscores as spaces and the first letter
    upper case: `category_1` -> `Category 1`."""
    declared = ruleset.level_labels.get(level)
    if declared is not None:
        return declared.label
    spaced = level.replace("_", " ")
    return spaced[:1].upper() + spaced[1:]
