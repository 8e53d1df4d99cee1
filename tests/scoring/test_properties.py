"""Property tests: no stray exceptions on arbitrary input, determinism, agreement, monotonicity."""

from __future__ import annotations

import contextlib
import copy
import datetime
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.scoring import (
    AnswerError,
    CompiledRuleSet,
    ScoringError,
    canonical_json,
    check,
    compile_ruleset,
    parse_questionnaire,
    parse_ruleset,
)
from app.scoring.conditions import holds, items_read
from app.scoring.models import (
    AllCondition,
    AnyCondition,
    AtLeastCondition,
    BooleanItem,
    Condition,
    ConditionTerm,
    DateItem,
    IntegerItem,
    Item,
    MultiChoiceItem,
    SingleChoiceItem,
    TextItem,
)
from app.scoring.monotonicity import risk_order_of
from tests.scoring.conftest import QUESTIONNAIRE, RULESET, build, load_pair

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)

MINI = build()
PHQ9 = compile_ruleset(*load_pair("phq9"))
DASH = compile_ruleset(*load_pair("dash"))
PHQ9_PRORATED = compile_ruleset(*load_pair("phq9_prorated"))
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(json_values)
def test_parsing_arbitrary_json_raises_only_scoring_errors(data: object) -> None:
    for parse in (parse_questionnaire, parse_ruleset):
        with contextlib.suppress(ScoringError):
            parse(data)


@st.composite
def mutated_document(
    draw: st.DrawFn, document: dict[str, Any], values: st.SearchStrategy[Any] = json_values
) -> dict[str, Any]:
    """A valid document with one subtree replaced by arbitrary JSON (drawn from `values`)."""
    doc = copy.deepcopy(document)
    node: Any = doc
    for _ in range(draw(st.integers(1, 6))):
        keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if not isinstance(child, dict | list) or draw(st.booleans()):
            node[key] = draw(values)
            break
        node = child
    return doc


@PROPERTY_SETTINGS
@given(mutated_document(RULESET), mutated_document(QUESTIONNAIRE))
def test_checking_and_compiling_mutated_documents_raise_only_scoring_errors(
    ruleset_doc: dict[str, Any], questionnaire_doc: dict[str, Any]
) -> None:
    try:
        ruleset, questionnaire = parse_ruleset(ruleset_doc), parse_questionnaire(questionnaire_doc)
        check(ruleset, questionnaire)
        compiled = compile_ruleset(ruleset, questionnaire)
        compiled.evaluate({})
    except ScoringError:
        pass


@PROPERTY_SETTINGS
@given(json_values)
def test_answers_of_any_shape_raise_only_answer_errors(data: object) -> None:
    MINI.validate_answers(data)
    with contextlib.suppress(AnswerError):
        MINI.evaluate(data)


def item_values(item: Item) -> st.SearchStrategy[Any]:
    if isinstance(item, BooleanItem):
        return st.booleans()
    if isinstance(item, SingleChoiceItem):
        return st.sampled_from([option.code for option in item.options])
    if isinstance(item, MultiChoiceItem):
        codes = [option.code for option in item.options if option.code != "unknown"]
        return st.lists(st.sampled_from(codes), unique=True) | st.just(["unknown"])
    if isinstance(item, IntegerItem):
        low = item.min if item.min is not None else -100
        high = item.max if item.max is not None else 100
        numbers = st.integers(low, high)
        return numbers | st.just("unknown") if item.allow_unknown else numbers
    if isinstance(item, DateItem):
        dates = st.dates(datetime.date(2000, 1, 1), datetime.date(2030, 12, 31)).map(datetime.date.isoformat)
        return dates | st.just("unknown") if item.allow_unknown else dates
    if isinstance(item, TextItem):
        return st.text(max_size=item.max_length)
    return st.sampled_from(["yes", "no", "unknown"])


@st.composite
def answer_sets(draw: st.DrawFn, compiled: CompiledRuleSet, noise: bool = False) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    required = compiled.validator.required_by_rules
    for item in compiled.questionnaire.items:
        optional = not item.required and item.id not in required
        if (noise or optional) and draw(st.integers(0, 9)) == 0:
            continue
        if noise and draw(st.integers(0, 9)) == 0:
            answers[item.id] = draw(json_values)
        else:
            answers[item.id] = draw(item_values(item))
    if not noise:  # leave out what the other answers do not ask, so that most drawn sets are valid
        for item in compiled.questionnaire.items:
            if item.enable_when is not None and not holds(item.enable_when, answers, {}):
                answers.pop(item.id, None)
    return answers


