"""Request examples made from the shipped rule set's own worked vignettes (its embedded tests), so the examples in
the OpenAPI document and docs/examples/assessment-request.json are complete answers that the publish gate has
scored, not hand-kept copies that drift from the questionnaire; and a rule-set document example that passes the
publish gate.

Regenerate the documentation copy with `python -m app.content.examples docs/examples/assessment-request.json`
(`make docs`); tests/test_openapi_examples.py fails while the committed file differs.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from app.content import default_ruleset

LOW_VIGNETTE = "V1 "  # a 12-year-old who saw a pornographic advert once and told a parent: low
IMMEDIATE_VIGNETTE = "V3 "  # financially motivated sextortion with suicidal statements: immediate

# What the amendment example learned after V1 was recorded; the result rises to medium, so the override
# example (high) is a raise, the one direction the shipped rule set allows.
LATER_INFORMATION: dict[str, Any] = {
    "content_pornography": "repeated",
    "conduct_late_night_use": "yes",
    "conduct_device_secrecy": "yes",
}


@cache
def _shipped_ruleset() -> dict[str, Any]:
    return default_ruleset()


def vignette(name_prefix: str) -> dict[str, Any]:
    """The answers of the shipped rule set's embedded test whose name starts with `name_prefix` (a copy)."""
    for test in _shipped_ruleset()["tests"]:
        if test["name"].startswith(name_prefix):
            return dict(test["answers"])
    raise LookupError(f"the shipped rule set has no test named {name_prefix!r}...")


def questionnaire_ref() -> dict[str, Any]:
    """The questionnaire version the shipped rule set scores, as a request names it."""
    return dict(_shipped_ruleset()["questionnaire"])


def assessment_request() -> dict[str, Any]:
    """POST /v1/assessments: vignette V1, scored with the organisation's current rule set (none named)."""
    return {"questionnaire": questionnaire_ref(), "subject_ref": "case-1001", "answers": vignette(LOW_VIGNETTE)}


DEMO_IDENTIFIER_SYSTEM = "https://example.org/riskapi-demo/case-reference"  # `riskapi dev-setup`'s, development only
EXAMPLE_AUTHORED = "2026-05-14T09:30:00+00:00"


def questionnaire_response_request() -> dict[str, Any]:
    """POST /v1/assessments as FHIR: vignette V1 as a QuestionnaireResponse to the shipped questionnaire the
    shipped rule set scores, its subject in the demo organisation's identifier system."""
    from datetime import datetime

    from app.content import default_documents
    from app.fhir.canonical import SHIPPED_CANONICAL_BASE
    from app.fhir.response import response_from_answers
    from app.scoring.models import Questionnaire

    ref = questionnaire_ref()
    document = next(
        doc
        for kind, doc in default_documents()
        if kind == "questionnaire" and doc["key"] == ref["key"] and doc["version"] == ref["version"]
    )
    return response_from_answers(
        Questionnaire.model_validate(document),
        vignette(LOW_VIGNETTE),
        base=SHIPPED_CANONICAL_BASE,
        identifier_system=DEMO_IDENTIFIER_SYSTEM,
        subject_ref="case-1001",
        authored=datetime.fromisoformat(EXAMPLE_AUTHORED),
    )


def revision_request() -> dict[str, Any]:
    """POST /v1/assessments/{id}/revisions: the V1 answers again, corrected with what was learned later."""
    return {"answers": {**vignette(LOW_VIGNETTE), **LATER_INFORMATION}}


def revision_patch_request() -> dict[str, Any]:
    """POST /v1/assessments/{id}/revisions of the V1 assessment: what was learned later, as a merge patch."""
    return {"answers_patch": dict(LATER_INFORMATION)}


def evaluate_request() -> dict[str, Any]:
    """POST /v1/rulesets/{key}/versions/{version}/evaluate: vignette V3."""
    return {"answers": vignette(IMMEDIATE_VIGNETTE)}


def ruleset_document() -> dict[str, Any]:
    """A rule set an organisation might write for the shipped questionnaire: small, yet every level reachable and
    an embedded test (vignette V1), so the publish gate passes it."""
    return {
        "key": "my-online-harm-rules",
        "title": "Our online-harm rules",
        "questionnaire": questionnaire_ref(),
        "levels": ["low", "medium", "high", "immediate"],
        "disclaimer": "This result supports, and does not replace, professional judgement.",
        "actions": [
            {"id": "call_999", "title": "Call 999", "who": "anyone", "urgency": "now"},
            {
                "id": "tell_dsl",
                "title": "Tell the safeguarding lead today",
                "who": "the assessor",
                "urgency": "same_day",
            },
        ],
        "scores": [
            {
                "id": "total",
                "title": "Contact concerns",
                "terms": [
                    {
                        "id": "unknown_person",
                        "when": {"q": "contact_unknown_person_online", "eq": "yes"},
                        "add": 2,
                        "reason": "In contact with someone unknown online",
                        "source": "local policy 4.1",
                    },
                    {
                        "id": "images_requested",
                        "when": {"q": "contact_requested_images", "eq": "yes"},
                        "add": 3,
                        "reason": "Asked for images",
                        "source": "local policy 4.2",
                    },
                ],
            }
        ],
        "bands": [
            {"score": "total", "gte": 0, "lt": 2, "level": "low", "reason": "No contact concern", "source": "4.3"},
            {"score": "total", "gte": 2, "lt": 5, "level": "medium", "reason": "A contact concern", "source": "4.3"},
            {
                "score": "total",
                "gte": 5,
                "level": "high",
                "reason": "Several contact concerns",
                "source": "4.3",
                "actions": ["tell_dsl"],
            },
        ],
        "triggers": [
            {
                "id": "danger_now",
                "title": "In danger now",
                "when": {"q": "immediate_danger_now", "eq": "yes"},
                "level": "immediate",
                "reason": "The child is in danger now",
                "source": "local policy 1.1",
                "actions": ["call_999"],
            }
        ],
        "tests": [
            {"name": "V1 is low", "answers": vignette(LOW_VIGNETTE), "expect": {"level": "low", "triggers": []}},
        ],
    }


def assessment_request_json() -> str:
    """docs/examples/assessment-request.json as it is committed."""
    return json.dumps(assessment_request(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover
    Path(sys.argv[1]).write_text(assessment_request_json(), encoding="utf-8")
