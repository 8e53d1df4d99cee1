"""Score bands, jurisdiction notices and level labels: what the checker requires and what every result carries."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from app.scoring import (
    Issue,
    authoring_issues,
    check,
    compile_ruleset,
    parse_questionnaire,
    parse_ruleset,
    run_tests,
)
from app.scoring.result import Result
from tests.scoring.answers_schema_support import shipped_pairs
from tests.scoring.conftest import answers, questionnaire_doc, ruleset_doc

Doc = dict[str, Any]

TOTAL_BANDS: list[Doc] = [
    {"code": "none", "label": "None", "gte": 0, "lt": 1, "reason": "Nothing scored", "source": "S"},
    {"code": "some", "label": "Some concern", "gte": 1, "lt": 5, "reason": "1 to 4", "source": "S"},
    {"code": "much", "label": "Much concern", "gte": 5, "reason": "5 or more", "source": "S"},
]
NATIONS = [
    {"code": "england", "label": "England"},
    {"code": "wales", "label": "Wales"},
    {"code": "scotland", "label": "Scotland"},
    {"code": "northern_ireland", "label": "Northern Ireland"},
    {"code": "unknown", "label": "Not known"},
]


def with_jurisdiction() -> Doc:
    doc = questionnaire_doc()
    doc["items"].append(
        {"id": "jurisdiction", "section": "about", "type": "single_choice", "question": "Where?", "options": NATIONS}
    )
    return doc


def banded_ruleset(**changes: Any) -> Doc:
    doc = ruleset_doc()
    doc["scores"][0]["bands"] = copy.deepcopy(TOTAL_BANDS)
    doc["jurisdictions"] = {"item": "jurisdiction", "codes": ["england"]}
    doc.update(changes)
    return doc


def issues_of(mutate: Callable[[Doc], None]) -> list[Issue]:
    doc = banded_ruleset()
    mutate(doc)
    return check(parse_ruleset(doc), parse_questionnaire(with_jurisdiction()))


BANDED = compile_ruleset(parse_ruleset(banded_ruleset()), parse_questionnaire(with_jurisdiction()))


def test_the_banded_fixture_is_clean() -> None:
    assert issues_of(lambda doc: None) == []


# --- score bands ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "band"),
    [
        ({}, ("none", "None")),
        ({"image_shared": "shared_by_child"}, ("some", "Some concern")),  # 2 points
        (
            {"contact_unknown_adult": "yes", "missing_episodes": 0, "image_shared": "shared_by_other"},
            ("much", "Much concern"),
        ),
    ],
)
def test_a_result_names_the_band_of_each_banded_score(changes: Doc, band: tuple[str, str]) -> None:
    for explain in (frozenset(), frozenset({"trace"})):
        result = BANDED.evaluate(answers(**changes), explain)
        assert result["score_bands"] == {"total": {"code": band[0], "label": band[1]}}
        Result.model_validate(result)


@pytest.mark.parametrize(
    ("mutate", "pointer", "fragment"),
    [
        (lambda d: d["scores"][0]["bands"].pop(0), "/scores/0/bands/0/gte", "must start at 0"),
        (lambda d: d["scores"][0]["bands"][1].update(lt=4), "/scores/0/bands/1/lt", "gap between 4 and 5"),
        (lambda d: d["scores"][0]["bands"][1].update(lt=6), "/scores/0/bands/2", "overlaps /scores/0/bands/1"),
        (lambda d: d["scores"][0]["bands"][2].update(lt=9), "/scores/0/bands/2/lt", "must be open"),
        (lambda d: d["scores"][0]["bands"][1].update(lt=1), "/scores/0/bands/1", "is empty"),
        (lambda d: d["scores"][0]["bands"][1].update(code="none"), "/scores/0/bands/1/code", "duplicate band"),
        (lambda d: d["scores"][0].update(bands=[]), "/scores/0/bands", "at least one band"),
    ],
)
def test_score_band_checks(mutate: Callable[[Doc], None], pointer: str, fragment: str) -> None:
    issues = issues_of(mutate)
    assert any(issue.pointer == pointer and fragment in issue.message for issue in issues), issues


def test_band_codes_are_unique_per_score_not_across_scores() -> None:
    def mutate(doc: Doc) -> None:
        doc["scores"][2]["bands"] = copy.deepcopy(TOTAL_BANDS)

    assert issues_of(mutate) == []


# --- bands need a reason and a source (authoring) -----------------------------------------------------------


def test_every_band_needs_a_reason_and_a_source_when_authoring() -> None:
    doc = banded_ruleset()
    del doc["scores"][0]["bands"][1]["reason"]
    del doc["scores"][0]["bands"][2]["source"]
    ruleset = parse_ruleset(doc)
    assert authoring_issues(ruleset) == [
        Issue("/bands/0", "a band needs a reason (plain text for a professional)"),
        Issue("/bands/0", "a band needs a source (citation tag)"),
        Issue("/bands/1", "a band needs a reason (plain text for a professional)"),
        Issue("/bands/1", "a band needs a source (citation tag)"),
        Issue("/scores/0/bands/1", "a band needs a reason (plain text for a professional)"),
        Issue("/scores/0/bands/2", "a band needs a source (citation tag)"),
    ]
    # the static checks a published version is compiled with do not ask for them
    assert check(ruleset, parse_questionnaire(with_jurisdiction())) == []


# --- jurisdictions and notices ------------------------------------------------------------------------------


def test_an_answer_outside_the_rule_sets_jurisdictions_adds_a_notice() -> None:
    result = BANDED.evaluate(answers(jurisdiction="scotland"))
    assert result["notices"] == [
        {
            "code": "jurisdiction_outside_ruleset",
            "text": "This rule set's actions follow the procedures of England. The child's jurisdiction was given as "
            "Scotland: follow Scotland's own child-protection procedures, and treat the actions below as a guide "
            "only.",
        }
    ]
    Result.model_validate(result)


@pytest.mark.parametrize("jurisdiction", ["england", "unknown", None])
def test_no_notice_within_the_jurisdictions_or_when_not_known(jurisdiction: str | None) -> None:
    assert BANDED.evaluate(answers(jurisdiction=jurisdiction))["notices"] == []


def test_a_notice_list_is_the_results_own() -> None:
    first = BANDED.evaluate(answers(jurisdiction="wales"))
    second = BANDED.evaluate(answers(jurisdiction="wales"))
    assert first["notices"] == second["notices"]
    assert first["notices"] is not second["notices"]
    first["notices"].clear()
    assert BANDED.evaluate(answers(jurisdiction="wales"))["notices"]


def test_several_jurisdictions_and_an_authors_notice() -> None:
    doc = banded_ruleset(jurisdictions={"item": "jurisdiction", "codes": ["england", "wales"]})
    compiled = compile_ruleset(parse_ruleset(doc), parse_questionnaire(with_jurisdiction()))
    text = compiled.evaluate(answers(jurisdiction="northern_ireland"))["notices"][0]["text"]
    assert text.startswith("This rule set's actions follow the procedures of England and Wales. ")
    assert "given as Northern Ireland: follow Northern Ireland's own" in text
    assert compiled.evaluate(answers(jurisdiction="wales"))["notices"] == []
    doc["jurisdictions"]["notice"] = "Written for England and Wales; this child is in {answer}."
    compiled = compile_ruleset(parse_ruleset(doc), parse_questionnaire(with_jurisdiction()))
    notices = compiled.evaluate(answers(jurisdiction="scotland"))["notices"]
    assert notices == [
        {"code": "jurisdiction_outside_ruleset", "text": "Written for England and Wales; this child is in Scotland."}
    ]


@pytest.mark.parametrize(
    ("jurisdictions", "pointer", "fragment"),
    [
        ({"item": "nowhere", "codes": ["england"]}, "/jurisdictions/item", "unknown item 'nowhere'"),
        ({"item": "platforms", "codes": ["social"]}, "/jurisdictions/item", "is not a single_choice item"),
        ({"item": "jurisdiction", "codes": ["englnd"]}, "/jurisdictions/codes/0", "options: england, wales"),
        ({"item": "jurisdiction", "codes": ["unknown"]}, "/jurisdictions/codes/0", "is not an option"),
        ({"item": "jurisdiction", "codes": ["wales", "wales"]}, "/jurisdictions/codes/1", "duplicate"),
        (
            {"item": "jurisdiction", "codes": ["wales"], "notice": "In {country}"},
            "/jurisdictions/notice",
            "only {answer}",
        ),
    ],
)
def test_jurisdiction_checks(jurisdictions: Doc, pointer: str, fragment: str) -> None:
    issues = issues_of(lambda doc: doc.update(jurisdictions=jurisdictions))
    assert any(issue.pointer == pointer and fragment in issue.message for issue in issues), issues


# --- level labels -------------------------------------------------------------------------------------------


def test_level_labels_name_levels() -> None:
    def mutate(doc: Doc) -> None:
        doc["level_labels"] = {"high": {"label": "High"}, "severe": {"label": "Severe"}}

    assert [issue.pointer for issue in issues_of(mutate)] == ["/level_labels/severe"]
    assert "unknown level 'severe'" in issues_of(mutate)[0].message


# --- every result carries the new keys -----------------------------------------------------------------------


def test_the_new_keys_are_required_in_the_result_schema() -> None:
    required = {name for name, field in Result.model_fields.items() if field.is_required()}
    assert {"score_bands", "score_decimals", "notices"} <= required


def test_shipped_rule_sets_still_compile_and_their_bands_carry_reasons() -> None:
    """Shipped versions are published, so exempt from the authoring checks; v1's bands carry both anyway."""
    for name, pair in shipped_pairs():
        compiled = pair.compiled
        assert all(outcome.passed for outcome in run_tests(compiled)), name
        if compiled.ruleset.version == 1:
            assert authoring_issues(compiled.ruleset) == []
