"""`unknown_reads_as: most_concerning`: the checks, and what rules, the answer check and the gap rule each see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.scoring import AnswerError, CompiledRuleSet, check, parse_questionnaire, parse_ruleset
from app.scoring.conditions import holds
from app.scoring.unknown_reading import as_rules_read
from tests.scoring.conftest import answers, build, questionnaire_doc, ruleset_doc

Doc = dict[str, Any]
READ_AS_MOST_CONCERNING = ("child_age_years", "contact_unknown_adult", "meeting", "image_shared", "missing_episodes")


def age_may_be_unknown() -> Doc:
    questionnaire = questionnaire_doc()
    questionnaire["items"][0]["allow_unknown"] = True  # child_age_years: integer 0..17, falling risk
    return questionnaire


def reading_ruleset(*item_ids: str) -> Doc:
    ruleset = ruleset_doc()
    ruleset["unknown_reads_as"] = dict.fromkeys(item_ids, "most_concerning")
    ruleset["unknown_answers"]["items"] = ["child_age_years", "meeting"]
    return ruleset


def reading(*item_ids: str) -> CompiledRuleSet:
    return build(reading_ruleset(*item_ids), age_may_be_unknown())


def issues_after(mutate: Callable[[Doc, Doc], None], monotone: bool = True) -> list[Any]:
    ruleset, questionnaire = reading_ruleset(*READ_AS_MOST_CONCERNING), age_may_be_unknown()
    ruleset["monotone"] = monotone
    mutate(ruleset, questionnaire)
    return check(parse_ruleset(ruleset), parse_questionnaire(questionnaire))


# --- checks ----------------------------------------------------------------------------------------------------


def test_items_with_a_most_concerning_answer_pass_the_checks_and_the_proof() -> None:
    assert issues_after(lambda ruleset, questionnaire: None) == []


def _read(item_id: str) -> Callable[[Doc, Doc], None]:
    def mutate(ruleset: Doc, questionnaire: Doc) -> None:
        ruleset["unknown_reads_as"][item_id] = "most_concerning"

    return mutate


def _without_bound(bound: str, item_index: int) -> Callable[[Doc, Doc], None]:
    def mutate(ruleset: Doc, questionnaire: Doc) -> None:
        del questionnaire["items"][item_index][bound]

    return mutate


def _drop_unknown_option(ruleset: Doc, questionnaire: Doc) -> None:
    meeting = questionnaire["items"][7]
    meeting["options"] = [option for option in meeting["options"] if option["code"] != "unknown"]


def _age_not_unknown(ruleset: Doc, questionnaire: Doc) -> None:
    questionnaire["items"][0]["allow_unknown"] = False


def _no_risk_order(ruleset: Doc, questionnaire: Doc) -> None:
    ruleset["monotone"] = False
    del ruleset["risk_order"]["meeting"]


@pytest.mark.parametrize(
    ("mutate", "pointer", "fragment"),
    [
        (_read("no_such_item"), "/unknown_reads_as/no_such_item", "unknown item 'no_such_item'"),
        (_read("has_trusted_adult"), "/unknown_reads_as/has_trusted_adult", "can never be answered unknown"),
        (_read("date_of_birth"), "/unknown_reads_as/date_of_birth", "a date has no most concerning value"),
        (_read("notes"), "/unknown_reads_as/notes", "free text has no risk order"),
        (_read("platforms"), "/unknown_reads_as/platforms", "a multi_choice answer is a set of options"),
        (_age_not_unknown, "/unknown_reads_as/child_age_years", "can never be answered unknown (set allow_unknown"),
        (_drop_unknown_option, "/unknown_reads_as/meeting", "offer the option code unknown"),
        (_no_risk_order, "/unknown_reads_as/meeting", "has no risk_order entry"),
        (_without_bound("min", 0), "/unknown_reads_as/child_age_years", "falls in risk but has no min"),
        (_without_bound("max", 10), "/unknown_reads_as/missing_episodes", "rises in risk but has no max"),
    ],
)
def test_an_item_without_a_most_concerning_answer_is_refused(
    mutate: Callable[[Doc, Doc], None], pointer: str, fragment: str
) -> None:
    issues = issues_after(mutate)
    assert [issue for issue in issues if issue.pointer == pointer and fragment in issue.message], issues


@pytest.mark.parametrize("monotone", [True, False])
def test_is_unknown_on_such_an_item_in_a_rule_is_refused(monotone: bool) -> None:
    def mutate(ruleset: Doc, questionnaire: Doc) -> None:
        ruleset["action_rules"][0]["when"] = {"q": "child_age_years", "is_unknown": True}

    issues = issues_after(mutate, monotone)
    assert [issue.pointer for issue in issues] == ["/action_rules/0/when/is_unknown"]
    assert "unknown_reads_as" in issues[0].message
    assert "the unknown_answers rule and information_gaps still see unknown" in issues[0].message


def test_enable_when_may_still_ask_whether_the_answer_is_unknown() -> None:
    def mutate(ruleset: Doc, questionnaire: Doc) -> None:
        questionnaire["items"][5]["enable_when"] = {"q": "child_age_years", "is_unknown": True}  # platforms

    assert issues_after(mutate) == []


def test_unknown_in_a_points_map_explains_the_reading() -> None:
    def mutate(ruleset: Doc, questionnaire: Doc) -> None:
        ruleset["scores"][0]["terms"][3]["points"]["unknown"] = 9

    issues = issues_after(mutate)
    assert [issue.pointer for issue in issues] == ["/scores/0/terms/3/points/unknown"]
    assert "unknown scores the points of the most concerning answer" in issues[0].message


# --- evaluation ------------------------------------------------------------------------------------------------


def test_rules_read_unknown_age_as_the_youngest_and_name_it_as_a_gap() -> None:
    given = answers(child_age_years="unknown", image_shared="shared_by_child")
    plain = build(questionnaire=age_may_be_unknown()).evaluate(given)
    assert [trigger["id"] for trigger in plain["triggers"]] == []

    result = reading("child_age_years").evaluate(given, explain={"trace"})
    assert [trigger["id"] for trigger in result["triggers"]] == ["T_young_image"]
    assert result["level"] == "high"
    assert result["information_gaps"] == ["child_age_years"]
    reason = next(reason for reason in result["reasons"] if reason["rule_id"] == "T_young_image")
    assert reason["items"] == ["child_age_years", "image_shared"]
    trace = {entry["id"]: entry for entry in result["trace"]}
    assert trace["T_young_image"]["reads"] == {"child_age_years": "unknown", "image_shared": "shared_by_child"}


def test_the_gap_rule_still_sees_unknown() -> None:
    result = reading("child_age_years").evaluate(answers(child_age_years="unknown"))
    assert result["floors_applied"] == [{"id": "unknown_answers", "reason": "Not known: child_age_years"}]
    assert result["level"] == "medium"
    assert "clarify" in [action["id"] for action in result["actions"]]


def test_points_read_unknown_as_the_top_of_the_order() -> None:
    result = reading("image_shared").evaluate(answers(image_shared="unknown"), explain={"trace"})
    assert result["scores"]["total"] == 3
    images = next(entry for entry in result["trace"] if entry["id"] == "images")
    assert images["contribution"] == 3
    assert images["reads"] == {"image_shared": "unknown"}
    assert result["information_gaps"] == ["image_shared"]


def test_triggers_floors_terms_and_action_rules_read_it() -> None:
    result = reading(*READ_AS_MOST_CONCERNING).evaluate(
        answers(meeting="unknown", image_shared="unknown", contact_unknown_adult="unknown", missing_episodes="unknown")
    )
    assert {trigger["id"] for trigger in result["triggers"]} == {"T_meeting"}
    assert result["scores"]["total"] == 2 + 3 + 2  # contact (yes), images (shared_by_other), missing (50)
    assert "report_remove" in [action["id"] for action in result["actions"]]  # the action rule at level immediate
    trace = reading(*READ_AS_MOST_CONCERNING).evaluate(
        answers(image_shared="unknown", child_age_years=15, contact_unknown_adult="yes", missing_episodes=0),
        explain={"trace"},
    )["trace"]
    assert "AR_report" in [entry["id"] for entry in trace]


def test_ne_reads_it_too() -> None:
    ruleset = reading_ruleset("meeting")
    ruleset["floors"][1]["when"] = {"q": "meeting", "ne": "no"}
    compiled = build(ruleset, age_may_be_unknown())
    result = compiled.evaluate(answers(meeting="unknown"))
    assert "F_many_platforms" in [floor["id"] for floor in result["floors_applied"]]


def test_the_answer_check_still_sees_unknown() -> None:
    """enable_when and required_when read the answer as given: "unknown" does not enable or require anything."""
    compiled = reading("contact_unknown_adult")
    result = compiled.evaluate(answers(contact_unknown_adult="unknown"))  # missing_episodes: required_when not met
    assert result["scores"]["total"] == 2  # the contact term reads "yes"
    with pytest.raises(AnswerError) as caught:
        compiled.evaluate(answers(contact_unknown_adult="unknown", secrecy_requested="yes"))
    assert [issue.pointer for issue in caught.value.issues] == ["/secrecy_requested"]
    assert compiled.code.valid(answers(contact_unknown_adult="unknown"))
    assert not compiled.code.valid(answers(contact_unknown_adult="unknown", secrecy_requested="yes"))


def test_counterfactuals_agree_with_the_reading() -> None:
    compiled = reading("child_age_years")
    given = answers(image_shared="shared_by_child", child_age_years="unknown")
    result = compiled.evaluate(given, explain={"counterfactuals"})
    assert result["level"] == "high"  # T_young_image: unknown reads as 0
    age = [change for change in result["counterfactuals"] if change["item"] == "child_age_years"]
    assert [(change["from"], change["to"], change["level"]) for change in age] == [("unknown", 13, "low")]
    for change in result["counterfactuals"]:
        assert compiled.evaluate({**given, change["item"]: change["to"]})["level"] == change["level"]


def test_as_rules_read_replaces_only_unknown_on_items_with_a_reading() -> None:
    readings = reading("child_age_years", "meeting").unknown_readings
    assert readings == {"child_age_years": 0, "meeting": "occurred"}
    given = {"child_age_years": "unknown", "meeting": "no", "contact_unknown_adult": "unknown"}
    read = as_rules_read(given, readings)
    assert read == {"child_age_years": 0, "meeting": "no", "contact_unknown_adult": "unknown"}
    young = _condition({"q": "child_age_years", "lt": 13})
    assert holds(young, read, {})
    assert not holds(young, given, {})


def _condition(data: Doc) -> Any:
    ruleset = reading_ruleset()
    ruleset["floors"][1]["when"] = data
    return parse_ruleset(ruleset).floors[1].when
