# ruff: noqa: E501 - the example is a rendering: its texts are the rule set's, kept whole
"""The RiskAssessment of the OpenAPI document and docs/fhir.md: what app/fhir/risk_assessment.py makes of the
shipped rule set's test "Jurisdiction Northern Ireland with a child in danger now" with the child's age unknown
(tests/fhir/test_risk_assessment.py keeps it equal to a fresh rendering)."""

from __future__ import annotations

from typing import Any

EXAMPLE: dict[str, Any] = {
    "resourceType": "RiskAssessment",
    "id": "3f0c9a4e-0000-4000-8000-000000000001",
    "extension": [
        {"url": "https://riskapi.org.uk/fhir/StructureDefinition/review-by", "valueDateTime": "2026-03-03T09:30:00Z"}
    ],
    "status": "final",
    "method": {
        "extension": [
            {
                "url": "https://riskapi.org.uk/fhir/StructureDefinition/ruleset-content-hash",
                "valueString": "d0c0e71cabff4b7f6e2140c302508974133f6c771d9dbc42056c252455761144",
            }
        ],
        "coding": [
            {
                "system": "https://riskapi.org.uk/fhir/RuleSet/online-harm-england",
                "version": "2",
                "code": "online-harm-england",
                "display": "Online harm to a child: default rules for England",
            }
        ],
        "text": "Online harm to a child: default rules for England, version 2 (SHA-256 d0c0e71cabff4b7f6e2140c302508974133f6c771d9dbc42056c252455761144)",
    },
    "subject": {"identifier": {"system": "https://trust.example.nhs.uk/Id/safeguarding-case", "value": "case-7f3a9c"}},
    "occurrenceDateTime": "2026-03-02T09:30:00Z",
    "basis": [
        {
            "reference": "https://riskapi.trust.example/v1/assessments/3f0c9a4e-0000-4000-8000-000000000001/questionnaire-response",
            "type": "QuestionnaireResponse",
        }
    ],
    "prediction": [
        {
            "qualitativeRisk": {
                "coding": [
                    {
                        "system": "https://riskapi.org.uk/fhir/CodeSystem/online-harm-england.levels",
                        "version": "2",
                        "code": "immediate",
                        "display": "Immediate",
                    }
                ]
            },
            "rationale": "T10_immediate_danger: The child is in danger now: The child is reported to be in danger right now. Call 999.",
        }
    ],
    "mitigation": "Now: Call 999 (who: Anyone) [call_999]\nNow: Tell the designated safeguarding lead or named safeguarding professional straight away (who: Any member of staff) [tell_dsl_now]\nNow: Keep the evidence and handle devices correctly; never view or copy the images (who: Designated safeguarding lead, parent or child) [preserve_evidence_do_not_view]\nSame day: Report to the police on 101 (who: Designated safeguarding lead or lead practitioner (or a parent)) [report_police_101]\nSame day: Refer to children's social care (MASH or front door), or consult them (who: The practitioner or designated safeguarding lead, using the local multi-agency referral form) [refer_childrens_social_care]\nSame day: Inform the parents or carers (who: Designated safeguarding lead or lead practitioner) [inform_parents]\nSame day: Expect children's social care and the police to consider a strategy discussion (section 47) (who: Children's social care with the police) [strategy_discussion]\nSame day: Record the assessment, the decision and the reasons (who: Assessor or designated safeguarding lead) [record_decision_and_reasons]\nSame day: Clarify urgently the questions that decide an immediate referral (who: Designated safeguarding lead, with the police or children's social care if needed) [clarify_unresolved_questions]\nWithin a week: Block and report on the platform or app (who: The child, a parent or a professional) [block_and_report_on_platform]\nWithin a week: Agree a safety plan with the child (and a protective carer) (who: Lead practitioner) [agree_safety_plan]\nWithin a week: Plan recovery support for the child and family (who: Lead practitioner, children's social care or specialist services) [recovery_support]\nRoutine: Tell the child about Childline (0800 1111, childline.org.uk) (who: Any professional) [signpost_childline]\nRoutine: Review and reassess (who: Lead practitioner) [review_and_reassess]",
    "note": [
        {
            "text": "These rules and their actions follow England's safeguarding procedures, but Northern Ireland was given as the nation whose procedures apply to this child. Follow your own nation's procedures and local safeguarding arrangements instead, and check every action below against them: in Wales, the Wales Safeguarding Procedures; in Scotland, the National Guidance for Child Protection in Scotland; in Northern Ireland, Co-operating to Safeguard Children and Young People in Northern Ireland. If the child is in immediate danger, call 999."
        },
        {
            "text": "Reason [T10_immediate_danger]: The child is reported to be in danger right now. Call 999. (answers read: immediate_danger_now)"
        },
        {
            "text": 'Reason [unknown_answers]: Unresolved question that decides an immediate referral: child_age_years answered "unknown". The level is at least medium until this is clarified; find out urgently (consult the designated safeguarding lead, the police or children\'s social care) and reassess. (answers read: child_age_years)'
        },
        {
            "text": "Reason [total_low]: The weighted total is 0 to 3: no current indicators beyond the risks every child faces online."
        },
        {
            "text": 'Information gap: "Child\'s age in years" (child_age_years) was answered "unknown": the rules read it as its most concerning answer (0); it decides an escalation, so the level is at least Medium until it is known (rule unknown_answers).'
        },
        {
            "text": "This result supports, and does not replace, professional judgement. It is based only on the answers given and cannot know what has not been recorded. If you are worried about a child, follow your local safeguarding procedures and talk to your designated safeguarding lead; if a child is in immediate danger, call 999. These default rules are a starting point for England and must be reviewed by a qualified safeguarding lead before anyone relies on them."
        },
    ],
}
