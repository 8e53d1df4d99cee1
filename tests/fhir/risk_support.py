"""What the RiskAssessment tests share: the shipped online-harm-england version 2 and its embedded tests."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from app.content import default_questionnaire, default_ruleset

RULESET_V2 = {"key": "online-harm-england", "version": 2}
QUESTIONNAIRE_V2 = {"key": "online-exposure", "version": 2}
IDENTIFIER_SYSTEM = "https://trust.example.nhs.uk/Id/safeguarding-case"


@cache
def ruleset_v2() -> dict[str, Any]:
    document = default_ruleset()
    assert (document["key"], document["version"]) == (RULESET_V2["key"], RULESET_V2["version"])
    return document


@cache
def questionnaire_v2() -> dict[str, Any]:
    document = default_questionnaire()
    assert (document["key"], document["version"]) == (QUESTIONNAIRE_V2["key"], QUESTIONNAIRE_V2["version"])
    return document


def embedded_tests() -> list[dict[str, Any]]:
    return list(ruleset_v2()["tests"])


def answers_of(name_prefix: str) -> dict[str, Any]:
    """A copy of the answers of the shipped version 2 test whose name starts with `name_prefix`."""
    for test in embedded_tests():
        if test["name"].startswith(name_prefix):
            return copy.deepcopy(test["answers"])
    raise KeyError(name_prefix)


def create_body(name_prefix: str, subject_ref: str = "case-1") -> dict[str, Any]:
    return {
        "questionnaire": dict(QUESTIONNAIRE_V2),
        "ruleset": dict(RULESET_V2),
        "subject_ref": subject_ref,
        "answers": answers_of(name_prefix),
    }
