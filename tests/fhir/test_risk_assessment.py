"""A stored assessment as a FHIR RiskAssessment (app/fhir/risk_assessment.py), without a server: every status, an
override, and every notice, information gap, trigger and action of the shipped version 2's embedded tests."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.riskassessment import RiskAssessment

from app.assessments.schemas import AssessmentRead, EnteredInErrorRead, OverrideRead
from app.fhir.canonical import SHIPPED_CANONICAL_BASE, canonical_base, levels_system, ruleset_url
from app.fhir.risk_assessment import (
    COMPUTED_LEVEL,
    EXAMPLE,
    REVIEW_BY,
    RULESET_CONTENT_HASH,
    SUPERSEDED_BY,
    SUPERSEDES,
    RiskAssessmentContext,
    action_line,
    gap_note,
    risk_assessment,
)
from app.rulesets.service import labels_of
from app.scoring import CompiledRuleSet, compile_ruleset, parse_questionnaire, parse_ruleset
from app.scoring.labels import level_label
from tests.fhir.risk_support import IDENTIFIER_SYSTEM, answers_of, embedded_tests, questionnaire_v2, ruleset_v2

PUBLIC = "https://riskapi.trust.example"
CREATED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@cache
def compiled() -> CompiledRuleSet:
    return compile_ruleset(parse_ruleset(ruleset_v2()), parse_questionnaire(questionnaire_v2()))


def labels() -> dict[str, str]:
    ruleset = compiled().ruleset
    return {level: level_label(ruleset, level) for level in ruleset.levels}


def context() -> RiskAssessmentContext:
    rules = compiled()
    assert rules.ruleset.unknown_answers is not None
    return RiskAssessmentContext(
        identifier_system=IDENTIFIER_SYSTEM,
        public_base_url=PUBLIC,
        canonical_base=canonical_base(None, PUBLIC),
        ruleset_title=rules.ruleset.title,
        questions={item.id: item.question for item in rules.questionnaire.items},
        unknown_readings=rules.unknown_readings,
        gap_level=rules.ruleset.unknown_answers.level,
        level_labels=labels(),
    )


def assessment(answers: dict[str, Any], **fields: Any) -> AssessmentRead:
    """The assessment the API would show for `answers` (no override, standing, the first revision) with `fields`."""
    result = compiled().evaluate(answers, explain=frozenset())
    level = fields.pop("level", result["computed_level"])
    shown = {
        **{name: value for name, value in result.items() if name not in {"level", "trace", "counterfactuals"}},
        **labels_of(labels(), level, result["computed_level"]),
        "level": level,
        "id": "3f0c9a4e-0000-4000-8000-000000000001",
        "subject_ref": "case-7f3a9c",
        "created_at": CREATED,
        "review_by": CREATED + timedelta(days=result["review_within_days"] or 0),
        "acting_user": "nurse-42",
        "client": "client-1",
        "supersedes": None,
        "superseded_by": None,
        "overrides": [],
        "entered_in_error": None,
    }
    return AssessmentRead(**{**shown, **fields})


def render(read: AssessmentRead) -> dict[str, Any]:
    resource = risk_assessment(read, context())
    RiskAssessment.model_validate(resource)
    return resource


def notes(resource: dict[str, Any]) -> list[str]:
    return [note["text"] for note in resource["note"]]


def extension(holder: dict[str, Any], url: str) -> dict[str, Any] | None:
    found = [e for e in holder.get("extension", []) if e["url"] == url]
    assert len(found) <= 1
    return found[0] if found else None


V3 = "V3 financially motivated sextortion"
LATER = "3f0c9a4e-0000-4000-8000-000000000002"
EARLIER = "3f0c9a4e-0000-4000-8000-000000000000"


def test_a_standing_first_revision_is_final_with_subject_occurrence_basis_and_level() -> None:
    resource = render(assessment(answers_of(V3)))
    assert resource["status"] == "final"
    assert resource["id"] == "3f0c9a4e-0000-4000-8000-000000000001"
    assert resource["subject"] == {"identifier": {"system": IDENTIFIER_SYSTEM, "value": "case-7f3a9c"}}
    assert resource["occurrenceDateTime"] == "2026-03-02T09:30:00Z"
    assert resource["basis"] == [
        {
            "reference": f"{PUBLIC}/v1/assessments/3f0c9a4e-0000-4000-8000-000000000001/questionnaire-response",
            "type": "QuestionnaireResponse",
        }
    ]
    assert resource["prediction"][0]["qualitativeRisk"] == {
        "coding": [
            {
                "system": levels_system(SHIPPED_CANONICAL_BASE, "online-harm-england"),
                "version": "2",
                "code": "immediate",
                "display": labels()["immediate"],
            }
        ]
    }
    assert extension(resource["prediction"][0], COMPUTED_LEVEL) is None  # no override
    assert extension(resource, SUPERSEDES) is None
    assert extension(resource, SUPERSEDED_BY) is None
    assert "performer" not in resource  # X-Acting-User is a personal id
    assert "nurse-42" not in str(resource)


def test_the_method_names_the_rule_set_version_and_its_content_hash() -> None:
    read = assessment(answers_of(V3))
    method = render(read)["method"]
    assert method["coding"] == [
        {
            "system": ruleset_url(SHIPPED_CANONICAL_BASE, "online-harm-england"),
            "version": "2",
            "code": "online-harm-england",
            "display": compiled().ruleset.title,
        }
    ]
    assert extension(method, RULESET_CONTENT_HASH) == {
        "url": RULESET_CONTENT_HASH,
        "valueString": read.ruleset.content_hash,
    }
    assert read.ruleset.content_hash in method["text"]


def test_an_organisations_own_rule_set_is_named_under_the_public_base() -> None:
    own = RiskAssessmentContext(**{**context().__dict__, "canonical_base": canonical_base("org-1", PUBLIC)})
    resource = risk_assessment(assessment(answers_of(V3)), own)
    assert resource["method"]["coding"][0]["system"] == f"{PUBLIC}/fhir/RuleSet/online-harm-england"
    assert resource["prediction"][0]["qualitativeRisk"]["coding"][0]["system"] == (
        f"{PUBLIC}/fhir/CodeSystem/online-harm-england.levels"
    )


def test_the_latest_revision_that_supersedes_another_is_amended() -> None:
    resource = render(assessment(answers_of(V3), supersedes=EARLIER))
    assert resource["status"] == "amended"
    assert extension(resource, SUPERSEDES) == {
        "url": SUPERSEDES,
        "valueReference": {"reference": f"{PUBLIC}/v1/assessments/{EARLIER}", "type": "RiskAssessment"},
    }


@pytest.mark.parametrize("supersedes", [None, EARLIER])
def test_a_superseded_revision_stays_final_and_names_its_successor(supersedes: str | None) -> None:
    resource = render(assessment(answers_of(V3), supersedes=supersedes, superseded_by=LATER))
    assert resource["status"] == "final"
    assert extension(resource, SUPERSEDED_BY) == {
        "url": SUPERSEDED_BY,
        "valueReference": {"reference": f"{PUBLIC}/v1/assessments/{LATER}", "type": "RiskAssessment"},
    }


@pytest.mark.parametrize(("supersedes", "superseded_by"), [(None, None), (EARLIER, None), (EARLIER, LATER)])
def test_an_assessment_entered_in_error_says_so_whatever_its_place_in_the_chain(
    supersedes: str | None, superseded_by: str | None
) -> None:
    mark = EnteredInErrorRead(
        reason="Recorded against the wrong case.", acting_user="nurse-42", client="client-1", created_at=CREATED
    )
    resource = render(
        assessment(answers_of(V3), supersedes=supersedes, superseded_by=superseded_by, entered_in_error=mark)
    )
    assert resource["status"] == "entered-in-error"
    assert {"time": "2026-03-02T09:30:00Z", "text": "Entered in error: Recorded against the wrong case."} in (
        resource["note"]
    )
    assert (extension(resource, SUPERSEDED_BY) is not None) == (superseded_by is not None)


def test_with_an_override_the_prediction_is_the_final_level_and_the_computed_one_an_extension() -> None:
    answers = answers_of("Band: total 4 is medium")
    override = OverrideRead(
        level="high",
        previous_level="medium",
        rationale="Older sibling reports further contact since the assessment.",
        acting_user="supervisor-7",
        client="client-1",
        created_at=CREATED + timedelta(hours=2),
        review_by=None,
    )
    resource = render(assessment(answers, level="high", overrides=[override]))
    prediction = resource["prediction"][0]
    assert prediction["qualitativeRisk"]["coding"][0]["code"] == "high"
    assert prediction["qualitativeRisk"]["coding"][0]["display"] == labels()["high"]
    computed = extension(prediction, COMPUTED_LEVEL)
    assert computed is not None
    assert computed["valueCoding"] == {
        "system": levels_system(SHIPPED_CANONICAL_BASE, "online-harm-england"),
        "version": "2",
        "code": "medium",
        "display": labels()["medium"],
    }
    assert {
        "time": "2026-03-02T11:30:00Z",
        "text": f"Level set to {labels()['high']} by professional judgement (was {labels()['medium']}): "
        "Older sibling reports further contact since the assessment.",
    } in resource["note"]
    assert "supervisor-7" not in str(resource)


def test_the_review_date_in_force_is_an_extension() -> None:
    read = assessment(answers_of(V3))
    assert extension(render(read), REVIEW_BY) == {"url": REVIEW_BY, "valueDateTime": "2026-03-03T09:30:00Z"}
    assert extension(render(read.model_copy(update={"review_by": None})), REVIEW_BY) is None


@pytest.mark.parametrize("test", embedded_tests(), ids=lambda test: test["name"][:60])
def test_every_notice_gap_trigger_and_action_of_the_embedded_tests_is_in_the_resource(test: dict[str, Any]) -> None:
    read = assessment(test["answers"])
    resource = render(read)
    texts = notes(resource)
    assert texts[: len(read.notices)] == [notice.text for notice in read.notices]  # notices first
    for item_id in read.information_gaps:
        assert gap_note(read, context(), item_id) in texts
    for reason in read.reasons:
        assert any(f"[{reason.rule_id}]" in text for text in texts)
    rationale = resource["prediction"][0].get("rationale", "")
    assert [line.split(":", 1)[0] for line in rationale.splitlines()] == [trigger.id for trigger in read.triggers]
    for trigger in read.triggers:
        assert trigger.reason is None or trigger.reason in rationale
    mitigation = resource.get("mitigation", "")
    assert mitigation.splitlines() == [
        action_line(action.id, action.title, action.who, action.urgency) for action in read.actions
    ]
    assert texts[-1] == read.disclaimer


def test_the_embedded_tests_include_notices_gaps_and_both_unknown_readings() -> None:
    """The test above covers what it should: notices, gaps read as the most concerning answer and gaps that score
    nothing, and gaps that decide an escalation."""
    reads = [assessment(test["answers"]) for test in embedded_tests()]
    assert any(read.notices for read in reads)
    gaps = {item for read in reads for item in read.information_gaps}
    assert "child_age_years" in gaps
    assert gaps - set(compiled().unknown_readings)


def test_a_gap_note_names_the_item_and_how_unknown_was_read() -> None:
    age = assessment(answers_of("Unknown age alone"))
    assert gap_note(age, context(), "child_age_years") == (
        'Information gap: "Child\'s age in years" (child_age_years) was answered "unknown": the rules read it as its '
        f"most concerning answer ({compiled().unknown_readings['child_age_years']}); it decides an escalation, so "
        f"the level is at least {labels()['medium']} until it is known (rule unknown_answers)."
    )
    outside = assessment(answers_of("Unknown on an item outside the gap list"))
    assert outside.information_gaps
    for item_id in outside.information_gaps:
        assert gap_note(outside, context(), item_id).endswith(
            '"unknown": no rule\'s condition holds on it, so it scored nothing and fired no trigger.'
        )


def test_the_jurisdiction_notice_is_the_first_note() -> None:
    read = assessment(answers_of("Jurisdiction Wales"))
    assert [notice.code for notice in read.notices] == ["jurisdiction_outside_ruleset"]
    assert notes(render(read))[0] == read.notices[0].text


def test_an_action_line_reads_urgency_title_who_and_id() -> None:
    assert action_line("call_999", "Call 999", "Anyone", "now") == "Now: Call 999 (who: Anyone) [call_999]"
    assert action_line("review", "Review", None, "within_week") == "Within a week: Review [review]"


def example_assessment() -> AssessmentRead:
    """The assessment of the documented example: a child in danger now in Northern Ireland, age unknown."""
    answers = answers_of("Jurisdiction Northern Ireland")
    answers["child_age_years"] = "unknown"
    return assessment(answers)


def test_the_documented_example_is_what_the_renderer_makes_of_its_assessment() -> None:
    rendered = render(example_assessment())
    assert rendered == EXAMPLE, "regenerate app/fhir/risk_assessment_example.py:\n" + json.dumps(rendered, indent=4)
    RiskAssessment.model_validate(EXAMPLE)
    assert [extension["url"] for extension in EXAMPLE.get("extension", [])] == [REVIEW_BY]


def test_the_documents_example_is_the_example() -> None:
    """The RiskAssessment section's full example in docs/fhir.md is the OpenAPI one (other blocks there show several
    items one per line, and are not one document)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "fhir.md").read_text()
    documents = []
    for block in re.findall(r"```json\n(.*?)\n```", text, flags=re.DOTALL):
        with contextlib.suppress(json.JSONDecodeError):
            documents.append(json.loads(block))
    assert EXAMPLE in documents
