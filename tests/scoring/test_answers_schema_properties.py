"""For every shipped (questionnaire version, rule-set version) pair, the service accepts a set of answers exactly
when its answers schema does, save for the permitted disagreements (which must each really apply)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from app.content import default_documents
from app.scoring.answers_schema import PERMITTED_DISAGREEMENTS
from tests.scoring.answers_schema_support import Pair, agreement, answer_sets, shipped_pairs
from tests.scoring.conftest import build, questionnaire_doc
from tests.scoring.test_score_kinds import PRORATED, SCALE

SHIPPED = shipped_pairs()


# The test rule set exercises what the shipped pair does not: booleans, dates, integers and text that may be
# "unknown", multi-choice "unknown", required_when on an integer.
# Its variant adds an item asked by a date difference (inexact), one required by an at_least (written out as a
# chain of definitions) and one asked when an integer is unanswered.
def _mini_with_harder_conditions() -> Pair:
    document = questionnaire_doc()
    under_13 = {"years_between": {"from": "date_of_birth", "to": "assessment_date"}, "lt": 13}
    document["items"] += [
        {"id": "told_parent", "section": "about", "type": "yes_no_unknown", "question": "Told a parent?",
         "required": True, "enable_when": {"any": [under_13, {"q": "child_age_years", "lt": 10}]}},
        {"id": "platform_count", "section": "online", "type": "integer", "question": "How many platforms?",
         "min": 0, "max": 20, "required_when": {"at_least": 2, "of": [
             {"q": "platforms", "contains": "social"}, {"q": "platforms", "contains": "gaming"},
             {"q": "platforms", "contains": "messaging"}, {"q": "has_trusted_adult", "eq": False}]}},
        {"id": "why_no_age", "section": "about", "type": "text", "question": "Why is the age not known?",
         "max_length": 5, "allow_unknown": True, "enable_when": {"q": "missing_episodes", "unanswered": True}},
    ]  # fmt: skip
    return Pair(build(questionnaire=document))


HARDER = _mini_with_harder_conditions()
PAIRS = [
    *SHIPPED,
    ("mini-online.v1+mini-rules.v1", Pair(build())),
    ("mini-online.v1 with harder conditions", HARDER),
    # mean and prorated scores: their min_answered, over items that may be "unknown" (scale) or not (PHQ-9)
    ("scale.v1+scale-rules.v1", Pair(SCALE)),
    ("phq-9-prorated.v1+phq-9-prorated.v1", Pair(PRORATED)),
]
MIN_ACCEPTED = 0.30


def test_every_shipped_rule_set_is_covered() -> None:
    assert SHIPPED, "no shipped pair found"
    shipped_rule_sets = sum(1 for kind, _ in default_documents() if kind == "ruleset")
    assert len(SHIPPED) == shipped_rule_sets


@pytest.mark.parametrize("pair", [pair for _, pair in PAIRS], ids=[name for name, _ in PAIRS])
def test_the_service_accepts_exactly_what_the_answers_schema_accepts(pair: Pair) -> None:
    counts: Counter[str] = Counter()

    @settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(answer_sets(pair))
    def agree(answers: dict[str, Any]) -> None:
        accepted, reasons = agreement(pair, answers)
        counts["total"] += 1
        counts["accepted" if accepted else "refused"] += 1
        counts.update(reasons)

    agree()
    assert counts["accepted"] >= MIN_ACCEPTED * counts["total"], counts
    assert counts["refused"] >= 0.2 * counts["total"], counts
    if pair is HARDER:  # each permitted disagreement met, and found to apply, at least once
        assert all(counts[disagreement.id] for disagreement in PERMITTED_DISAGREEMENTS), counts
