"""The monotonicity proof is sound for generated rule sets: whatever it accepts (`ne` and `unknown_reads_as`
included), raising one answer along its risk order, or to "unknown" where unknown reads as the most concerning
answer, never lowers the level. The compiled code and the reference semantics agree on the same rule sets."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.scoring import CompiledRuleSet, check, compile_ruleset, parse_questionnaire, parse_ruleset
from app.scoring.conditions import holds
from app.scoring.models import ActionRule, ConditionTerm, Item, LevelRule
from app.scoring.unknown_reading import as_rules_read
from tests.scoring.test_properties import answer_sets, raised
from tests.scoring.test_unknown_reads_as import age_may_be_unknown, reading_ruleset

QUESTIONNAIRE = age_may_be_unknown()
ITEMS = {item["id"]: item for item in QUESTIONNAIRE["items"]}
# items whose unknown has a most concerning answer to read as (the others are refused by the checker)
READABLE = [
    "child_age_years",
    "contact_unknown_adult",
    "secrecy_requested",
    "meeting",
    "image_shared",
    "missing_episodes",
]
SOUNDNESS_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


RISK_ORDERS: dict[str, Any] = {
    "child_age_years": "falling",
    "missing_episodes": "rising",
    "contact_unknown_adult": ["no", "yes"],
    "secrecy_requested": ["no", "yes"],
    "meeting": ["no", "planned", "occurred"],
    "image_shared": ["none", "shared_by_child", "shared_by_other"],
    "has_trusted_adult": [False, True],
}
PLATFORMS = ["social", "gaming", "messaging"]


@st.composite
def monotone_shaped_leaf(draw: st.DrawFn) -> dict[str, Any]:
    """A leaf of a shape the proof accepts (`ne` on the least concerning answer, the top of an order, ...)."""
    item_id = draw(st.sampled_from([*RISK_ORDERS, "platforms"]))
    if item_id == "platforms":
        return {"q": item_id, "contains_any": draw(st.lists(st.sampled_from(PLATFORMS), min_size=1, unique=True))}
    order = RISK_ORDERS[item_id]
    if isinstance(order, list):
        cut = draw(st.integers(0, len(order) - 1))
        shapes = [{"ne": order[0]}, {"eq": order[-1]}] + ([{"in": order[cut:]}] if order[0] is not False else [])
        return {"q": item_id, **draw(st.sampled_from(shapes))}
    low, high = ITEMS[item_id]["min"], ITEMS[item_id]["max"]
    value = draw(st.integers(low - 1, high + 1))
    if order == "rising":
        shapes = [{"gte": value}, {"gt": value}, {"eq": high}, {"ne": low}, {"between": [min(value, high), high]}]
    else:
        shapes = [{"lte": value}, {"lt": value}, {"eq": low}, {"ne": high}, {"between": [low, max(value, low)]}]
    return {"q": item_id, **draw(st.sampled_from(shapes))}


@st.composite
def any_leaf(draw: st.DrawFn) -> dict[str, Any]:
    """Any well-typed leaf on a risk item: the proof accepts some and refuses the others."""
    item_id = draw(st.sampled_from(sorted(RISK_ORDERS)))
    if draw(st.integers(0, 9)) == 0:
        return {"q": item_id, draw(st.sampled_from(["answered", "unanswered"])): True}
    order = RISK_ORDERS[item_id]
    if isinstance(order, list):
        ops = ["eq", "ne", "ne"] if order[0] is False else ["eq", "ne", "ne", "in", "not_in"]
        op = draw(st.sampled_from(ops))
        if op in ("in", "not_in"):
            return {"q": item_id, op: draw(st.lists(st.sampled_from(order), min_size=1, unique=True))}
        return {"q": item_id, op: draw(st.sampled_from(order))}
    low, high = ITEMS[item_id]["min"], ITEMS[item_id]["max"]
    numbers = st.sampled_from([low, low + 1, high - 1, high]) | st.integers(low - 1, high + 1)
    op = draw(st.sampled_from(["eq", "ne", "ne", "lt", "lte", "gt", "gte", "between", "in"]))
    if op == "between":
        return {"q": item_id, op: sorted([draw(numbers), draw(numbers)])}
    if op == "in":
        return {"q": item_id, op: draw(st.lists(numbers, min_size=1, max_size=4))}
    return {"q": item_id, op: draw(numbers)}


leaves = st.one_of(monotone_shaped_leaf(), any_leaf())
conditions = st.recursive(
    st.one_of(monotone_shaped_leaf(), leaves),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda parts: {"all": parts}),
        st.lists(children, min_size=1, max_size=3).map(lambda parts: {"any": parts}),
        st.lists(children, min_size=1, max_size=3).map(lambda parts: {"at_least": 1, "of": parts}),
    ),
    max_leaves=4,
)


@st.composite
def proved_rule_sets(draw: st.DrawFn) -> CompiledRuleSet:
    """A rule set built from generated conditions that passes the checks, monotonicity proof included."""
    ruleset = reading_ruleset(*draw(st.lists(st.sampled_from(READABLE), unique=True)))
    ruleset["scores"][0]["terms"][0]["when"] = draw(conditions)
    # the generated floor alone gives "high" (a band only from a total of 8; the one trigger left gives "immediate"
    # when a meeting occurred), so that a raise that made it stop holding would show as a lower level
    ruleset["triggers"] = ruleset["triggers"][:1]
    ruleset["floors"][1].update(when=draw(st.one_of(leaves, conditions)), level="high")
    ruleset["tests"] = []
    parsed, questionnaire = parse_ruleset(ruleset), parse_questionnaire(QUESTIONNAIRE)
    assume(check(parsed, questionnaire) == [])
    return compile_ruleset(parsed, questionnaire)


def higher_answers(compiled: CompiledRuleSet, item: Item, value: Any) -> list[Any]:
    """One step up the item's risk order, and "unknown" where it reads as the top of that order (above it)."""
    higher = raised(compiled, item, value)
    if item.id in compiled.unknown_readings and value != "unknown":
        higher.append("unknown")
    return higher


