"""Display labels of a rule set's levels (docs/rule-language.md, "Level labels")."""

from __future__ import annotations

from app.scoring.models import RuleSet


def default_level_label(level: str) -> str:
    """The label made from a level id: underscores as spaces, first letter upper case (`category_1` -> `Category 1`)."""
    text = level.replace("_", " ")
    return text[:1].upper() + text[1:]


def level_label(ruleset: RuleSet, level: str) -> str:
    """The label of `level`: the rule set's `level_labels` entry, else the label made from the id."""
    declared = ruleset.level_labels.get(level)
    return declared.label if declared is not None else default_level_label(level)
