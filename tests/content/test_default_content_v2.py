"""What version 2 of the default content changes, and that nothing else changed: version 1 stays byte for byte, an
age that cannot be established reads as the youngest and is a gap, the jurisdictions and their notice, the level
labels, and the "must not" cases the embedded tests state."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

import pytest

from app.content import CONTENT_DIR, QUESTIONNAIRE_FILES, RULESET_FILES, load
from app.scoring import CompiledRuleSet, compile_ruleset, parse_questionnaire, parse_ruleset

# The bytes of the version 1 files as they were released: published versions never change (replay and the
# organisations that keep version 1 depend on them).
V1_SHA256 = dict(
    zip(
        (QUESTIONNAIRE_FILES[0], RULESET_FILES[0]),
        (
            "e87f77bbbb0b1d40bd5eb444ed44d9339c398afd41dc325dbee7a69e34e69fec",  # pragma: allowlist secret
            "36b95a74375f412e4a0f7fc360bf65c1c4a209272902f8dc4c2e19fa6700e5f1",  # pragma: allowlist secret
        ),
        strict=True,
    )
)

QUESTIONNAIRE_V1, QUESTIONNAIRE_V2 = (load(name) for name in QUESTIONNAIRE_FILES)
RULESET_V1, RULESET_V2 = (load(name) for name in RULESET_FILES)

# The rules of version 1 whose text changed in version 2 (their conditions and levels did not).
REWORDED_RULES = {"T4_under_13_sexual_acts", "F3_under_13_significant_indicator"}
NOTICE = "jurisdiction_outside_ruleset"


@pytest.fixture(scope="module")
def compiled() -> CompiledRuleSet:
    return compile_ruleset(parse_ruleset(RULESET_V2), parse_questionnaire(QUESTIONNAIRE_V2))


def _test(name_prefix: str) -> Mapping[str, Any]:
    (test,) = [t for t in RULESET_V2["tests"] if t["name"].startswith(name_prefix)]
    return test


def _by_id(entries: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {entry["id"]: entry for entry in entries}


# --- version 1 stays as released, and version 2 changes only what its changelog says -----------------------


@pytest.mark.parametrize("name", sorted(V1_SHA256))
def test_version_1_files_are_unchanged(name: str) -> None:
    assert hashlib.sha256((CONTENT_DIR / name).read_bytes()).hexdigest() == V1_SHA256[name]


def test_questionnaire_v2_keeps_every_item_and_changes_only_the_age_and_the_jurisdiction_help() -> None:
    assert [i["id"] for i in QUESTIONNAIRE_V2["items"]] == [i["id"] for i in QUESTIONNAIRE_V1["items"]]
    assert QUESTIONNAIRE_V2["sections"] == QUESTIONNAIRE_V1["sections"]
    changed = {
        old["id"]: {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
        for old, new in zip(QUESTIONNAIRE_V1["items"], QUESTIONNAIRE_V2["items"], strict=True)
        if old != new
    }
    assert changed == {"child_age_years": {"allow_unknown", "help"}, "jurisdiction": {"help"}}
    age = _by_id(QUESTIONNAIRE_V2["items"])["child_age_years"]
    assert age["allow_unknown"] is True
    assert age["required"] is True
    assert 'Answer "unknown" only when the age cannot be established' in " ".join(age["help"].split())


def test_ruleset_v2_changes_only_what_its_changelog_names() -> None:
    changed_keys = {key for key in RULESET_V1.keys() | RULESET_V2.keys() if RULESET_V1.get(key) != RULESET_V2.get(key)}
    assert changed_keys == {
        "version",
        "description",
        "changelog",
        "questionnaire",
        "level_labels",
        "unknown_reads_as",
        "jurisdictions",
        "actions",
        "triggers",
        "floors",
        "unknown_answers",
        "tests",
    }
    assert RULESET_V2["questionnaire"] == {"key": "online-exposure", "version": 2}
    for kind in ("triggers", "floors"):
        old, new = _by_id(RULESET_V1[kind]), _by_id(RULESET_V2[kind])
        assert old.keys() == new.keys()
        reworded = {rule_id for rule_id in old if old[rule_id] != new[rule_id]}
        assert reworded <= REWORDED_RULES
        for rule_id in reworded:
            assert {k: v for k, v in old[rule_id].items() if k != "reason"} == {
                k: v for k, v in new[rule_id].items() if k != "reason"
            }
            assert "age could not be established" in " ".join(new[rule_id]["reason"].split())
    old_actions, new_actions = _by_id(RULESET_V1["actions"]), _by_id(RULESET_V2["actions"])
    assert old_actions.keys() == new_actions.keys()
    assert {a for a in old_actions if old_actions[a] != new_actions[a]} == {"nspcc_helpline"}
    assert {**RULESET_V1["unknown_answers"], "items": None} == {**RULESET_V2["unknown_answers"], "items": None}
    assert RULESET_V2["unknown_answers"]["items"] == [*RULESET_V1["unknown_answers"]["items"], "child_age_years"]
    # every test of version 1 is still there, with the same answers (version 2 only adds expectations)
    v2_tests = {t["name"]: t for t in RULESET_V2["tests"]}
    for test in RULESET_V1["tests"]:
        assert v2_tests[test["name"]]["answers"] == test["answers"], test["name"]
        assert test["expect"].items() <= v2_tests[test["name"]]["expect"].items(), test["name"]
    assert RULESET_V2["changelog"][0] == RULESET_V1["changelog"][0]
    assert RULESET_V2["changelog"][1].startswith("v2: ")


# --- an age that cannot be established ----------------------------------------------------------------------


def test_an_unknown_age_reads_as_the_youngest() -> None:
    assert RULESET_V2["unknown_reads_as"] == {"child_age_years": "most_concerning"}
    assert RULESET_V2["risk_order"]["child_age_years"] == "falling"  # so the most concerning age is the minimum
    assert _by_id(QUESTIONNAIRE_V2["items"])["child_age_years"]["min"] == 0


def test_an_unknown_age_is_a_gap_read_as_under_13(compiled: CompiledRuleSet) -> None:
    base = dict(_test("Baseline")["answers"])
    known_13 = compiled.evaluate({**base, "child_age_years": 13, "unexplained_gifts_money": "yes"})
    unknown = compiled.evaluate({**base, "child_age_years": "unknown", "unexplained_gifts_money": "yes"})
    known_12 = compiled.evaluate({**base, "child_age_years": 12, "unexplained_gifts_money": "yes"})
    assert known_13["level"] == "medium"
    assert known_12["level"] == unknown["level"] == "high"
    assert unknown["information_gaps"] == ["child_age_years"]
    assert known_12["information_gaps"] == []
    f3 = next(r for r in unknown["reasons"] if r["rule_id"] == "F3_under_13_significant_indicator")
    assert "age could not be established" in f3["text"]
    gap = next(r for r in unknown["reasons"] if r["rule_id"] == "unknown_answers")
    assert "child_age_years" in gap["text"]


# --- jurisdictions -------------------------------------------------------------------------------------------


def test_jurisdictions_are_england_with_a_notice_naming_the_other_nations_procedures() -> None:
    jurisdictions = RULESET_V2["jurisdictions"]
    assert (jurisdictions["item"], jurisdictions["codes"]) == ("jurisdiction", ["england"])
    notice = " ".join(jurisdictions["notice"].split())
    for named in (
        "{answer}",
        "Wales Safeguarding Procedures",
        "National Guidance for Child Protection in Scotland",
        "Co-operating to Safeguard Children and Young People in Northern Ireland",
        "call 999",
    ):
        assert named in notice, named
    options = {o["code"] for o in _by_id(QUESTIONNAIRE_V2["items"])["jurisdiction"]["options"]}
    assert options == {"england", "wales", "scotland", "northern_ireland"}


@pytest.mark.parametrize(
    ("code", "label"), [("wales", "Wales"), ("scotland", "Scotland"), ("northern_ireland", "Northern Ireland")]
)
def test_another_nation_gets_the_notice_first(compiled: CompiledRuleSet, code: str, label: str) -> None:
    base = dict(_test("Baseline")["answers"])
    result = compiled.evaluate({**base, "jurisdiction": code, "immediate_danger_now": "yes"})
    assert [n["code"] for n in result["notices"]] == [NOTICE]
    assert result["notices"][0]["text"].startswith("These rules and their actions follow England's")
    assert f"but {label} was given" in result["notices"][0]["text"]
    assert result["level"] == "immediate"  # the notice changes nothing else
    england = compiled.evaluate({**base, "immediate_danger_now": "yes"})
    assert england["notices"] == []
    assert {k: v for k, v in result.items() if k != "notices"} == {k: v for k, v in england.items() if k != "notices"}


def test_no_notice_when_the_jurisdiction_is_unanswered_or_unknown() -> None:
    """The shipped questionnaire requires the jurisdiction and has no "unknown" for it (guidance G.4: keep it
    required), so these states cannot reach the shipped rule set; a copy of the questionnaire that allows them
    shows what the rule set's declaration does with them."""
    questionnaire = copy.deepcopy(QUESTIONNAIRE_V2)
    item = next(i for i in questionnaire["items"] if i["id"] == "jurisdiction")
    item["required"] = False
    item["options"].append({"code": "unknown", "label": "Not known"})
    compiled = compile_ruleset(parse_ruleset(RULESET_V2), parse_questionnaire(questionnaire))
    base = dict(_test("Baseline")["answers"])
    unanswered = {k: v for k, v in base.items() if k != "jurisdiction"}
    assert compiled.evaluate(unanswered)["notices"] == []
    assert compiled.evaluate({**base, "jurisdiction": "unknown"})["notices"] == []
    assert [n["code"] for n in compiled.evaluate({**base, "jurisdiction": "wales"})["notices"]] == [NOTICE]