@PROPERTY_SETTINGS
@given(answer_sets(MINI, noise=True))
def test_generated_answer_check_agrees_with_the_validator(answers: dict[str, Any]) -> None:
    assert MINI.code.valid(answers) == (MINI.validate_answers(answers) == [])


@PROPERTY_SETTINGS
@given(answer_sets(MINI))
def test_evaluation_is_deterministic(answers: dict[str, Any]) -> None:
    assume(MINI.validate_answers(answers) == [])
    explain = {"trace", "counterfactuals"}
    first = canonical_json(MINI.evaluate(answers, explain=explain))
    shuffled = dict(reversed(list(answers.items())))
    assert canonical_json(MINI.evaluate(shuffled, explain=explain)) == first


def raised(compiled: CompiledRuleSet, item: Item, value: Any) -> list[Any]:
    """Answers one step higher along the item's risk order (more options selected for multi-choice)."""
    if value == "unknown" or value == ["unknown"]:
        return []
    if isinstance(item, MultiChoiceItem):
        codes = [option.code for option in item.options if option.code != "unknown"]
        current = value if isinstance(value, list) else []
        return [[c for c in codes if c in current or c == extra] for extra in codes if extra not in current]
    order = risk_order_of(compiled.ruleset, item)
    if isinstance(order, list):
        if value not in order:
            return [order[0]] if value is None else []
        position = order.index(value)
        return order[position + 1 : position + 2]
    if isinstance(item, IntegerItem) and isinstance(value, int):
        step = 1 if order == "rising" else -1
        return [value + step]
    return []


def check_monotone(compiled: CompiledRuleSet, answers: dict[str, Any], position: int) -> None:
    assume(compiled.validate_answers(answers) == [])
    before = compiled.decide(answers)[0]
    item = compiled.questionnaire.items[position % len(compiled.questionnaire.items)]
    for higher in raised(compiled, item, answers.get(item.id)):
        trial = {**answers, item.id: higher}
        if compiled.validate_answers(trial) == []:
            assert compiled.decide(trial)[0] >= before, (item.id, answers.get(item.id), higher)


@PROPERTY_SETTINGS
@given(answer_sets(MINI), st.integers(0, 1000))
def test_monotone_mini_rule_set_never_lowers_the_level(answers: dict[str, Any], position: int) -> None:
    check_monotone(MINI, answers, position)


@PROPERTY_SETTINGS
@given(answer_sets(PHQ9), st.integers(0, 1000))
def test_monotone_phq9_never_lowers_the_level(answers: dict[str, Any], position: int) -> None:
    check_monotone(PHQ9, answers, position)


@PROPERTY_SETTINGS
@given(answer_sets(DASH), st.integers(0, 1000))
def test_monotone_dash_never_lowers_the_level(answers: dict[str, Any], position: int) -> None:
    check_monotone(DASH, answers, position)


def firing_items(condition: Condition, answers: dict[str, Any], scores: dict[str, int]) -> list[str]:
    """Reference: the items of the leaves that made `condition` hold (satisfied branches of any / at_least)."""
    if isinstance(condition, AllCondition):
        return [item for child in condition.all for item in firing_items(child, answers, scores)]
    if isinstance(condition, AnyCondition | AtLeastCondition):
        branches = condition.any if isinstance(condition, AnyCondition) else condition.of
        return [i for c in branches if holds(c, answers, scores) for i in firing_items(c, answers, scores)]
    return items_read(condition)


@PROPERTY_SETTINGS
@given(st.sampled_from([MINI, PHQ9, DASH, PHQ9_PRORATED]).flatmap(lambda c: st.tuples(st.just(c), answer_sets(c))))
def test_generated_result_agrees_with_the_reference_semantics(case: tuple[CompiledRuleSet, dict[str, Any]]) -> None:
    compiled, answers = case
    assume(compiled.validate_answers(answers) == [])
    result = compiled.evaluate(answers, explain={"trace"})
    level, scores, fired = compiled.decide(answers)
    assert result["level"] == compiled.ruleset.levels[level]
    assert result["trace"] == compiled.trace(answers, scores, fired)
    assert compiled.evaluate(answers) == {key: value for key, value in result.items() if key != "trace"}
    conditions = {rule.id: rule.when for rule in [*compiled.ruleset.triggers, *compiled.ruleset.floors]}
    for score in compiled.ruleset.scores:
        conditions |= {term.id: term.when for term in score.terms or [] if isinstance(term, ConditionTerm)}
    for reason in result["reasons"]:
        if reason["rule_id"] in conditions:
            expected = firing_items(conditions[reason["rule_id"]], answers, result["scores"])
            assert reason["items"] == list(dict.fromkeys(expected))
