"""The CodeSystems our FHIR resources draw codes from (docs/fhir.md, "CodeSystems"): yes/no/unknown (fixed, the same
for every organisation's content), one per choice item of a questionnaire version (its option codes) and one per
rule-set version (its levels, in order). Pure functions, validated by the R4B model of `fhir.resources`."""

from __future__ import annotations

from typing import Any

from app.fhir.canonical import (
    YES_NO_UNKNOWN_DISPLAY,
    YES_NO_UNKNOWN_SYSTEM,
    YES_NO_UNKNOWN_VERSION,
    levels_system,
    option_system,
)
from app.fhir.questionnaire import FHIR_STATUS, computable_name
from app.scoring.labels import level_label
from app.scoring.models import MultiChoiceItem, Questionnaire, RuleSet, SingleChoiceItem


def _validated(resource: dict[str, Any]) -> dict[str, Any]:
    from fhir.resources.R4B.codesystem import CodeSystem

    return CodeSystem.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _code_system(
    url: str, version: str, name: str, title: str, status: str, concepts: list[dict[str, str]], description: str
) -> dict[str, Any]:
    return _validated(
        {
            "resourceType": "CodeSystem",
            "url": url,
            "version": version,
            "name": name,
            "title": title,
            "status": status,
            "description": description,
            "caseSensitive": True,
            "content": "complete",
            "count": len(concepts),
            "concept": concepts,
        }
    )


def yes_no_unknown_codesystem() -> dict[str, Any]:
    """The answers of every yes/no/unknown item (version 1, fixed)."""
    return _code_system(
        YES_NO_UNKNOWN_SYSTEM,
        YES_NO_UNKNOWN_VERSION,
        "YesNoUnknown",
        "Yes, no or unknown",
        "active",
        [{"code": code, "display": display} for code, display in YES_NO_UNKNOWN_DISPLAY.items()],
        'The answers of a yes/no/unknown question. "unknown" is an answer: nobody can say yet; no comparison '
        "holds on it.",
    )


def choice_items(questionnaire: Questionnaire) -> list[SingleChoiceItem | MultiChoiceItem]:
    return [item for item in questionnaire.items if isinstance(item, SingleChoiceItem | MultiChoiceItem)]


def option_codesystem(
    questionnaire: Questionnaire, item: SingleChoiceItem | MultiChoiceItem, *, base: str, status: str
) -> dict[str, Any]:
    """The option codes of one choice item of a questionnaire version (status: the version's, ours)."""
    concepts = []
    for option in item.options:
        concept = {"code": option.code, "display": option.label}
        if option.help:
            concept["definition"] = option.help
        concepts.append(concept)
    return _code_system(
        option_system(base, questionnaire.key, item.id),
        str(questionnaire.version),
        f"{computable_name(questionnaire.key)}_{item.id}"[:255],
        f"{questionnaire.title}: {item.question}",
        FHIR_STATUS[status],
        concepts,
        f"The options of item '{item.id}' of questionnaire '{questionnaire.key}' version {questionnaire.version}.",
    )


def levels_codesystem(ruleset: RuleSet, *, base: str, status: str) -> dict[str, Any]:
    """The levels of a rule-set version, in the rule set's order (lowest first), displayed by their labels."""
    concepts = []
    for level in ruleset.levels:
        concept = {"code": level, "display": level_label(ruleset, level)}
        declared = ruleset.level_labels.get(level)
        if declared is not None and declared.description:
            concept["definition"] = declared.description
        concepts.append(concept)
    return _code_system(
        levels_system(base, ruleset.key),
        str(ruleset.version),
        f"{computable_name(ruleset.key)}_levels",
        f"Levels of {ruleset.title}",
        FHIR_STATUS[status],
        concepts,
        f"The levels of rule set '{ruleset.key}' version {ruleset.version}, in order.",
    )