# --- labels --------------------------------------------------------------------------------------------------


def test_every_level_has_a_label_and_a_description() -> None:
    labels = RULESET_V2["level_labels"]
    assert list(labels) == RULESET_V2["levels"]
    assert {level: entry["label"] for level, entry in labels.items()} == {
        "low": "Low",
        "medium": "Medium",
        "high": "High",
        "immediate": "Immediate",
    }
    for level, entry in labels.items():
        assert len(entry["description"].split()) >= 10, level


# --- what must not be recommended ----------------------------------------------------------------------------

# (test-name prefix, actions that must not be recommended): the "must not" cases of the guidance.
MUST_NOT = [
    ("T9 a family member is suspected", {"inform_parents"}),  # section C T9, A12 (S1, S18)
    ("Must not: T9 with a parent recorded as protective", {"inform_parents"}),
    ("Telling the parents would be risky", {"inform_parents"}),  # A11 "unless that would put the child at risk"
    ("Must not: unknown whether telling the parents is safe", {"inform_parents"}),
    ("Must not: unknown whether a family member is facilitating", {"inform_parents"}),
    ("V7 ", {"do_not_inform_alleged_family_member"}),  # D.4: A12, "otherwise" A11
    ("V3 ", {"mental_health_support", "do_not_inform_alleged_family_member"}),  # A18: urgent, "otherwise" routine
    ("Must not: a current risk of self-harm", {"mental_health_support"}),
    ("Must not: online bullying alone", {"report_to_ceop"}),  # A05: CEOP does not handle bullying (S8)
]


