"""A small questionnaire and rule set that exercise every part of the language."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.scoring import (
    CompiledRuleSet,
    Questionnaire,
    RuleSet,
    compile_ruleset,
    load_document,
    parse_questionnaire,
    parse_ruleset,
)

FIXTURES = Path(__file__).parent / "fixtures"

QUESTIONNAIRE: dict[str, Any] = {
    "key": "mini-online",
    "version": 1,
    "title": "Mini online exposure",
    "sections": [{"id": "about", "title": "About"}, {"id": "online", "title": "Online"}],
    "items": [
        {
            "id": "child_age_years",
            "section": "about",
            "type": "integer",
            "question": "Age",
            "min": 0,
            "max": 17,
            "required": True,
        },
        {"id": "date_of_birth", "section": "about", "type": "date", "question": "Date of birth", "allow_unknown": True},
        {"id": "assessment_date", "section": "about", "type": "date", "question": "Assessment date"},
        {
            "id": "contact_unknown_adult",
            "section": "online",
            "type": "yes_no_unknown",
            "question": "Contact with an unknown adult?",
            "required": True,
        },
        {
            "id": "secrecy_requested",
            "section": "online",
            "type": "yes_no_unknown",
            "question": "Asked for secrecy?",
            "enable_when": {"q": "contact_unknown_adult", "eq": "yes"},
        },
        {
            "id": "platforms",
            "section": "online",
            "type": "multi_choice",
            "question": "Platforms",
            "options": [
                {"code": "social", "label": "Social media"},
                {"code": "gaming", "label": "Gaming"},
                {"code": "messaging", "label": "Messaging"},
                {"code": "unknown", "label": "Not known"},
            ],
        },
        {
            "id": "image_shared",
            "section": "online",
            "type": "single_choice",
            "question": "Image shared",
            "options": [
                {"code": "none", "label": "None"},
                {"code": "shared_by_child", "label": "By the child"},
                {"code": "shared_by_other", "label": "By someone else"},
                {"code": "unknown", "label": "Not known"},
            ],
        },
        {
            "id": "meeting",
            "section": "online",
            "type": "single_choice",
            "question": "Meeting",
            "options": [
                {"code": "no", "label": "No"},
                {"code": "planned", "label": "Planned"},
                {"code": "occurred", "label": "Occurred"},
                {"code": "unknown", "label": "Not known"},
            ],
        },
        {"id": "has_trusted_adult", "section": "about", "type": "boolean", "question": "Trusted adult?"},
        {"id": "notes", "section": "about", "type": "text", "question": "Notes", "max_length": 50},
        {
            "id": "missing_episodes",
            "section": "about",
            "type": "integer",
            "question": "Missing episodes",
            "min": 0,
            "max": 50,
            "allow_unknown": True,
            "required_when": {"q": "contact_unknown_adult", "eq": "yes"},
        },
    ],
}

RULESET: dict[str, Any] = {
    "key": "mini-rules",
    "version": 1,
    "title": "Mini rules",
    "questionnaire": {"key": "mini-online", "version": 1},
    "levels": ["low", "medium", "high", "immediate"],
    "disclaimer": "Supports, does not replace, professional judgement.",
    "monotone": True,
    "risk_order": {
        "child_age_years": "falling",
        "image_shared": ["none", "shared_by_child", "shared_by_other"],
        "meeting": ["no", "planned", "occurred"],
        "missing_episodes": "rising",
        "date_of_birth": "rising",
        "assessment_date": "falling",
    },
    "actions": [
        {"id": "education", "title": "Online safety education", "who": "school", "urgency": "routine"},
        {"id": "report_remove", "title": "Report and remove", "who": "parent", "urgency": "within_week"},
        {"id": "clarify", "title": "Clarify unknown answers", "who": "assessor", "urgency": "same_day"},
        {"id": "refer_csc", "title": "Refer to children's social care", "who": "DSL", "urgency": "same_day"},
        {"id": "call_police", "title": "Call the police", "who": "anyone", "urgency": "now"},
    ],
    "scores": [
        {
            "id": "total",
            "title": "Total",
            "terms": [
                {
                    "id": "contact",
                    "when": {"q": "contact_unknown_adult", "eq": "yes"},
                    "add": 2,
                    "reason": "Contact with an unknown adult",
                    "source": "S1",
                },
                {
                    "id": "secrecy",
                    "when": {
                        "all": [{"q": "contact_unknown_adult", "eq": "yes"}, {"q": "secrecy_requested", "eq": "yes"}]
                    },
                    "add": 3,
                    "reason": "Secrecy requested",
                    "source": "S2",
                },
                {
                    "id": "messaging",
                    "when": {"q": "platforms", "contains": "messaging"},
                    "add": 1,
                    "reason": "Uses private messaging",
                    "source": "S3",
                },
                {
                    "id": "images",
                    "q": "image_shared",
                    "points": {"shared_by_child": 2, "shared_by_other": 3},
                    "reason": "An image was shared",
                    "source": "S4",
                    "actions": ["report_remove"],
                },
                {
                    "id": "missing",
                    "when": {"q": "missing_episodes", "gte": 3},
                    "add": 2,
                    "reason": "Repeated missing episodes",
                    "source": "S5",
                },
            ],
        },
        {
            "id": "contact_domain",
            "purpose": "reporting",
            "subtotal_of": "total",
            "items": ["contact_unknown_adult", "secrecy_requested"],
        },
        {"id": "double", "purpose": "reporting", "terms": [{"id": "double_total", "score": "total", "times": 2}]},
    ],
    "bands": [
        {"score": "total", "gte": 0, "lt": 4, "level": "low"},
        {"score": "total", "gte": 4, "lt": 8, "level": "medium"},
        {
            "score": "total",
            "gte": 8,
            "level": "high",
            "reason": "Total of 8 or more",
            "source": "S6",
            "actions": ["refer_csc"],
        },
    ],
    "triggers": [
        {
            "id": "T_meeting",
            "title": "Meeting occurred",
            "when": {"q": "meeting", "eq": "occurred"},
            "level": "immediate",
            "reason": "The child met the person",
            "source": "S7",
            "actions": ["call_police"],
        },
        {
            "id": "T_young_image",
            "title": "Image of a young child",
            "when": {
                "all": [
                    {"q": "child_age_years", "lt": 13},
                    {"q": "image_shared", "in": ["shared_by_child", "shared_by_other"]},
                ]
            },
            "level": "high",
            "reason": "An image of a child under 13",
            "source": "S8",
        },
    ],
    "floors": [
        {
            "id": "F_under_13_by_dob",
            "when": {"years_between": {"from": "date_of_birth", "to": "assessment_date"}, "lt": 13},
            "level": "medium",
            "reason": "Under 13 by date of birth",
            "source": "S9",
        },
        {
            "id": "F_many_platforms",
            "when": {
                "at_least": 2,
                "of": [
                    {"q": "platforms", "contains": "social"},
                    {"q": "platforms", "contains": "gaming"},
                    {"q": "platforms", "contains": "messaging"},
                ],
            },
            "level": "medium",
            "reason": "Active on several platforms",
            "source": "S10",
        },
    ],
    "unknown_answers": {"level": "medium", "reason": "Not known: {items}", "source": "S11", "actions": ["clarify"]},
    "level_policies": {
        "low": {"actions": ["education"]},
        "high": {"actions": ["refer_csc"], "review_within_days": 14},
        "immediate": {"actions": ["call_police", "refer_csc"], "review_within_days": 1},
    },
    "action_rules": [
        {
            "id": "AR_report",
            "when": {"q": "image_shared", "in": ["shared_by_child", "shared_by_other"]},
            "levels": ["medium", "high", "immediate"],
            "actions": ["report_remove"],
            "reason": "Get the image removed",
        },
    ],
    "protective_factors": ["has_trusted_adult"],
    "tests": [
        {
            "name": "quiet",
            "answers": {"child_age_years": 14, "contact_unknown_adult": "no", "image_shared": "none", "meeting": "no"},
            "expect": {"level": "low", "triggers": [], "floors": [], "scores": {"total": 0}},
        },
        {
            "name": "meeting",
            "answers": {
                "child_age_years": 14,
                "contact_unknown_adult": "no",
                "image_shared": "none",
                "meeting": "occurred",
            },
            "expect": {"level": "immediate", "triggers": ["T_meeting"], "actions_include": ["call_police"]},
        },
    ],
}

BASE_ANSWERS: dict[str, Any] = {
    "child_age_years": 14,
    "contact_unknown_adult": "no",
    "image_shared": "none",
    "meeting": "no",
}


def questionnaire_doc() -> dict[str, Any]:
    return copy.deepcopy(QUESTIONNAIRE)


def ruleset_doc() -> dict[str, Any]:
    return copy.deepcopy(RULESET)


def build(ruleset: dict[str, Any] | None = None, questionnaire: dict[str, Any] | None = None) -> CompiledRuleSet:
    return compile_ruleset(
        parse_ruleset(ruleset if ruleset is not None else RULESET),
        parse_questionnaire(questionnaire if questionnaire is not None else QUESTIONNAIRE),
    )


def answers(**changes: Any) -> dict[str, Any]:
    result = dict(BASE_ANSWERS)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def load_pair(name: str) -> tuple[RuleSet, Questionnaire]:
    questionnaire = parse_questionnaire(load_document(FIXTURES / f"{name}.questionnaire.yaml"))
    ruleset = parse_ruleset(load_document(FIXTURES / f"{name}.ruleset.yaml"))
    return ruleset, questionnaire


@pytest.fixture(scope="session")
def mini() -> CompiledRuleSet:
    return build()


@pytest.fixture(scope="session")
def phq9() -> CompiledRuleSet:
    return compile_ruleset(*load_pair("phq9"))


@pytest.fixture(scope="session")
def dash() -> CompiledRuleSet:
    return compile_ruleset(*load_pair("dash"))


Builder = Callable[..., CompiledRuleSet]
