"""The shipped default content, every version: it parses, checks clean, is monotone, and meets the section F
acceptance cases. What version 2 adds is tested in test_default_content_v2.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.content import (
    CONTENT_DIR,
    QUESTIONNAIRE_FILES,
    RULESET_FILES,
    default_documents,
    default_questionnaire,
    default_ruleset,
    load,
    read_text,
)
from app.scoring import (
    AnswerError,
    CompiledRuleSet,
    Questionnaire,
    RuleSet,
    check,
    compile_ruleset,
    parse_questionnaire,
    parse_ruleset,
    run_tests,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = REPO_ROOT / "docs" / "default-content.md"

# Section B of the guidance: every item id, exactly.
EXPECTED_ITEM_IDS = {
    # B.0 context
    "assessment_date",
    "concern_date",
    "child_age_years",
    "assessor_role",
    "concern_source",
    "jurisdiction",
    "immediate_danger_now",
    # B.1 contact
    "contact_unknown_person_online",
    "contact_adult_involved",
    "contact_older_peer",
    "contact_false_identity",
    "contact_sexual_conversation",
    "contact_requested_images",
    "contact_secrecy_requested",
    "contact_moved_private_platform",
    "unexplained_gifts_money",
    "contact_isolation_from_support",
    "contact_online_romance",
    "contact_rapid_intimacy",
    "contact_multiple_unknown_adults",
    "contact_sent_sexual_material",
    # B.2 offline meeting and missing
    "meeting_requested",
    "meeting_arranged_or_occurred",
    "disclosure_sexual_abuse",
    "missing_episodes",
    "travel_or_vehicles_unexplained",
    # B.3 image sharing
    "image_created_self",
    "image_recipient",
    "image_coerced",
    "image_shared_beyond_recipient",
    "image_online_public",
    "image_involves_sexual_acts",
    "image_content_extreme",
    "image_livestream_requested",
    "image_possesses_others",
    "image_repeat_incident",
    # B.4 commerce and sextortion
    "sextortion_threat",
    "sextortion_demand",
    "sextortion_paid",
    "sextortion_claimed_hack_or_fake",
    "commerce_selling_sexual_content",
    "commerce_gambling_scams_mule",
    # B.5 content
    "content_pornography",
    "content_self_harm_suicide",
    "content_extremism",
    # B.6 conduct
    "conduct_bullied_online",
    "conduct_harmful_sexual_behaviour",
    "conduct_adult_platforms_false_age",
    "conduct_shares_personal_info",
    "conduct_device_secrecy",
    "conduct_late_night_use",
    # B.7 vulnerability and wellbeing
    "vuln_self_harm_suicidal",
    "vuln_capacity_concern",
    "vuln_send",
    "vuln_mental_health",
    "vuln_low_self_esteem",
    "vuln_isolated",
    "vuln_looked_after",
    "vuln_previous_abuse",
    "vuln_substance_misuse",
    "vuln_not_in_education",
    "vuln_sti_pregnancy",
    "vuln_peers_exploited",
    "vuln_behaviour_change",
    "vuln_known_to_csc",
    # B.8 family and environment
    "family_member_facilitating",
    "family_domestic_abuse",
    "family_substance_misuse",
    "family_mental_health",
    "family_breakdown",
    "family_unsuitable_accommodation",
    "household_person_of_concern",
    "parents_informing_risky",
    # B.9 protective factors
    "prot_trusted_adult",
    "prot_parent_protective",
    "prot_child_sought_help",
    "prot_child_knows_how_to_report",
    "prot_engaged_education_activities",
    "prot_contact_stopped_evidence_kept",
    "prot_engaged_with_services",
    # B.10 professional judgement
    "prof_judgement",
    "prof_judgement_rationale",
}

# D.2 point 7: the decisive items of T1-T10 whose "unknown" sets the gap floor (F6).
EXPECTED_GAP_ITEMS = {
    "contact_adult_involved",
    "image_recipient",
    "image_coerced",
    "sextortion_threat",
    "image_content_extreme",
    "vuln_capacity_concern",
    "image_involves_sexual_acts",
    "image_livestream_requested",
    "vuln_self_harm_suicidal",
    "disclosure_sexual_abuse",
    "meeting_arranged_or_occurred",
    "family_member_facilitating",
    "immediate_danger_now",
}

IMAGE_FOLLOW_UPS = {
    "image_recipient",
    "image_coerced",
    "image_shared_beyond_recipient",
    "image_online_public",
    "image_involves_sexual_acts",
    "image_content_extreme",
}
SEXTORTION_FOLLOW_UPS = {"sextortion_demand", "sextortion_paid", "sextortion_claimed_hack_or_fake"}

# Section F acceptance cases: (test-name prefix, level, triggers, total, review days, actions that must be there).
# Action ids map the guidance's A-codes; where F and D.4's "always" lists differ, D.4 wins.
VIGNETTES = [
    pytest.param(
        "V1 ",
        "low",
        set(),
        1,
        None,
        {
            "online_safety_education",  # A17
            "block_and_report_on_platform",  # A08
            "signpost_childline",  # A14
            "record_decision_and_reasons",  # A22
        },
        id="V1-low",
    ),
    pytest.param(
        "V3 ",
        "immediate",
        {"T2_coercion_blackmail_grooming", "T5_immediate_risk_of_harm", "T6_sextortion"},
        22,
        1,
        {
            "tell_dsl_now",  # A04
            "report_police_101",  # A02
            "refer_childrens_social_care",  # A03
            "urgent_mental_health_help",  # A18 urgent
            "sextortion_advice",  # A10
            "preserve_evidence_do_not_view",  # A09
            "report_remove",  # A06
            "take_it_down",  # A07
            "inform_parents",  # A11
            "record_decision_and_reasons",  # A22
            "recovery_support",  # A19
            "strategy_discussion",  # A20 (D.4 immediate)
            "clarify_unresolved_questions",  # F6: the contact's age is unknown
        },
        id="V3-immediate",
    ),
    pytest.param(
        "V6 ",
        "high",
        set(),
        22,
        28,
        {
            "tell_dsl_now",
            "refer_childrens_social_care",
            "agree_safety_plan",  # A13
            "review_and_reassess",  # A21
            "record_decision_and_reasons",
            "recovery_support",
            "follow_missing_child_procedures",
        },
        id="V6-high",
    ),
    pytest.param(
        "V7 ",
        "medium",
        set(),
        8,
        42,
        {
            "tell_dsl_now",
            "inform_parents",
            "agree_safety_plan",
            "online_safety_education",
            "block_and_report_on_platform",
            "review_and_reassess",
            "record_decision_and_reasons",
        },
        id="V7-medium",
    ),
    pytest.param(
        "V7b ",
        "high",
        set(),
        8,
        28,
        {
            "tell_dsl_now",
            "refer_childrens_social_care",
            "agree_safety_plan",
            "review_and_reassess",
            "record_decision_and_reasons",
            "recovery_support",
        },
        id="V7b-high",
    ),
    pytest.param(
        "V9 ",
        "high",
        set(),
        17,
        28,
        {
            "tell_dsl_now",
            "refer_childrens_social_care",
            "report_remove",
            "block_and_report_on_platform",
            "safeguard_other_children",  # A24
            "inform_parents",
            "agree_safety_plan",
            "mental_health_support",  # A18
            "review_and_reassess",
            "record_decision_and_reasons",
            "recovery_support",
        },
        id="V9-high",
    ),
]


# --- fixtures ---------------------------------------------------------------------------------------------

# Each shipped rule set with the questionnaire it scores (version n scores questionnaire version n).
SHIPPED_PAIRS = [
    pytest.param((questionnaire, ruleset), id=f"v{n}")
    for n, (questionnaire, ruleset) in enumerate(zip(QUESTIONNAIRE_FILES, RULESET_FILES, strict=True), start=1)
]


@pytest.fixture(scope="module", params=SHIPPED_PAIRS)
def shipped_pair(request: pytest.FixtureRequest) -> tuple[str, str]:
    pair: tuple[str, str] = request.param
    return pair


@pytest.fixture(scope="module")
def questionnaire_doc(shipped_pair: tuple[str, str]) -> dict[str, Any]:
    return load(shipped_pair[0])


@pytest.fixture(scope="module")
def ruleset_doc(shipped_pair: tuple[str, str]) -> dict[str, Any]:
    return load(shipped_pair[1])


@pytest.fixture(scope="module")
def questionnaire(questionnaire_doc: dict[str, Any]) -> Questionnaire:
    return parse_questionnaire(questionnaire_doc)


@pytest.fixture(scope="module")
def ruleset(ruleset_doc: dict[str, Any]) -> RuleSet:
    return parse_ruleset(ruleset_doc)


@pytest.fixture(scope="module")
def compiled(ruleset: RuleSet, questionnaire: Questionnaire) -> CompiledRuleSet:
    return compile_ruleset(ruleset, questionnaire)


def _test_answers(ruleset_doc: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    matches = [t for t in ruleset_doc["tests"] if t["name"].startswith(prefix)]
    assert len(matches) == 1, f"expected one embedded test named {prefix!r}…, found {len(matches)}"
    return dict(matches[0]["answers"])


def _conditions(node: object) -> Iterator[Mapping[str, Any]]:
    """Every answer leaf (`{q: …}`) inside a condition."""
    if isinstance(node, Mapping):
        if "q" in node:
            yield node
        for key in ("all", "any", "of"):
            for child in node.get(key, []):
                yield from _conditions(child)
        if "not" in node:
            yield from _conditions(node["not"])


# --- loading and static checks ----------------------------------------------------------------------------


def test_shipped_files_are_package_data() -> None:
    for name in (*QUESTIONNAIRE_FILES, *RULESET_FILES):
        assert (CONTENT_DIR / name).is_file(), name
    kinds = [(kind, doc["key"], doc["version"]) for kind, doc in default_documents()]
    assert kinds == [
        ("questionnaire", "online-exposure", 1),
        ("questionnaire", "online-exposure", 2),
        ("ruleset", "online-harm-england", 1),
        ("ruleset", "online-harm-england", 2),
    ]


def test_the_default_content_is_the_latest_version() -> None:
    assert (default_questionnaire()["version"], default_ruleset()["version"]) == (2, 2)


@pytest.mark.parametrize("name", [*QUESTIONNAIRE_FILES, *RULESET_FILES])
def test_plain_safe_load_reads_the_same_document(name: str) -> None:
    """Anchors and merges expand under yaml.safe_load too, and no answer code turns into a YAML 1.1 boolean."""
    assert yaml.safe_load(read_text(name)) == load(name)


def test_ruleset_targets_the_questionnaire(ruleset: RuleSet, questionnaire: Questionnaire) -> None:
    assert (ruleset.questionnaire.key, ruleset.questionnaire.version) == (questionnaire.key, questionnaire.version)


def test_static_check_is_clean(ruleset: RuleSet, questionnaire: Questionnaire) -> None:
    issues = check(ruleset, questionnaire)
    assert issues == [], "\n".join(str(issue) for issue in issues)


def test_declared_monotone_with_a_risk_order_for_every_item_read(ruleset_doc: dict[str, Any]) -> None:
    assert ruleset_doc["monotone"] is True
    assert ruleset_doc["risk_order"]["child_age_years"] == "falling"
    read: set[str] = set()
    for score in ruleset_doc["scores"]:
        for term in score.get("terms") or []:
            if "q" in term:
                read.add(term["q"])
            read.update(leaf["q"] for leaf in _conditions(term.get("when")))
    for rule in [*ruleset_doc["triggers"], *ruleset_doc["floors"]]:
        read.update(leaf["q"] for leaf in _conditions(rule["when"]))
    missing = sorted(read - set(ruleset_doc["risk_order"]))
    assert missing == [], f"items read by scores/triggers/floors without a risk_order: {missing}"


def test_override_policy_is_raise_only(ruleset: RuleSet) -> None:
    assert ruleset.override_policy == "raise_only"


# --- embedded tests ---------------------------------------------------------------------------------------


def test_all_embedded_tests_pass(compiled: CompiledRuleSet) -> None:
    outcomes = run_tests(compiled)
    failed = [f"{o.name}: {'; '.join(o.failures)}" for o in outcomes if not o.passed]
    assert failed == [], "\n".join(failed)


def test_embedded_tests_are_enough_and_cover_every_trigger_floor_band_and_gap(ruleset_doc: dict[str, Any]) -> None:
    tests = ruleset_doc["tests"]
    assert len(tests) >= 30
    names = [t["name"] for t in tests]
    assert len(names) == len(set(names))
    fired_triggers = {t for test in tests for t in test["expect"].get("triggers") or []}
    fired_floors = {f for test in tests for f in test["expect"].get("floors") or []}
    assert {t["id"] for t in ruleset_doc["triggers"]} <= fired_triggers
    assert {f["id"] for f in ruleset_doc["floors"]} <= fired_floors
    assert "unknown_answers" in fired_floors
    # band boundaries: cases with no trigger and no floor, so the band alone decides the level
    level_by_total = {
        test["expect"]["scores"]["total"]: test["expect"]["level"]
        for test in tests
        if test["expect"].get("triggers") == []
        and test["expect"].get("floors") == []
        and "total" in test["expect"].get("scores", {})
    }
    assert {3: "low", 4: "medium", 9: "medium", 10: "high"}.items() <= level_by_total.items()


@pytest.mark.parametrize(("prefix", "level", "triggers", "total", "review_days", "actions"), VIGNETTES)
def test_vignette(
    compiled: CompiledRuleSet,
    ruleset_doc: dict[str, Any],
    prefix: str,
    level: str,
    triggers: set[str],
    total: int,
    review_days: int | None,
    actions: set[str],
) -> None:
    result = compiled.evaluate(_test_answers(ruleset_doc, prefix))
    assert result["level"] == result["computed_level"] == level
    assert {t["id"] for t in result["triggers"]} == triggers
    assert result["scores"]["total"] == total
    assert result["review_within_days"] == review_days
    missing = actions - {a["id"] for a in result["actions"]}
    assert not missing, f"missing actions: {sorted(missing)}"


def test_v9_is_not_immediate_and_v7b_is_raised_by_judgement(
    compiled: CompiledRuleSet, ruleset_doc: dict[str, Any]
) -> None:
    v9 = compiled.evaluate(_test_answers(ruleset_doc, "V9 "))
    assert v9["level"] != "immediate"
    v7b = compiled.evaluate(_test_answers(ruleset_doc, "V7b "))
    assert "F5b_professional_serious_concern" in {f["id"] for f in v7b["floors_applied"]}


def test_protective_factors_are_reported_not_scored(compiled: CompiledRuleSet, ruleset_doc: dict[str, Any]) -> None:
    result = compiled.evaluate(_test_answers(ruleset_doc, "V1 "))
    assert result["protective_factors"] == [
        "prot_trusted_adult",
        "prot_parent_protective",
        "prot_child_sought_help",
        "prot_child_knows_how_to_report",
        "prot_engaged_education_activities",
    ]
    assert result["scores"]["total"] == 1


def test_unknown_is_an_information_gap_and_clarified(compiled: CompiledRuleSet, ruleset_doc: dict[str, Any]) -> None:
    result = compiled.evaluate(_test_answers(ruleset_doc, "V3 "))
    assert result["information_gaps"] == ["contact_adult_involved"]
    assert "establish_whether_contact_is_adult" in {a["id"] for a in result["actions"]}


def test_a_more_concerning_answer_never_lowers_a_vignette_level(
    compiled: CompiledRuleSet, ruleset_doc: dict[str, Any]
) -> None:
    """Smoke check of the monotonicity proof: one step up any risk order, from every vignette."""
    levels = ruleset_doc["levels"]
    follow_ups: dict[str, dict[str, object]] = {
        "image_created_self": {
            "image_recipient": "not_shared",
            **dict.fromkeys(IMAGE_FOLLOW_UPS - {"image_recipient"}, "no"),
        },
        "sextortion_threat": {
            "sextortion_demand": ["other"],
            "sextortion_paid": "no",
            "sextortion_claimed_hack_or_fake": "no",
        },
    }
    checked = 0
    for prefix in ("V1 ", "V3 ", "V6 ", "V7 ", "V7b ", "V9 "):
        base = _test_answers(ruleset_doc, prefix)
        before = levels.index(compiled.evaluate(base)["level"])
        for item, order in ruleset_doc["risk_order"].items():
            value = base.get(item)
            if order == "falling" and isinstance(value, int) and value > 0:
                raised: object = value - 1
            elif isinstance(order, list) and value in order and order.index(value) < len(order) - 1:
                raised = order[order.index(value) + 1]
            else:
                continue
            answers: dict[str, object] = {**base, item: raised}
            if raised == "yes":
                answers.update(follow_ups.get(item, {}))
            if raised == "serious_concern_significant_harm":
                answers["prof_judgement_rationale"] = "Recorded concern."
            after = levels.index(compiled.evaluate(answers)["level"])
            assert after >= before, f"{prefix}: raising {item} to {raised!r} lowered the level"
            checked += 1
    assert checked > 300


# --- answers the questionnaire refuses --------------------------------------------------------------------


def test_rationale_is_required_for_serious_concern(compiled: CompiledRuleSet, ruleset_doc: dict[str, Any]) -> None:
    answers = _test_answers(ruleset_doc, "V7b ")
    del answers["prof_judgement_rationale"]
    with pytest.raises(AnswerError) as raised:
        compiled.evaluate(answers)
    assert "/prof_judgement_rationale" in {issue.pointer for issue in raised.value.issues}


def test_image_follow_ups_are_refused_when_no_image_was_made(
    compiled: CompiledRuleSet, ruleset_doc: dict[str, Any]
) -> None:
    answers = {**_test_answers(ruleset_doc, "Baseline"), "image_recipient": "adult"}
    with pytest.raises(AnswerError) as raised:
        compiled.evaluate(answers)
    assert "/image_recipient" in {issue.pointer for issue in raised.value.issues}


# --- questionnaire content --------------------------------------------------------------------------------


def test_questionnaire_has_exactly_the_section_b_items(questionnaire_doc: dict[str, Any]) -> None:
    ids = [item["id"] for item in questionnaire_doc["items"]]
    assert len(ids) == 82
    assert len(set(ids)) == 82
    assert set(ids) == EXPECTED_ITEM_IDS


def test_every_item_has_plain_language_help_and_a_used_section(questionnaire_doc: dict[str, Any]) -> None:
    sections = [s["id"] for s in questionnaire_doc["sections"]]
    assert len(sections) == 11
    used = {item["section"] for item in questionnaire_doc["items"]}
    assert used == set(sections)
    for item in questionnaire_doc["items"]:
        assert item["question"].strip(), item["id"]
        assert len(item.get("help", "").split()) >= 8, f"{item['id']}: help text too short"


def test_conditional_items(questionnaire_doc: dict[str, Any]) -> None:
    items = {item["id"]: item for item in questionnaire_doc["items"]}
    for item_id in IMAGE_FOLLOW_UPS:
        assert items[item_id]["enable_when"] == {"q": "image_created_self", "eq": "yes"}
    for item_id in SEXTORTION_FOLLOW_UPS:
        assert items[item_id]["enable_when"] == {"q": "sextortion_threat", "eq": "yes"}
    assert items["prof_judgement_rationale"]["required_when"] == {
        "q": "prof_judgement",
        "eq": "serious_concern_significant_harm",
    }
    assert items["child_age_years"]["required"] is True
    assert (items["child_age_years"]["min"], items["child_age_years"]["max"]) == (0, 17)
    # from version 2 an age that cannot be established may be answered "unknown"
    assert items["child_age_years"].get("allow_unknown", False) is (questionnaire_doc["version"] >= 2)
    assert items["jurisdiction"]["required"] is True
    assert "england" in {o["code"] for o in items["jurisdiction"]["options"]}
    for choice in ("missing_episodes", "meeting_arranged_or_occurred", "image_recipient", "content_pornography"):
        assert "unknown" in {o["code"] for o in items[choice]["options"]}, choice
    assert "unknown" in {o["code"] for o in items["vuln_self_harm_suicidal"]["options"]}


# --- rule-set content -------------------------------------------------------------------------------------


def test_gap_rule_is_f6(ruleset_doc: dict[str, Any]) -> None:
    gap = ruleset_doc["unknown_answers"]
    assert gap["level"] == "medium"
    # from version 2 the child's age may be unknown, and T4 and F3 read it
    expected = EXPECTED_GAP_ITEMS | ({"child_age_years"} if ruleset_doc["version"] >= 2 else set())
    assert set(gap["items"]) == expected
    assert len(gap["items"]) == len(expected)
    assert gap["actions"] == ["clarify_unresolved_questions"]


def test_weights_follow_d2(ruleset_doc: dict[str, Any]) -> None:
    total = next(s for s in ruleset_doc["scores"] if s["id"] == "total")
    assert total["purpose"] == "level"
    adds = {term["id"]: term["add"] for term in total["terms"] if "add" in term}
    assert set(adds.values()) <= {1, 2, 5}
    assert sum(1 for v in adds.values() if v == 5) == 9
    points = {term["q"]: term["points"] for term in total["terms"] if "points" in term}
    assert points == {
        "meeting_arranged_or_occurred": {"arranged": 5, "occurred": 5},
        "missing_episodes": {"stays_out_late": 2, "missing_daytime": 2, "missing_overnight": 5},
        "content_pornography": {"accidental_once": 1, "repeated": 2, "violent_or_exploitative": 2},
        "vuln_self_harm_suicidal": {"history": 1, "current": 1},
    }
    scored = {leaf["q"] for term in total["terms"] for leaf in _conditions(term.get("when"))} | set(points)
    assert not scored & {item for item in EXPECTED_ITEM_IDS if item.startswith("prot_")}
    bands = [(b["gte"], b.get("lt"), b["level"]) for b in ruleset_doc["bands"]]
    assert bands == [(0, 4, "low"), (4, 10, "medium"), (10, None, "high")]
    domains = {s["id"] for s in ruleset_doc["scores"]} - {"total"}
    assert domains == {"contact", "content", "conduct", "commerce", "sextortion"}


def test_review_intervals(ruleset_doc: dict[str, Any]) -> None:
    policies = ruleset_doc["level_policies"]
    assert {level: policies[level]["review_within_days"] for level in ruleset_doc["levels"]} == {
        "low": None,
        "medium": 42,
        "high": 28,
        "immediate": 1,
    }


def test_every_rule_has_a_reason_and_a_source(ruleset_doc: dict[str, Any]) -> None:
    rules: list[tuple[str, Mapping[str, Any]]] = []
    for score in ruleset_doc["scores"]:
        rules += [(f"term {t['id']}", t) for t in score.get("terms") or [] if "score" not in t]
    rules += [(f"band {b['id']}", b) for b in ruleset_doc["bands"]]
    for kind in ("triggers", "floors", "action_rules"):
        rules += [(f"{kind} {r['id']}", r) for r in ruleset_doc[kind]]
    rules.append(("unknown_answers", ruleset_doc["unknown_answers"]))
    for what, rule in rules:
        assert len(rule.get("reason", "").split()) >= 6, f"{what}: reason missing or too short"
        assert rule.get("source", "").startswith("S"), f"{what}: source missing"


def test_reasons_do_not_blame_the_child(ruleset_doc: dict[str, Any]) -> None:
    texts = [ruleset_doc["disclaimer"]]
    for score in ruleset_doc["scores"]:
        texts += [t.get("reason", "") for t in score.get("terms") or []]
    for kind in ("bands", "triggers", "floors", "action_rules"):
        texts += [r.get("reason", "") for r in ruleset_doc[kind]]
    texts += [a["title"] + " " + a.get("detail", "") for a in ruleset_doc["actions"]]
    for text in texts:
        lowered = text.lower()
        for phrase in ("choice", "chose", "put themselves", "putting themselves", "promiscu", "risky behaviour"):
            assert phrase not in lowered, f"victim-blaming wording {phrase!r} in: {text}"


def test_actions_catalogue(ruleset_doc: dict[str, Any]) -> None:
    catalogue = {a["id"]: a for a in ruleset_doc["actions"]}
    for needed in (
        "call_999",
        "report_police_101",
        "refer_childrens_social_care",
        "tell_dsl_now",
        "report_to_ceop",
        "report_remove",
        "signpost_childline",
        "preserve_evidence_do_not_view",
        "sextortion_advice",
        "do_not_inform_alleged_family_member",
        "agree_safety_plan",
        "recovery_support",
        "review_and_reassess",
        "clarify_unresolved_questions",
    ):
        assert needed in catalogue, needed
    for action in catalogue.values():
        assert action["source"].startswith("S"), action["id"]
        assert action["detail"].strip(), action["id"]
    used: set[str] = set()
    for policy in ruleset_doc["level_policies"].values():
        used.update(policy["actions"])
    for kind in ("triggers", "floors", "action_rules"):
        for rule in ruleset_doc[kind]:
            used.update(rule.get("actions", []))
    used.update(ruleset_doc["unknown_answers"]["actions"])
    assert set(catalogue) - used == set(), "catalogued actions that no rule recommends"


def test_disclaimer(ruleset_doc: dict[str, Any]) -> None:
    disclaimer = ruleset_doc["disclaimer"]
    assert "supports, and does not replace, professional judgement" in disclaimer
    assert "qualified safeguarding lead" in disclaimer


# --- the generated description ----------------------------------------------------------------------------


def test_committed_description_is_current() -> None:
    """docs/default-content.md describes the latest version."""
    from app.content.describe import describe_markdown

    expected = describe_markdown(default_questionnaire(), default_ruleset())
    actual = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
    assert actual == expected, (
        "docs/default-content.md is stale; regenerate it with "
        "`.venv/bin/python -m app.content.cli --output docs/default-content.md` (or `riskapi rules describe -o …`)"
    )


def test_description_names_every_item_and_rule(questionnaire_doc: dict[str, Any], ruleset_doc: dict[str, Any]) -> None:
    from app.content.describe import describe_markdown

    text = describe_markdown(questionnaire_doc, ruleset_doc)
    assert text == describe_markdown(questionnaire_doc, ruleset_doc)
    for item in questionnaire_doc["items"]:
        assert f"`{item['id']}`" in text
    for kind in ("triggers", "floors", "action_rules", "actions"):
        for rule in ruleset_doc[kind]:
            assert f"`{rule['id']}`" in text
    assert "supports, and does not replace, professional judgement" in text


def test_cli_describe_writes_the_description(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from app.content.cli import describe, render_default_content

    app = typer.Typer()
    app.command()(describe)
    out = tmp_path / "content.md"
    result = CliRunner().invoke(app, ["--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == render_default_content()
    printed = CliRunner().invoke(app, [])
    assert printed.exit_code == 0
    assert printed.stdout == render_default_content()


def test_every_cited_source_tag_is_in_the_source_list(ruleset_doc: dict[str, Any]) -> None:
    import re

    listed = set(re.findall(r"^(S\d+) ", ruleset_doc["source"], flags=re.MULTILINE))
    assert listed == {f"S{n}" for n in range(1, 36)}
    cited: set[str] = set()
    for score in ruleset_doc["scores"]:
        for term in score.get("terms") or []:
            cited.update(re.findall(r"S\d+", term.get("source", "")))
    for kind in ("bands", "triggers", "floors", "action_rules", "actions"):
        for rule in ruleset_doc[kind]:
            cited.update(re.findall(r"S\d+", rule.get("source", "")))
    cited.update(re.findall(r"S\d+", ruleset_doc["unknown_answers"]["source"]))
    assert cited <= listed