@pytest.mark.parametrize(("prefix", "excluded"), MUST_NOT)
def test_the_must_not_cases_are_embedded_tests(compiled: CompiledRuleSet, prefix: str, excluded: set[str]) -> None:
    test = _test(prefix)
    assert set(test["expect"]["actions_exclude"]) == excluded
    recommended = {action["id"] for action in compiled.evaluate(test["answers"])["actions"]}
    assert not recommended & excluded


def test_parents_are_never_informed_while_a_family_member_may_be_involved(compiled: CompiledRuleSet) -> None:
    """Beyond the embedded cases: at every level, with every combination of the two answers that can make telling
    the parents unsafe, `inform_parents` is recommended only when both are "no"."""
    base = dict(_test("Baseline")["answers"])
    raise_to = {
        "low": {},
        "medium": {"prof_judgement": "some_concern"},
        "high": {"prof_judgement": "serious_concern_significant_harm", "prof_judgement_rationale": "Recorded."},
        "immediate": {"immediate_danger_now": "yes"},
    }
    for level, extra in raise_to.items():
        for facilitating in ("no", "yes", "unknown"):
            for risky in ("no", "yes", "unknown"):
                answers = {
                    **base,
                    **extra,
                    "family_member_facilitating": facilitating,
                    "parents_informing_risky": risky,
                }
                actions = {a["id"] for a in compiled.evaluate(answers)["actions"]}
                safe = facilitating == risky == "no"
                if not safe:
                    assert "inform_parents" not in actions, (level, facilitating, risky)
                    assert "do_not_inform_alleged_family_member" in actions, (level, facilitating, risky)
                else:
                    assert "do_not_inform_alleged_family_member" not in actions, level
