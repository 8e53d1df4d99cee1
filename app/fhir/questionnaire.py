"""A questionnaire version as a FHIR R4 Questionnaire (docs/fhir.md, "The Questionnaire"; ADR 0016).

A pure function of the questionnaire, its items' presence rules (app.scoring.requirements, with the items a rule
set's triggers read, as the answers schema has them), the canonical base and the version's status; the result is
checked by constructing the R4B model of `fhir.resources` (imported here, not at module import: the CLI's start-up
time matters).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from app.fhir.canonical import HELP_SUFFIX, SECTION_SUFFIX, YES_NO_UNKNOWN_DISPLAY, questionnaire_url
from app.fhir.enable_when import (
    Translator,
    has_unknown_sibling,
    sibling_id,
)
from app.scoring.conditions import UNKNOWN
from app.scoring.models import (
    BooleanItem,
    DateItem,
    IntegerItem,
    Item,
    MultiChoiceItem,
    Questionnaire,
    SingleChoiceItem,
    TextItem,
    YesNoUnknownItem,
)
from app.scoring.requirements import ItemRequirement

# Our own extension: the rule set whose triggers made items `required` (valueCanonical `<rule set url>|<version>`).
REQUIRED_BY_RULESET = "https://riskapi.org.uk/fhir/StructureDefinition/required-by-ruleset"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
OPTION_EXCLUSIVE = "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
UNKNOWN_SIBLING_TEXT = "Not known"

FHIR_STATUS = {"draft": "draft", "published": "active", "retired": "retired"}


def computable_name(key: str) -> str:
    """A FHIR computable name (`[A-Z][A-Za-z0-9_]*`) from a key: `online-exposure` -> `OnlineExposure`."""
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", key) if part)
    return name if name[:1].isalpha() else f"Q{name}"


def questionnaire_resource(
    questionnaire: Questionnaire,
    requirements: Sequence[ItemRequirement],
    *,
    base: str,
    status: str,
    required_by_ruleset: str | None = None,
) -> dict[str, Any]:
    """The FHIR R4 Questionnaire of `questionnaire` (a JSON-ready dict, validated by the R4B model).

    `requirements`: `item_requirements(questionnaire, items_read_by_triggers(ruleset))`, in questionnaire order;
    `base`: the canonical base (`canonical_base(owner, settings.base_url)`); `status`: ours (draft, published,
    retired); `required_by_ruleset`: `<rule set url>|<version>` of the rule set the requirements came from, if any.
    """
    from fhir.resources.R4B.questionnaire import Questionnaire as FhirQuestionnaire

    translator = Translator(
        {item.id: item for item in questionnaire.items}, base, questionnaire.key, questionnaire.version
    )
    by_section: dict[str, list[dict[str, Any]]] = {section.id: [] for section in questionnaire.sections}
    for requirement in requirements:
        by_section.setdefault(requirement.item.section, []).extend(_items(requirement, translator))
    resource: dict[str, Any] = {"resourceType": "Questionnaire"}
    if required_by_ruleset is not None:
        resource["extension"] = [{"url": REQUIRED_BY_RULESET, "valueCanonical": required_by_ruleset}]
    resource.update(
        {
            "url": questionnaire_url(base, questionnaire.key),
            "version": str(questionnaire.version),
            "name": computable_name(questionnaire.key),
            "title": questionnaire.title,
            "status": FHIR_STATUS[status],
        }
    )
    if questionnaire.description:
        resource["description"] = questionnaire.description
    resource["item"] = [
        {
            "linkId": f"{section.id}{SECTION_SUFFIX}",
            "text": section.title,
            "type": "group",
            "item": by_section[section.id],
        }
        for section in questionnaire.sections
        if by_section[section.id]
    ]
    return FhirQuestionnaire.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _items(requirement: ItemRequirement, translator: Translator) -> list[dict[str, Any]]:
    """The FHIR items of one of ours: the question, and its "Not known" sibling when it has one."""
    item = requirement.item
    paired = has_unknown_sibling(item)
    question: dict[str, Any] = {"linkId": item.id, "text": item.question, **_typed(item, translator)}
    rule = translator.rule(requirement.enable_when, unknown_sibling_of=item.id if paired else None)
    if rule is not None:
        elements = rule.elements()
        question["extension"] = [*question.get("extension", []), *elements.pop("extension", [])]
        if not question["extension"]:
            del question["extension"]
        question.update(elements)
    if requirement.always_required:
        question["required"] = True
    if item.help:
        question["item"] = [_help(item.id, item.help)]
    out = [question]
    if paired:
        sibling: dict[str, Any] = {"linkId": sibling_id(item.id), "text": UNKNOWN_SIBLING_TEXT, "type": "boolean"}
        sibling_rule = translator.rule(requirement.enable_when)
        if sibling_rule is not None:
            sibling.update(sibling_rule.elements())
        out.append(sibling)
    return out


def _typed(item: Item, translator: Translator) -> dict[str, Any]:
    """The item's type and the elements that go with it."""
    if isinstance(item, YesNoUnknownItem):
        return {
            "type": "choice",
            "answerOption": [{"valueCoding": _coding(translator, item, code)} for code in YES_NO_UNKNOWN_DISPLAY],
        }
    if isinstance(item, BooleanItem):
        return {"type": "boolean"}
    if isinstance(item, SingleChoiceItem | MultiChoiceItem):
        options = []
        for option in item.options:
            answer: dict[str, Any] = {"valueCoding": _coding(translator, item, option.code)}
            if isinstance(item, MultiChoiceItem) and option.code == UNKNOWN:
                answer["extension"] = [{"url": OPTION_EXCLUSIVE, "valueBoolean": True}]
            options.append(answer)
        typed: dict[str, Any] = {"type": "choice"}
        if isinstance(item, MultiChoiceItem):
            typed["repeats"] = True
        typed["answerOption"] = options
        return typed
    if isinstance(item, IntegerItem):
        bounds = [(MIN_VALUE, item.min), (MAX_VALUE, item.max)]
        extensions = [{"url": url, "valueInteger": value} for url, value in bounds if value is not None]
        return {"type": "integer", **({"extension": extensions} if extensions else {})}
    if isinstance(item, DateItem):
        return {"type": "date"}
    assert isinstance(item, TextItem)
    return {"type": "text", "maxLength": item.max_length}


def _coding(
    translator: Translator, item: YesNoUnknownItem | SingleChoiceItem | MultiChoiceItem, code: str
) -> dict[str, str]:
    coded = translator.coded(item, code)
    return {"system": coded.system, "version": coded.version, "code": coded.code, "display": coded.display}


def _help(item_id: str, text: str) -> dict[str, Any]:
    return {
        "extension": [
            {
                "url": ITEM_CONTROL,
                "valueCodeableConcept": {
                    "coding": [{"system": ITEM_CONTROL_SYSTEM, "code": "help", "display": "Help-Button"}],
                    "text": "Help-Button",
                },
            }
        ],
        "linkId": f"{item_id}{HELP_SUFFIX}",
        "text": text,
        "type": "display",
    }
