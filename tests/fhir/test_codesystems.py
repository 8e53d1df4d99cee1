"""The CodeSystems our resources draw codes from: yes/no/unknown, a choice item's options, a rule set's levels."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.codesystem import CodeSystem

from app.fhir.canonical import SHIPPED_CANONICAL_BASE, YES_NO_UNKNOWN_SYSTEM, levels_system, option_system
from app.fhir.codesystems import (
    choice_items,
    levels_codesystem,
    option_codesystem,
    yes_no_unknown_codesystem,
)
from app.fhir.questionnaire import questionnaire_resource
from app.scoring import parse_questionnaire
from app.scoring.checker import items_read_by_triggers
from app.scoring.labels import level_label
from app.scoring.requirements import item_requirements
from tests.fhir.test_questionnaire_export import BASE, EVERY_TYPE, shipped_pairs, walk


def concepts(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["code"], c["display"]) for c in resource["concept"]]


def test_yes_no_unknown_is_fixed() -> None:
    resource = yes_no_unknown_codesystem()
    CodeSystem.model_validate(resource)
    assert resource["url"] == YES_NO_UNKNOWN_SYSTEM == "https://riskapi.org.uk/fhir/CodeSystem/yes-no-unknown"
    assert resource["version"] == "1"
    assert resource["status"] == "active"
    assert resource["content"] == "complete"
    assert concepts(resource) == [("yes", "Yes"), ("no", "No"), ("unknown", "Unknown")]


def test_a_choice_items_options_with_their_help_as_definition() -> None:
    questionnaire = parse_questionnaire(EVERY_TYPE)
    single = next(item for item in choice_items(questionnaire) if item.id == "single")
    resource = option_codesystem(questionnaire, single, base=BASE, status="retired")
    CodeSystem.model_validate(resource)
    assert resource["url"] == option_system(BASE, "every-type", "single") == f"{BASE}/CodeSystem/every-type.single"
    assert resource["version"] == "3"
    assert resource["status"] == "retired"
    assert resource["content"] == "complete"
    assert resource["count"] == 2
    assert resource["concept"] == [
        {"code": "a", "display": "A", "definition": "The first"},
        {"code": "unknown", "display": "Not known"},
    ]


def test_every_coding_of_every_shipped_export_is_in_its_codesystem() -> None:
    """The answerOptions of each shipped questionnaire and the CodeSystems say the same: same system, version,
    code and display."""
    for questionnaire, ruleset in shipped_pairs():
        exported = questionnaire_resource(
            questionnaire,
            item_requirements(questionnaire, items_read_by_triggers(ruleset)),
            base=SHIPPED_CANONICAL_BASE,
            status="published",
        )
        systems = {YES_NO_UNKNOWN_SYSTEM: yes_no_unknown_codesystem()}
        for item in choice_items(questionnaire):
            resource = option_codesystem(questionnaire, item, base=SHIPPED_CANONICAL_BASE, status="published")
            systems[resource["url"]] = resource
        codings = [o["valueCoding"] for i in walk(exported["item"]) for o in i.get("answerOption", [])]
        assert codings
        for coding in codings:
            system = systems[coding["system"]]
            assert coding["version"] == system["version"]
            assert (coding["code"], coding["display"]) in concepts(system)


def test_a_rule_sets_levels_in_order_with_their_labels() -> None:
    for _questionnaire, ruleset in shipped_pairs():
        resource = levels_codesystem(ruleset, base=SHIPPED_CANONICAL_BASE, status="published")
        CodeSystem.model_validate(resource)
        assert resource["url"] == levels_system(SHIPPED_CANONICAL_BASE, ruleset.key)
        assert resource["version"] == str(ruleset.version)
        assert resource["status"] == "active"
        assert concepts(resource) == [(level, level_label(ruleset, level)) for level in ruleset.levels]
        described = {level for level, label in ruleset.level_labels.items() if label.description}
        assert {c["code"] for c in resource["concept"] if "definition" in c} == described
