"""A stored assessment as a FHIR R4 RiskAssessment (docs/fhir.md, "RiskAssessment"), built and validated with the
R4B model of `fhir.resources` (imported lazily: the CLI never pays for it).

The input is the assessment as the JSON API shows it (`AssessmentRead`, without explanations or answers) and what
the JSON representation does not hold: the organisation's identifier system, the public base URL, and the rule-set
version's owner, title, questions and "unknown" readings (`RiskAssessmentContext`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.assessments.schemas import AssessmentRead
from app.fhir.canonical import levels_system, ruleset_url
from app.fhir.risk_assessment_example import EXAMPLE

__all__ = ["EXAMPLE", "RiskAssessmentContext", "risk_assessment"]

EXTENSION_BASE = "https://riskapi.org.uk/fhir/StructureDefinition"
SUPERSEDED_BY = f"{EXTENSION_BASE}/superseded-by"
SUPERSEDES = f"{EXTENSION_BASE}/supersedes"
COMPUTED_LEVEL = f"{EXTENSION_BASE}/computed-level"
RULESET_CONTENT_HASH = f"{EXTENSION_BASE}/ruleset-content-hash"
REVIEW_BY = f"{EXTENSION_BASE}/review-by"

GAP_RULE_ID = "unknown_answers"  # the gap rule's id in results (app/scoring/checker.py GAP_RULE_ID)

URGENCY_WORDS = {"now": "Now", "same_day": "Same day", "within_week": "Within a week", "routine": "Routine"}


@dataclass(frozen=True)
class RiskAssessmentContext:
    """What the RiskAssessment states beyond the assessment's JSON representation.

    `canonical_base`: the base of the rule set's canonicals (app/fhir/canonical.py `canonical_base` of its owner);
    `public_base_url`: where this deployment's API answers (the `basis` and revision references point there);
    `questions`: item id -> question of the questionnaire version the answers were checked against;
    `unknown_readings`: item id -> the answer the rules read for "unknown" (the rule set's `unknown_reads_as`),
    shown by its label in `answer_labels` (item id -> code -> label) when it has one;
    `gap_level`: the level the gap rule (`unknown_answers`) sets at least, when the rule set has that rule.
    """

    identifier_system: str
    public_base_url: str
    canonical_base: str
    ruleset_title: str
    questions: Mapping[str, str] = field(default_factory=dict)
    unknown_readings: Mapping[str, Any] = field(default_factory=dict)
    answer_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    gap_level: str | None = None
    level_labels: Mapping[str, str] = field(default_factory=dict)


def assessment_url(public_base_url: str, assessment_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/v1/assessments/{assessment_id}"


def questionnaire_response_url(public_base_url: str, assessment_id: str) -> str:
    """Where the answers of an assessment are served as a QuestionnaireResponse (its RiskAssessment's `basis`)."""
    return f"{assessment_url(public_base_url, assessment_id)}/questionnaire-response"


def status_of(assessment: AssessmentRead) -> str:
    """`entered-in-error` when marked; else `amended` for the latest revision of an amended assessment; else
    `final` (a superseded revision included: it stays final and names its successor in an extension)."""
    if assessment.entered_in_error is not None:
        return "entered-in-error"
    if assessment.supersedes is not None and assessment.superseded_by is None:
        return "amended"
    return "final"


def _level_coding(
    assessment: AssessmentRead, context: RiskAssessmentContext, level: str, label: str | None
) -> dict[str, str]:
    coding = {
        "system": levels_system(context.canonical_base, assessment.ruleset.key),
        "version": str(assessment.ruleset.version),
        "code": level,
    }
    shown = label or context.level_labels.get(level)
    return {**coding, "display": shown} if shown else coding


def _revision_reference(context: RiskAssessmentContext, assessment_id: str) -> dict[str, str]:
    return {"reference": assessment_url(context.public_base_url, assessment_id), "type": "RiskAssessment"}


def _item_name(context: RiskAssessmentContext, item_id: str) -> str:
    question = context.questions.get(item_id)
    return f'"{question}" ({item_id})' if question else item_id


def _reading(context: RiskAssessmentContext, item_id: str) -> str:
    value = context.unknown_readings[item_id]
    shown = context.answer_labels.get(item_id, {}).get(str(value), value) if isinstance(value, str) else value
    return f"the rules read it as its most concerning answer ({shown})"


def gap_note(assessment: AssessmentRead, context: RiskAssessmentContext, item_id: str) -> str:
    """One information gap in plain words: the item, and how the rules read its "unknown"."""
    if item_id in context.unknown_readings:
        how = _reading(context, item_id)
    else:
        how = "no rule's condition holds on it, so it scored nothing and fired no trigger"
    gap_items = {item for reason in assessment.reasons if reason.rule_id == GAP_RULE_ID for item in reason.items}
    if item_id in gap_items and context.gap_level is not None:
        label = context.level_labels.get(context.gap_level, context.gap_level)
        how += f"; it decides an escalation, so the level is at least {label} until it is known (rule {GAP_RULE_ID})"
    return f'Information gap: {_item_name(context, item_id)} was answered "unknown": {how}.'


def _reason_note(rule_id: str, text: str | None, items: list[str]) -> str:
    read = f" (answers read: {', '.join(items)})" if items else ""
    return f"Reason [{rule_id}]: {text or rule_id}{read}"


def _trigger_line(trigger_id: str, title: str | None, reason: str | None) -> str:
    words = ": ".join(part for part in (title, reason) if part)
    return f"{trigger_id}: {words}" if words else trigger_id


def action_line(action_id: str, title: str, who: str | None, urgency: str) -> str:
    """One recommended action as a line of `mitigation`: `<Urgency>: <title> (who: <who>) [<id>]`."""
    by_whom = f" (who: {who})" if who else ""
    return f"{URGENCY_WORDS.get(urgency, urgency)}: {title}{by_whom} [{action_id}]"


def _notes(assessment: AssessmentRead, context: RiskAssessmentContext) -> list[dict[str, Any]]:
    """Notices first, then reasons, the information gaps, overrides, the entered-in-error mark, the disclaimer."""
    notes = [notice.text for notice in assessment.notices]
    notes += [_reason_note(reason.rule_id, reason.text, reason.items) for reason in assessment.reasons]
    notes += [gap_note(assessment, context, item_id) for item_id in assessment.information_gaps]
    if assessment.protective_factors:
        named = ", ".join(_item_name(context, item_id) for item_id in assessment.protective_factors)
        notes.append(f"Protective factors: {named}.")
    annotated: list[dict[str, Any]] = [{"text": text} for text in notes]
    for override in assessment.overrides:
        label = context.level_labels.get(override.level, override.level)
        before = context.level_labels.get(override.previous_level, override.previous_level)
        annotated.append(
            {
                "time": _instant(override.created_at),
                "text": f"Level set to {label} by professional judgement (was {before}): {override.rationale}",
            }
        )
    if assessment.entered_in_error is not None:
        error = assessment.entered_in_error
        annotated.append({"time": _instant(error.created_at), "text": f"Entered in error: {error.reason}"})
    annotated.append({"text": assessment.disclaimer})
    return annotated


def _instant(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def _extensions(assessment: AssessmentRead, context: RiskAssessmentContext) -> list[dict[str, Any]]:
    extensions: list[dict[str, Any]] = []
    if assessment.supersedes is not None:
        extensions.append({"url": SUPERSEDES, "valueReference": _revision_reference(context, assessment.supersedes)})
    if assessment.superseded_by is not None:
        extensions.append(
            {"url": SUPERSEDED_BY, "valueReference": _revision_reference(context, assessment.superseded_by)}
        )
    if assessment.review_by is not None:
        extensions.append({"url": REVIEW_BY, "valueDateTime": _instant(assessment.review_by)})
    return extensions


def _prediction(assessment: AssessmentRead, context: RiskAssessmentContext) -> dict[str, Any]:
    prediction: dict[str, Any] = {
        "qualitativeRisk": {"coding": [_level_coding(assessment, context, assessment.level, assessment.level_label)]}
    }
    if assessment.overrides:
        computed = _level_coding(assessment, context, assessment.computed_level, assessment.computed_level_label)
        prediction["extension"] = [{"url": COMPUTED_LEVEL, "valueCoding": computed}]
    if assessment.triggers:
        prediction["rationale"] = "\n".join(
            _trigger_line(trigger.id, trigger.title, trigger.reason) for trigger in assessment.triggers
        )
    return prediction


def _method(assessment: AssessmentRead, context: RiskAssessmentContext) -> dict[str, Any]:
    ruleset = assessment.ruleset
    return {
        "extension": [{"url": RULESET_CONTENT_HASH, "valueString": ruleset.content_hash}],
        "coding": [
            {
                "system": ruleset_url(context.canonical_base, ruleset.key),
                "version": str(ruleset.version),
                "code": ruleset.key,
                "display": context.ruleset_title,
            }
        ],
        "text": f"{context.ruleset_title}, version {ruleset.version} (SHA-256 {ruleset.content_hash})",
    }


def risk_assessment(assessment: AssessmentRead, context: RiskAssessmentContext) -> dict[str, Any]:
    """The assessment as a RiskAssessment resource, validated by the R4B model, as a JSON-ready dict."""
    from fhir.resources.R4B.riskassessment import RiskAssessment

    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": assessment.id,
        "status": status_of(assessment),
        "method": _method(assessment, context),
        "subject": {"identifier": {"system": context.identifier_system, "value": assessment.subject_ref}},
        "occurrenceDateTime": _instant(assessment.created_at),
        "basis": [
            {
                "reference": questionnaire_response_url(context.public_base_url, assessment.id),
                "type": "QuestionnaireResponse",
            }
        ],
        "prediction": [_prediction(assessment, context)],
        "note": _notes(assessment, context),
    }
    extensions = _extensions(assessment, context)
    if extensions:
        resource["extension"] = extensions
    if assessment.actions:
        resource["mitigation"] = "\n".join(
            action_line(action.id, action.title, action.who, action.urgency) for action in assessment.actions
        )
    validated = RiskAssessment.model_validate(resource)
    dumped: dict[str, Any] = validated.model_dump(mode="json", exclude_none=True)
    return dumped
