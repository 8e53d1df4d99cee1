"""Embedded test expectations: what each one asserts, how a failure reads, and the ids the checker requires."""

from __future__ import annotations

from typing import Any

import pytest

from app.scoring import check, compile_ruleset, parse_questionnaire, parse_ruleset, run_tests
from tests.scoring.conftest import answers, questionnaire_doc, ruleset_doc
from tests.scoring.test_bands_and_notices import banded_ruleset, with_jurisdiction

Doc = dict[str, Any]

# image shared by someone else, a meeting not known, in Wales: total 3 (band "some"), the gap rule and its floor
GIVEN = answers(image_shared="shared_by_other", meeting="unknown", jurisdiction="wales")


def failures_of(expect: Doc, given: Doc | None = None) -> list[str]:
    doc = banded_ruleset(tests=[{"name": "case", "answers": given or GIVEN, "expect": expect}])
    ruleset, questionnaire = parse_ruleset(doc), parse_questionnaire(with_jurisdiction())
    assert check(ruleset, questionnaire) == []
    [outcome] = run_tests(compile_ruleset(ruleset, questionnaire))
    assert outcome.passed == (not outcome.failures)
    return outcome.failures


def test_expectations_that_hold_pass() -> None:
    expect = {
        "information_gaps": ["meeting"],
        "information_gaps_include": ["meeting"],
        "reasons_include": ["unknown_answers", "images"],
        "actions_exclude": ["call_police"],
        "notices": ["jurisdiction_outside_ruleset"],
        "score_bands": {"total": "some"},
    }
    assert failures_of(expect) == []
    assert failures_of({"notices": [], "information_gaps": []}, answers(jurisdiction="england")) == []


@pytest.mark.parametrize(
    ("expect", "failure"),
    [
        ({"actions_exclude": ["clarify"]}, "actions: must not recommend clarify (it was recommended)"),
        ({"information_gaps": []}, 'information_gaps: expected [], got ["meeting"]'),
        (
            {"information_gaps": ["meeting", "image_shared"]},
            'information_gaps: expected ["image_shared", "meeting"], got ["meeting"]',
        ),
        (
            {"information_gaps_include": ["meeting", "image_shared"]},
            'information_gaps: missing ["image_shared"] (got ["meeting"])',
        ),
        (
            {"reasons_include": ["T_meeting", "images"]},
            'reasons: missing ["T_meeting"] (got ["images", "unknown_answers"])',
        ),
        ({"notices": []}, 'notices: expected [], got ["jurisdiction_outside_ruleset"]'),
        ({"triggers": ["T_meeting"]}, 'triggers: expected ["T_meeting"], got []'),
        ({"actions_include": ["call_police"]}, 'actions: missing ["call_police"] (got ["clarify", "report_remove"])'),
        ({"score_bands": {"total": "much"}}, "score band total: expected much, got some"),
    ],
)
def test_each_expectation_says_what_failed(expect: Doc, failure: str) -> None:
    assert failures_of(expect) == [failure]


@pytest.mark.parametrize(
    ("expect", "pointer", "fragment"),
    [
        ({"actions_exclude": ["phone_home"]}, "/tests/0/expect/actions_exclude/0", "unknown action 'phone_home'"),
        (
            {"actions_include": ["clarify"], "actions_exclude": ["clarify"]},
            "/tests/0/expect/actions_exclude/0",
            "also in actions_include",
        ),
        ({"information_gaps": ["nope"]}, "/tests/0/expect/information_gaps/0", "unknown item 'nope'"),
        (
            {"information_gaps_include": ["has_trusted_adult"]},
            "/tests/0/expect/information_gaps_include/0",
            "can never be answered unknown",
        ),
        ({"reasons_include": ["AR_report"]}, "/tests/0/expect/reasons_include/0", "unknown rule"),
        ({"reasons_include": ["double_total"]}, "/tests/0/expect/reasons_include/0", "unknown rule"),
        ({"notices": ["other_notice"]}, "/tests/0/expect/notices/0", "unknown notice 'other_notice'"),
        ({"score_bands": {"nothing": "some"}}, "/tests/0/expect/score_bands/nothing", "unknown score"),
        ({"score_bands": {"double": "some"}}, "/tests/0/expect/score_bands/double", "declares no bands"),
        ({"score_bands": {"total": "lots"}}, "/tests/0/expect/score_bands/total", "not a band of 'total'"),
    ],
)
def test_every_id_an_expectation_names_must_exist(expect: Doc, pointer: str, fragment: str) -> None:
    doc = banded_ruleset(tests=[{"name": "case", "answers": GIVEN, "expect": expect}])
    issues = check(parse_ruleset(doc), parse_questionnaire(with_jurisdiction()))
    assert any(issue.pointer == pointer and fragment in issue.message for issue in issues), issues


def test_rule_ids_that_reach_the_reasons_are_known() -> None:
    """Terms of level scores, bands with a reason (by id or their default name), triggers, floors, the gap rule."""
    expect = {"reasons_include": ["contact", "images", "total_band_2", "T_meeting", "F_many_platforms"]}
    doc = ruleset_doc()
    doc["tests"] = [{"name": "case", "answers": answers(), "expect": expect}]
    assert check(parse_ruleset(doc), parse_questionnaire(questionnaire_doc())) == []


def test_notices_are_known_only_with_jurisdictions() -> None:
    doc = ruleset_doc()
    doc["tests"] = [{"name": "case", "answers": answers(), "expect": {"notices": ["jurisdiction_outside_ruleset"]}}]
    issues = check(parse_ruleset(doc), parse_questionnaire(questionnaire_doc()))
    assert [issue.pointer for issue in issues] == ["/tests/0/expect/notices/0"]
