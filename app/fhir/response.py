"""Answers to and from a FHIR QuestionnaireResponse (docs/fhir.md, "QuestionnaireResponse").

In: the document the JSON guard parsed is checked in this order, and the first step that finds anything refuses
the request with every error it found (pointers are JSON pointers into the QuestionnaireResponse):
1. its structure, by the `fhir.resources` R4B model: 400;
2. direct identifiers (`contained`, narrative `text`, `author`, `source`, any literal `reference`, a subject other
   than a bare identifier, an NHS-number system): 422, checked before anything else is read so that none is ever
   accepted, even by an organisation without an identifier system;
3. the organisation's identifier system: 409 `/problems/fhir-not-configured` when unset;
4. status, questionnaire, subject system and the answers: 422.
Out: stored answers as a QuestionnaireResponse with the items nested in their section groups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.core.errors import BadRequest, FieldError, ValidationFailed
from app.fhir.canonical import (
    SECTION_SUFFIX,
    SHIPPED_CANONICAL_BASE,
    UNKNOWN_SUFFIX,
    YES_NO_UNKNOWN_DISPLAY,
    YES_NO_UNKNOWN_SYSTEM,
    YES_NO_UNKNOWN_VERSION,
    option_system,
    questionnaire_url,
)
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

ACCEPTED_STATUS = "completed"
UNKNOWN = "unknown"
SUBJECT_REF_MAX_LENGTH = 256  # AssessmentCreate.subject_ref
# Elements that carry who answered, about whom or in what words: refused wherever a QuestionnaireResponse has them.
REFUSED_ELEMENTS = {
    "contained": "contained resources are refused: they could carry a patient's identity, which is never stored",
    "text": "a narrative `text` is refused: it could carry a patient's identity, which is never stored",
    "author": "`author` is refused: who answered is the X-Acting-User header, never stored from the document",
    "source": "`source` is refused: it names the person who answered (a patient or relative)",
}
_NUMBER = re.compile(r"^[1-9][0-9]{0,9}$")
_FULL_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_VALUE_FIELDS = (
    "valueBoolean",
    "valueDecimal",
    "valueInteger",
    "valueDate",
    "valueDateTime",
    "valueTime",
    "valueString",
    "valueUri",
    "valueAttachment",
    "valueCoding",
    "valueQuantity",
    "valueReference",
)


def _pointer(*parts: str | int) -> str:
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in parts)


def _invalid(errors: list[FieldError]) -> ValidationFailed:
    count = len(errors)
    return ValidationFailed(
        f"{count} element{'s are' if count != 1 else ' is'} refused in the QuestionnaireResponse", errors=errors
    )


# --- 1. structure ------------------------------------------------------------------------------------------


def check_structure(document: dict[str, Any]) -> None:
    """A 400 naming every element the R4B model refuses (unknown elements, wrong JSON types, missing ones)."""
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
    from pydantic import ValidationError

    if document.get("resourceType") != "QuestionnaireResponse":
        detail = f"expected resourceType QuestionnaireResponse, got {document.get('resourceType')!r}"
        raise BadRequest(detail, errors=[FieldError(pointer="/resourceType", detail=detail)])
    try:
        QuestionnaireResponse.model_validate(document)
    except ValidationError as exc:
        errors = [
            FieldError(pointer=_pointer(*err.get("loc", ())), detail=str(err.get("msg", "invalid")))
            for err in exc.errors()
        ]
        raise BadRequest(
            f"The QuestionnaireResponse is not valid FHIR R4: {len(errors)} element(s)", errors=errors
        ) from None
    except (ValueError, TypeError, RecursionError) as exc:
        detail = f"not a valid QuestionnaireResponse: {exc}"
        raise BadRequest(detail, errors=[FieldError(pointer="", detail=detail)]) from None


# --- 2. direct identifiers ---------------------------------------------------------------------------------


def _walk(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str, Any]]:
    """Every (path of the object, member name, value) of the document, depth first in document order."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield path, name, value
            yield from _walk(value, (*path, name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


def direct_identifier_errors(
    document: dict[str, Any], is_national_patient_number_system: Callable[[str], bool]
) -> list[FieldError]:
    """The elements that could identify a person directly: each refused, none ever stored."""
    errors: list[FieldError] = []
    for name, detail in REFUSED_ELEMENTS.items():
        if name in document:
            errors.append(FieldError(pointer=_pointer(name), detail=detail))
    for path, name, _value in _walk(document):
        if name == "reference" and path != ("subject",):  # subject.reference is named below
            errors.append(
                FieldError(
                    pointer=_pointer(*path, name),
                    detail="literal references are refused: nothing in a QuestionnaireResponse may point at another "
                    "resource (such as a Patient)",
                )
            )
    subject = document.get("subject")
    if isinstance(subject, dict):
        for name in subject:
            if name == "identifier":
                continue
            detail = (
                "`subject.reference` is refused (a literal reference such as Patient/...): name the subject by "
                "`subject.identifier` in your organisation's case-id system"
                if name == "reference"
                else f"`subject.{name}` is refused: the subject is only `identifier` {{system, value}}"
            )
            errors.append(FieldError(pointer=_pointer("subject", name), detail=detail))
        identifier = subject.get("identifier")
        if isinstance(identifier, dict):
            for name in identifier:
                if name not in ("system", "value"):
                    errors.append(
                        FieldError(
                            pointer=_pointer("subject", "identifier", name),
                            detail=f"`subject.identifier.{name}` is refused: only `system` and `value` are read",
                        )
                    )
            system = identifier.get("system")
            if isinstance(system, str) and is_national_patient_number_system(system):
                errors.append(
                    FieldError(
                        pointer="/subject/identifier/system",
                        detail="an NHS number (or other national patient number) is a direct identifier and is "
                        "refused: send your organisation's pseudonymous case id in its own identifier system",
                    )
                )
    return errors


# --- 4. questionnaire, subject, answers --------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionnaireCanonical:
    base: str
    key: str
    version: int


def questionnaire_canonical(document: dict[str, Any], own_base: str) -> QuestionnaireCanonical:
    """`questionnaire` as `<base>/Questionnaire/<key>|<version>`, base the shipped one or the deployment's."""
    value = document.get("questionnaire")
    expected = f"{SHIPPED_CANONICAL_BASE}/Questionnaire/<key>|<version> (or {own_base}/Questionnaire/<key>|<version>)"
    if not isinstance(value, str) or "|" not in value:
        detail = f"the questionnaire must be our canonical URL and version, {expected}"
        raise ValidationFailed(detail, errors=[FieldError(pointer="/questionnaire", detail=detail)])
    url, version = value.rsplit("|", 1)
    for base in (SHIPPED_CANONICAL_BASE, own_base):
        prefix = questionnaire_url(base, "")
        key = url.removeprefix(prefix)
        if url.startswith(prefix) and key and "/" not in key and _NUMBER.match(version):
            return QuestionnaireCanonical(base, key, int(version))
    detail = f"{value!r} is not one of our questionnaires: expected {expected}"
    raise ValidationFailed(detail, errors=[FieldError(pointer="/questionnaire", detail=detail)])


@dataclass
class ResponseAnswers:
    """What a QuestionnaireResponse says, in the terms of AssessmentCreate."""

    questionnaire_key: str
    questionnaire_version: int
    subject_ref: str
    answers: dict[str, Any]
    # item id -> JSON pointer of the document's item holding its answer (or its `.unknown` sibling)
    item_pointers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Reader:
    questionnaire: Questionnaire
    base: str
    items: dict[str, Item]
    sections: set[str]
    errors: list[FieldError] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    unknown_flags: dict[str, tuple[bool, str]] = field(default_factory=dict)
    pointers: dict[str, str] = field(default_factory=dict)

    def error(self, pointer: str, detail: str) -> None:
        self.errors.append(FieldError(pointer=pointer, detail=detail))

    def read_items(self, items: Any, at: tuple[str | int, ...]) -> None:
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                self.read_item(item, (*at, index))

    def read_item(self, item: dict[str, Any], at: tuple[str | int, ...]) -> None:
        link_id = item.get("linkId")
        answers = item.get("answer") or []
        where = _pointer(*at)
        if not isinstance(link_id, str):
            return  # the structure check requires it
        if link_id.endswith(SECTION_SUFFIX) and link_id.removesuffix(SECTION_SUFFIX) in self.sections:
            if answers:
                self.error(f"{where}/answer", f"'{link_id}' is a section group: it carries no answer")
        elif link_id.endswith(UNKNOWN_SUFFIX) and self._unknown_sibling_of(link_id) is not None:
            self.read_unknown_flag(link_id.removesuffix(UNKNOWN_SUFFIX), answers, where)
        elif link_id in self.items:
            self.read_answers(self.items[link_id], answers, where)
        elif self._help_of(link_id) is not None:
            if answers:
                self.error(f"{where}/answer", f"'{link_id}' is a display item (help text): it carries no answer")
        else:
            self.error(
                f"{where}/linkId",
                f"unknown linkId '{link_id}': not an item of questionnaire "
                f"{self.questionnaire.key} version {self.questionnaire.version}",
            )
        self.read_items(item.get("item"), (*at, "item"))
        for answer_index, answer in enumerate(answers if isinstance(answers, list) else []):
            if isinstance(answer, dict):
                self.read_items(answer.get("item"), (*at, "answer", answer_index, "item"))

    def _unknown_sibling_of(self, link_id: str) -> Item | None:
        item = self.items.get(link_id.removesuffix(UNKNOWN_SUFFIX))
        if isinstance(item, IntegerItem | DateItem | TextItem) and item.allow_unknown:
            return item
        return None

    def _help_of(self, link_id: str) -> Item | None:
        item = self.items.get(link_id.removesuffix(".help")) if link_id.endswith(".help") else None
        return item if item is not None and item.help is not None else None

    def _first_time(self, item_id: str, where: str, link_id: str) -> bool:
        if item_id in self.pointers:
            self.error(f"{where}/linkId", f"'{link_id}' appears more than once: {self.pointers[item_id]} has it too")
            return False
        return True

    def read_unknown_flag(self, item_id: str, answers: list[Any], where: str) -> None:
        link_id = item_id + UNKNOWN_SUFFIX
        if not answers:
            return
        if link_id in self.pointers:
            self.error(f"{where}/linkId", f"'{link_id}' appears more than once: {self.pointers[link_id]} has it too")
            return
        self.pointers[link_id] = where
        if len(answers) > 1:
            self.error(f"{where}/answer/1", f"'{link_id}' takes one answer (true or false); got {len(answers)}")
            return
        value = self.value_of(answers[0], "valueBoolean", f"{where}/answer/0")
        if isinstance(value, bool):
            self.unknown_flags[item_id] = (value, where)

    def read_answers(self, item: Item, answers: list[Any], where: str) -> None:
        if not answers:
            return
        if not self._first_time(item.id, where, item.id):
            return
        self.pointers[item.id] = where
        if not isinstance(item, MultiChoiceItem) and len(answers) > 1:
            self.error(f"{where}/answer/1", f"'{item.id}' does not repeat: one answer, got {len(answers)}")
            return
        values = [self.answer_value(item, answer, f"{where}/answer/{i}") for i, answer in enumerate(answers)]
        if any(value is None for value in values):
            return
        self.answers[item.id] = values if isinstance(item, MultiChoiceItem) else values[0]

    def answer_value(self, item: Item, answer: Any, at: str) -> Any:
        if isinstance(item, YesNoUnknownItem):
            return self.coding(answer, at, YES_NO_UNKNOWN_SYSTEM, YES_NO_UNKNOWN_VERSION, tuple(YES_NO_UNKNOWN_DISPLAY))
        if isinstance(item, SingleChoiceItem | MultiChoiceItem):
            system = option_system(self.base, self.questionnaire.key, item.id)
            codes = tuple(option.code for option in item.options)
            return self.coding(answer, at, system, str(self.questionnaire.version), codes)
        if isinstance(item, BooleanItem):
            return self.value_of(answer, "valueBoolean", at)
        if isinstance(item, IntegerItem):
            return self.value_of(answer, "valueInteger", at)
        if isinstance(item, DateItem):
            value = self.value_of(answer, "valueDate", at)
            if value is not None and not _FULL_DATE.match(str(value)):
                self.error(f"{at}/valueDate", f"a full date YYYY-MM-DD is needed, got {value!r}")
                return None
            return value
        return self.value_of(answer, "valueString", at)

    def value_of(self, answer: Any, expected: str, at: str) -> Any:
        given = [name for name in _VALUE_FIELDS if isinstance(answer, dict) and name in answer]
        if given != [expected]:
            found = ", ".join(given) or "no value"
            self.error(f"{at}/{given[0]}" if given else at, f"expected {expected}, got {found}")
            return None
        return answer[expected]

    def coding(self, answer: Any, at: str, system: str, version: str, codes: tuple[str, ...]) -> str | None:
        coding = self.value_of(answer, "valueCoding", at)
        if not isinstance(coding, dict):
            return None
        where = f"{at}/valueCoding"
        if coding.get("system") != system:
            self.error(f"{where}/system", f"expected system {system}, got {coding.get('system')!r}")
            return None
        if "version" in coding and coding["version"] != version:
            self.error(f"{where}/version", f"expected version {version} of {system}, got {coding['version']!r}")
            return None
        code = coding.get("code")
        if code not in codes:
            self.error(f"{where}/code", f"{code!r} is not a code of {system} (codes: {', '.join(codes)})")
            return None
        return str(code)

    def merge_unknowns(self) -> None:
        for item_id, (flag, where) in self.unknown_flags.items():
            if not flag:
                continue
            if item_id in self.answers or (item_id in self.pointers and self.pointers[item_id] != where):
                self.error(
                    f"{where}/answer/0/valueBoolean",
                    f"'{item_id}{UNKNOWN_SUFFIX}' is true (not known) while '{item_id}' has an answer: send one",
                )
                continue
            self.answers[item_id] = UNKNOWN
            self.pointers[item_id] = where


def answers_from_response(
    document: dict[str, Any], questionnaire: Questionnaire, *, base: str, identifier_system: str
) -> ResponseAnswers:
    """Step 4 on a document that passed steps 1-3, for the questionnaire its canonical names (under `base`): the
    status, the subject in `identifier_system`, and the answers by linkId anywhere in the item tree. A 422 names
    every refused element; the answers' own checks (ranges, required items, enable_when) follow in the service."""
    errors: list[FieldError] = []
    if document.get("status") != ACCEPTED_STATUS:
        errors.append(
            FieldError(
                pointer="/status",
                detail=f"only a completed QuestionnaireResponse is scored (status {ACCEPTED_STATUS!r}); "
                f"got {document.get('status')!r}",
            )
        )
    subject_ref = _subject_ref(document, identifier_system, errors)
    reader = _Reader(
        questionnaire=questionnaire,
        base=base,
        items={item.id: item for item in questionnaire.items},
        sections={section.id for section in questionnaire.sections},
    )
    reader.read_items(document.get("item"), ("item",))
    reader.merge_unknowns()
    errors.extend(reader.errors)
    if errors:
        raise _invalid(errors)
    return ResponseAnswers(
        questionnaire_key=questionnaire.key,
        questionnaire_version=questionnaire.version,
        subject_ref=subject_ref,
        answers=reader.answers,
        item_pointers={k: v for k, v in reader.pointers.items() if not k.endswith(UNKNOWN_SUFFIX)},
    )


def _subject_ref(document: dict[str, Any], identifier_system: str, errors: list[FieldError]) -> str:
    identifier = (document.get("subject") or {}).get("identifier")
    if not isinstance(identifier, dict):
        errors.append(
            FieldError(
                pointer="/subject",
                detail=f"a subject is required: `subject.identifier` {{system: {identifier_system}, value: <case id>}}",
            )
        )
        return ""
    system, value = identifier.get("system"), identifier.get("value")
    if system != identifier_system:
        errors.append(
            FieldError(
                pointer="/subject/identifier/system",
                detail=f"the subject must be in your organisation's identifier system {identifier_system}; "
                f"got {system!r}",
            )
        )
    if not isinstance(value, str) or not 1 <= len(value) <= SUBJECT_REF_MAX_LENGTH:
        errors.append(
            FieldError(
                pointer="/subject/identifier/value",
                detail=f"the case id is required, 1-{SUBJECT_REF_MAX_LENGTH} characters",
            )
        )
        return ""
    return value


# --- out ---------------------------------------------------------------------------------------------------


def _coding(system: str, version: str, code: str, display: str | None) -> dict[str, Any]:
    coding = {"system": system, "version": version, "code": code}
    if display is not None:
        coding["display"] = display
    return coding


def _answer_items(item: Item, value: Any, base: str, questionnaire: Questionnaire) -> list[dict[str, Any]]:
    """The response items of one stored answer: the typed item, or the `.unknown` sibling answered true."""
    if isinstance(item, IntegerItem | DateItem | TextItem) and item.allow_unknown and value == UNKNOWN:
        return [{"linkId": item.id + UNKNOWN_SUFFIX, "text": "Not known", "answer": [{"valueBoolean": True}]}]
    answers: list[dict[str, Any]]
    if isinstance(item, YesNoUnknownItem):
        coding = _coding(YES_NO_UNKNOWN_SYSTEM, YES_NO_UNKNOWN_VERSION, value, YES_NO_UNKNOWN_DISPLAY.get(value))
        answers = [{"valueCoding": coding}]
    elif isinstance(item, SingleChoiceItem | MultiChoiceItem):
        labels = {option.code: option.label for option in item.options}
        system = option_system(base, questionnaire.key, item.id)
        codes = value if isinstance(item, MultiChoiceItem) else [value]
        answers = [
            {"valueCoding": _coding(system, str(questionnaire.version), code, labels.get(code))} for code in codes
        ]
    elif isinstance(item, BooleanItem):
        answers = [{"valueBoolean": value}]
    elif isinstance(item, IntegerItem):
        answers = [{"valueInteger": value}]
    elif isinstance(item, DateItem):
        answers = [{"valueDate": value}]
    else:
        answers = [{"valueString": value}]
    if not answers:  # an empty multi-choice list: FHIR has no answered-with-nothing, the item is left out
        return []
    return [{"linkId": item.id, "text": item.question, "answer": answers}]


def response_from_answers(
    questionnaire: Questionnaire,
    answers: dict[str, Any],
    *,
    base: str,
    identifier_system: str,
    subject_ref: str,
    authored: datetime,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """Stored answers as a QuestionnaireResponse (a JSON-ready dict, validated by the R4B model): status
    completed, the questionnaire's canonical|version, the subject identifier, `authored` = when the assessment was
    created, the items in their section groups in questionnaire order (sections without answers left out)."""
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    groups = []
    for section in questionnaire.sections:
        children = [
            response_item
            for item in questionnaire.items
            if item.section == section.id and item.id in answers
            for response_item in _answer_items(item, answers[item.id], base, questionnaire)
        ]
        if children:
            groups.append({"linkId": section.id + SECTION_SUFFIX, "text": section.title, "item": children})
    resource: dict[str, Any] = {"resourceType": "QuestionnaireResponse"}
    if resource_id is not None:
        resource["id"] = resource_id
    resource.update(
        {
            "questionnaire": f"{questionnaire_url(base, questionnaire.key)}|{questionnaire.version}",
            "status": ACCEPTED_STATUS,
            "subject": {"identifier": {"system": identifier_system, "value": subject_ref}},
            "authored": (authored if authored.tzinfo else authored.replace(tzinfo=UTC)).isoformat(),
        }
    )
    if groups:
        resource["item"] = groups
    validated = QuestionnaireResponse.model_validate(resource)
    dumped: dict[str, Any] = validated.model_dump(mode="json", exclude_none=True)
    return dumped
