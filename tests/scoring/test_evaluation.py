"""The result object: levels, reasons and actions in their documented order, gaps, trace, counterfactuals."""

from __future__ import annotations

import pytest

from app.scoring import (
    ENGINE_VERSION,
    AnswerError,
    CompiledRuleSet,
    ScoringError,
    canonical_json,
    compile_ruleset,
    parse_questionnaire,
    parse_ruleset,
)
from app.scoring.frozen import FrozenDict, FrozenList
from tests.scoring.conftest import QUESTIONNAIRE, RULESET, answers, build, ruleset_doc

RESULT_KEYS = {
    "level",
    "computed_level",
    "scores",
    "score_bands",
    "score_decimals",
    "notices",
    "triggers",
    "floors_applied",
    "reasons",
    "actions",
    "information_gaps",
    "protective_factors",
    "review_within_days",
    "disclaimer",
    "questionnaire",
    "ruleset",
    "engine_version",
}


def test_quiet_answers(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(answers())
    assert set(result) == RESULT_KEYS
    assert result["level"] == result["computed_level"] == "low"
    assert result["scores"] == {"total": 0, "contact_domain": 0, "double": 0}
    assert (result["score_bands"], result["score_decimals"], result["notices"]) == ({}, {}, [])
    assert [a["id"] for a in result["actions"]] == ["education"]
    assert result["review_within_days"] is None
    assert result["engine_version"] == ENGINE_VERSION
    assert result["ruleset"] == {"key": "mini-rules", "version": 1, "content_hash": mini.ruleset.content_hash}
    assert len(result["questionnaire"]["content_hash"]) == 64


def test_scores_subtotals_and_bands(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(
        answers(
            contact_unknown_adult="yes", secrecy_requested="yes", missing_episodes=0, image_shared="shared_by_child"
        )
    )
    assert result["scores"] == {"total": 7, "contact_domain": 5, "double": 14}
    assert result["level"] == "medium"
    assert [t["id"] for t in result["triggers"]] == []


def test_level_is_the_maximum_of_bands_triggers_floors_and_gaps(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(answers(child_age_years=11, image_shared="shared_by_other", meeting="occurred"))
    assert [t["id"] for t in result["triggers"]] == ["T_meeting", "T_young_image"]
    assert result["level"] == "immediate"
    assert result["review_within_days"] == 1


def test_reason_order_triggers_floors_gap_bands_then_terms_by_points(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(
        answers(
            child_age_years=11,
            contact_unknown_adult="yes",
            secrecy_requested="yes",
            missing_episodes=5,
            image_shared="shared_by_other",
            platforms=["social", "messaging"],
            meeting="unknown",
        )
    )
    kinds = [r["rule_id"] for r in result["reasons"]]
    assert kinds == [
        "T_young_image",
        "F_many_platforms",
        "unknown_answers",
        "total_band_2",
        "secrecy",
        "images",
        "contact",
        "missing",
        "messaging",
    ]
    points = [r["points"] for r in result["reasons"][4:]]
    assert points == sorted(points, reverse=True)
    assert result["reasons"][2]["text"] == "Not known: meeting"


def test_actions_deduplicated_most_urgent_first_then_catalogue_order(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(answers(meeting="occurred", image_shared="unknown"))
    assert [a["id"] for a in result["actions"]] == ["call_police", "clarify", "refer_csc"]
    assert [a["urgency"] for a in result["actions"]] == ["now", "same_day", "same_day"]
    assert set(result["actions"][0]) == {"id", "title", "who", "urgency"}


def test_action_rules_apply_only_at_their_levels(mini: CompiledRuleSet) -> None:
    # the image term carries report_remove itself; the action rule adds nothing new but must not fire at low
    result = mini.evaluate(answers(image_shared="shared_by_child", child_age_years=15))
    assert result["level"] == "low"
    assert "report_remove" in [a["id"] for a in result["actions"]]
    trace = mini.evaluate(answers(image_shared="shared_by_child", child_age_years=15), explain={"trace"})["trace"]
    assert "AR_report" not in [entry["id"] for entry in trace]


def test_unknown_on_a_trigger_item_sets_the_gap_floor(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(answers(meeting="unknown"))
    assert result["level"] == "medium"
    assert result["floors_applied"] == [{"id": "unknown_answers", "reason": "Not known: meeting"}]
    assert result["information_gaps"] == ["meeting"]
    assert "clarify" in [a["id"] for a in result["actions"]]


def test_unknown_outside_the_gap_items_is_only_reported(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(answers(contact_unknown_adult="unknown", platforms=["unknown"]))
    assert result["level"] == "low"
    assert result["information_gaps"] == ["contact_unknown_adult", "platforms"]
    assert result["scores"]["total"] == 0


def test_unanswered_optional_item_is_not_a_gap(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(answers())
    assert result["information_gaps"] == []


def test_protective_factors(mini: CompiledRuleSet) -> None:
    assert mini.evaluate(answers(has_trusted_adult=True))["protective_factors"] == ["has_trusted_adult"]
    assert mini.evaluate(answers(has_trusted_adult=False))["protective_factors"] == []


def test_trace_lists_every_rule_that_fired_with_what_it_read(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(
        answers(meeting="occurred", contact_unknown_adult="yes", missing_episodes=1), explain={"trace"}
    )
    trace = {entry["id"]: entry for entry in result["trace"]}
    assert trace["contact"] == {
        "id": "contact",
        "kind": "term",
        "contribution": 2,
        "reads": {"contact_unknown_adult": "yes"},
        "score": "total",
    }
    assert trace["T_meeting"]["contribution"] == "immediate"
    assert trace["T_meeting"]["reads"] == {"meeting": "occurred"}
    assert trace["double_total"]["reads_score"] == {"total": 2}
    assert trace["total_band_0"]["kind"] == "band"


def test_counterfactuals_name_the_nearest_change(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(answers(meeting="occurred"), explain={"counterfactuals"})
    lower = [c for c in result["counterfactuals"] if c["item"] == "meeting"]
    assert lower == [
        {
            "item": "meeting",
            "from": "occurred",
            "to": "planned",
            "level": "low",
            "text": "Had 'Meeting' been 'Planned' instead of 'Occurred', the level would be low",
        }
    ]


def test_counterfactuals_keep_answers_valid(mini: CompiledRuleSet) -> None:
    given = answers(contact_unknown_adult="yes", secrecy_requested="yes", missing_episodes=0)
    for change in mini.evaluate(given, explain={"counterfactuals"})["counterfactuals"]:
        trial = dict(given)
        trial[change["item"]] = change["to"]
        assert mini.validate_answers(trial) == []
        assert mini.evaluate(trial)["level"] == change["level"]
    # contact_unknown_adult -> no would leave secrecy_requested answered while disabled: never proposed
    items = [c["item"] for c in mini.evaluate(given, explain={"counterfactuals"})["counterfactuals"]]
    assert "contact_unknown_adult" not in items


def test_integer_counterfactuals_try_condition_boundaries(mini: CompiledRuleSet) -> None:
    given = answers(child_age_years=14, image_shared="shared_by_child")
    changes = mini.evaluate(given, explain={"counterfactuals"})["counterfactuals"]
    age = [c for c in changes if c["item"] == "child_age_years"]
    assert age == [
        {
            "item": "child_age_years",
            "from": 14,
            "to": 12,
            "level": "high",
            "text": "Had 'Age' been '12' instead of '14', the level would be high",
        }
    ]


def test_unknown_explain_option_is_refused(mini: CompiledRuleSet) -> None:
    with pytest.raises(ScoringError):
        mini.evaluate(answers(), explain={"everything"})


def test_same_inputs_give_byte_identical_results() -> None:
    given = answers(meeting="unknown", platforms=["gaming", "social"], child_age_years=9)
    first = canonical_json(build().evaluate(given, explain={"trace", "counterfactuals"}))
    again = canonical_json(build().evaluate(dict(reversed(list(given.items()))), explain={"trace", "counterfactuals"}))
    assert first == again


def test_compiled_rule_sets_are_cached_by_content_hash() -> None:
    one = compile_ruleset(parse_ruleset(RULESET), parse_questionnaire(QUESTIONNAIRE))
    two = compile_ruleset(parse_ruleset(RULESET), parse_questionnaire(QUESTIONNAIRE))
    assert one is two


def test_generated_source_contains_no_author_text(mini: CompiledRuleSet) -> None:
    source = mini.code.source
    for rule in mini.code.rules:
        if rule.reason:
            assert rule.reason not in source
    assert "Contact with an unknown adult" not in source


def test_hostile_strings_are_only_data() -> None:
    hostile = "x'); import os; os.system('echo owned'); ('"
    questionnaire = {**QUESTIONNAIRE, "title": hostile}
    ruleset = {**RULESET, "title": hostile, "disclaimer": hostile}
    compiled = build(ruleset, questionnaire)
    assert compiled.evaluate(answers())["disclaimer"] == hostile


def test_reason_items_are_the_items_that_made_the_rule_fire() -> None:
    # any / at_least list only their satisfied branches; all lists everything; the trace still shows every read
    ruleset = ruleset_doc()
    either = [
        {"all": [{"q": "contact_unknown_adult", "eq": "yes"}, {"q": "image_shared", "in": ["shared_by_other"]}]},
        {"q": "meeting", "in": ["planned", "occurred"]},
        {"q": "image_shared", "eq": "shared_by_other"},
    ]
    ruleset["floors"].append(
        {"id": "F_either", "when": {"any": either}, "level": "medium", "reason": "Either", "source": "S12"}
    )
    compiled = build(ruleset)
    given = answers(contact_unknown_adult="yes", missing_episodes=0, image_shared="shared_by_other", meeting="no")
    result = compiled.evaluate(given, explain={"trace"})
    reasons = {reason["rule_id"]: reason for reason in result["reasons"]}
    assert reasons["F_either"]["items"] == ["contact_unknown_adult", "image_shared"]  # first and third branch
    reads = {entry["id"]: entry["reads"] for entry in result["trace"]}
    assert list(reads["F_either"]) == ["contact_unknown_adult", "image_shared", "meeting"]
    only_meeting = compiled.evaluate(answers(meeting="planned"))
    assert {r["rule_id"]: r["items"] for r in only_meeting["reasons"]}["F_either"] == ["meeting"]


def test_at_least_reason_lists_the_satisfied_branches(mini: CompiledRuleSet) -> None:
    result = mini.evaluate(answers(platforms=["social", "gaming"]), explain={"trace"})
    floor = next(reason for reason in result["reasons"] if reason["rule_id"] == "F_many_platforms")
    assert floor["items"] == ["platforms"]
    assert result["level"] == "medium"


def test_generated_trace_agrees_with_the_interpreted_trace(mini: CompiledRuleSet) -> None:
    for given in (
        answers(meeting="occurred", contact_unknown_adult="yes", missing_episodes=4, image_shared="shared_by_child"),
        answers(child_age_years=11, image_shared="shared_by_other", platforms=["social", "messaging"]),
        answers(meeting="unknown", date_of_birth="2015-01-01", assessment_date="2024-06-01"),
    ):
        _, scores, fired = mini.decide(given)
        assert mini.evaluate(given, explain={"trace"})["trace"] == mini.trace(given, scores, fired)


def _mutable_parts(value: object, found: dict[int, object]) -> dict[int, object]:
    """Every dict and list reachable from `value` that can be changed (read-only FrozenDict/FrozenList aside)."""
    if isinstance(value, dict | list):
        if not isinstance(value, FrozenDict | FrozenList):
            found[id(value)] = value
        for child in value.values() if isinstance(value, dict) else value:
            _mutable_parts(child, found)
    return found


def test_results_share_no_mutable_object_with_each_other_or_the_answers(mini: CompiledRuleSet) -> None:
    given = answers(platforms=["social", "gaming"], meeting="unknown", child_age_years=9)
    options = {"trace", "counterfactuals"}
    first, second = mini.evaluate(given, explain=options), mini.evaluate(given, explain=options)
    ours = _mutable_parts(first, {})
    assert not ours.keys() & _mutable_parts(second, {}).keys()
    assert not ours.keys() & _mutable_parts(given, {}).keys()
    assert sum(1 for part in ours.values() if part == ["social", "gaming"]) >= 1  # copied, not shared


def _every_item_answered() -> dict[str, object]:
    return answers(
        date_of_birth="2012-03-04",
        assessment_date="2024-06-01",
        contact_unknown_adult="yes",
        secrecy_requested="no",
        platforms=["messaging"],
        has_trusted_adult=True,
        notes="n",
        missing_episodes=3,
    )


class _Defaulting(dict[str, object]):
    def __missing__(self, key: str) -> object:
        self[key] = "yes"
        return "yes"


def test_every_answer_given_takes_the_same_result_as_the_general_path(mini: CompiledRuleSet) -> None:
    full = _every_item_answered()
    assert len(full) == len(mini.questionnaire.items)
    expected = mini.evaluate(full, explain={"trace"})
    partial = {key: value for key, value in full.items() if key != "notes"}
    assert mini.evaluate(partial, explain={"trace"}) == expected
    assert mini.code.valid(full)
    # as many keys as items, one of them unknown: the subscript fetch falls back and the answers are refused
    renamed = {("nope" if key == "notes" else key): value for key, value in full.items()}
    assert not mini.code.valid(renamed)
    assert mini.code.plain(renamed, True) is None
    with pytest.raises(AnswerError):
        mini.evaluate(renamed)
    # an explicit null with every key present is refused as before
    assert not mini.code.valid({**full, "notes": None})
    # a dict subclass is never read by subscript (its __missing__ must not run)
    subclass = _Defaulting(partial)
    subclass["notes"] = "n"
    assert mini.decide(subclass) == mini.decide(full)
    assert dict(subclass) == full


@pytest.mark.parametrize("explain", [frozenset(), frozenset({"trace"}), {"trace"}, ["trace"], ("trace", "trace"), ()])
def test_explain_accepts_any_collection(mini: CompiledRuleSet, explain: object) -> None:
    result = mini.evaluate(answers(), explain=explain)  # type: ignore[arg-type]
    assert ("trace" in result) == bool(explain)
    assert "counterfactuals" not in result