@SOUNDNESS_SETTINGS
@given(proved_rule_sets(), st.data())
def test_raising_an_answer_never_lowers_the_level_of_a_proved_rule_set(
    compiled: CompiledRuleSet, data: st.DataObject
) -> None:
    for answers in data.draw(st.lists(answer_sets(compiled), min_size=8, max_size=8)):
        if not compiled.is_valid(answers):
            continue
        before = compiled.decide(answers)[0]
        for item in compiled.questionnaire.items:
            for higher in higher_answers(compiled, item, answers.get(item.id)):
                trial = {**answers, item.id: higher}
                if compiled.is_valid(trial):
                    assert compiled.decide(trial)[0] >= before, (item.id, answers.get(item.id), higher)


@settings(SOUNDNESS_SETTINGS, max_examples=50)
@given(proved_rule_sets(), st.data())
def test_compiled_rules_agree_with_the_reference_semantics_on_read_answers(
    compiled: CompiledRuleSet, data: st.DataObject
) -> None:
    for answers in data.draw(st.lists(answer_sets(compiled), min_size=4, max_size=4)):
        if compiled.is_valid(answers):
            agree(compiled, answers)


def agree(compiled: CompiledRuleSet, answers: dict[str, Any]) -> None:
    result = compiled.evaluate(answers, explain={"trace"})
    read = as_rules_read(answers, compiled.unknown_readings)
    ruleset = compiled.ruleset
    fired = {entry["id"] for entry in result["trace"]}
    rules: list[ConditionTerm | LevelRule | ActionRule] = [*ruleset.triggers, *ruleset.floors, *ruleset.action_rules]
    rules += [term for score in ruleset.scores for term in score.terms or [] if isinstance(term, ConditionTerm)]
    for rule in rules:
        applies = holds(rule.when, read, result["scores"])
        if isinstance(rule, ActionRule) and rule.levels is not None:
            applies = applies and result["computed_level"] in rule.levels
        assert (rule.id in fired) == applies, rule.id
    _, scores, fired_rules = compiled.decide(answers)
    assert result["trace"] == compiled.trace(answers, scores, fired_rules)
    for entry in result["trace"]:
        assert entry["reads"] == {item_id: answers.get(item_id) for item_id in entry["reads"]}
    gaps = [item.id for item in compiled.questionnaire.items if answers.get(item.id) in ("unknown", ["unknown"])]
    assert result["information_gaps"] == gaps
