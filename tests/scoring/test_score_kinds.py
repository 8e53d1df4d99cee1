"""Mean and prorated scores, `min_answered`, `rounding` and `decimals` (docs/rule-language.md, "Scores")."""

from __future__ import annotations

import copy
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.scoring import (
    AnswerError,
    CompiledRuleSet,
    DefinitionError,
    Issue,
    check,
    compile_ruleset,
    parse_questionnaire,
    parse_ruleset,
    run_tests,
)
from app.scoring.models import PointsTerm
from app.scoring.requirements import TOO_FEW_ANSWERED
from app.scoring.rounding import ROUNDING
from tests.scoring.conftest import load_pair

Doc = dict[str, Any]
OFTEN = [{"code": c, "label": c.title()} for c in ("never", "sometimes", "often", "unknown")]
POINTS = {"never": 0, "sometimes": 1, "often": 2}

SCALE_QUESTIONNAIRE: Doc = {
    "key": "scale",
    "version": 1,
    "title": "A four-item scale",
    "sections": [{"id": "main", "title": "Main"}],
    "items": [
        *({"id": f"s{n}", "section": "main", "type": "single_choice", "question": f"Item {n}", "options": OFTEN}
          for n in range(1, 5)),
        {"id": "worry", "section": "main", "type": "yes_no_unknown", "question": "Worried?"},
    ],
}  # fmt: skip


def _terms(prefix: str) -> list[Doc]:
    return [
        {"id": f"{prefix}{n}", "q": f"s{n}", "points": POINTS, "reason": f"Item {n}", "source": "S"}
        for n in range(1, 5)
    ]


SCALE_RULESET: Doc = {
    "key": "scale-rules",
    "version": 1,
    "title": "Scale",
    "questionnaire": {"key": "scale", "version": 1},
    "levels": ["low", "high"],
    "disclaimer": "d",
    "monotone": True,
    "risk_order": {f"s{n}": ["never", "sometimes", "often"] for n in range(1, 5)},
    "scores": [
        {"id": "avg", "kind": "mean", "min_answered": 2, "rounding": "half_up", "decimals": 2, "terms": _terms("a")},
        {"id": "pro", "kind": "prorated", "min_answered": 2, "rounding": "half_even", "terms": _terms("p")},
        {"id": "plain", "decimals": 1, "terms": [{"id": "w", "when": {"q": "worry", "eq": "yes"}, "add": 3,
                                                 "reason": "Worried", "source": "S"}]},
        {"id": "twice_avg", "purpose": "reporting", "terms": [{"id": "t", "score": "avg", "times": 2}]},
    ],
    "bands": [
        {"score": "pro", "gte": 0, "lt": 5, "level": "low", "reason": "Low", "source": "S"},
        {"score": "pro", "gte": 5, "level": "high", "reason": "High", "source": "S"},
    ],
}  # fmt: skip


def scale_ruleset() -> Doc:
    return copy.deepcopy(SCALE_RULESET)


def compile_scale(ruleset: Doc | None = None) -> CompiledRuleSet:
    return compile_ruleset(parse_ruleset(ruleset or SCALE_RULESET), parse_questionnaire(SCALE_QUESTIONNAIRE))


def scale_issues(mutate: Callable[[Doc], None]) -> list[Issue]:
    doc = scale_ruleset()
    mutate(doc)
    return check(parse_ruleset(doc), parse_questionnaire(SCALE_QUESTIONNAIRE))


SCALE = compile_scale()
PRORATED = compile_ruleset(*load_pair("phq9_prorated"))


# --- values ---------------------------------------------------------------------------------------------------


def _exact_round(value: Fraction, rounding: str) -> int:
    """Reference rounding on exact fractions (never floats)."""
    floor = value.numerator // value.denominator
    rest = value - floor
    if rounding == "floor":
        return floor
    if rounding == "ceiling":
        return floor + (rest > 0)
    if rest != Fraction(1, 2):
        return floor + (rest > Fraction(1, 2))
    return floor + 1 if rounding == "half_up" else floor + floor % 2


@given(st.integers(0, 10**6), st.integers(1, 1000), st.sampled_from(sorted(ROUNDING)))
def test_integer_rounding_agrees_with_exact_fractions(numerator: int, denominator: int, rounding: str) -> None:
    assert ROUNDING[rounding](numerator, denominator) == _exact_round(Fraction(numerator, denominator), rounding)


@pytest.mark.parametrize(
    ("rounding", "halves"),
    [("half_up", [1, 2, 3, 4]), ("half_even", [0, 2, 2, 4]), ("floor", [0, 1, 2, 3]), ("ceiling", [1, 2, 3, 4])],
)
def test_each_rounding_rule_on_halves(rounding: str, halves: list[int]) -> None:
    assert [ROUNDING[rounding](2 * n + 1, 2) for n in range(4)] == halves  # 0.5, 1.5, 2.5, 3.5


def test_mean_and_prorated_scores_count_only_answered_items() -> None:
    # 1 + 2 over three answered items (s4 unanswered): mean 1.0, prorated 3 x 4 / 3 = 4
    result = SCALE.evaluate({"s1": "never", "s2": "sometimes", "s3": "often"})
    assert result["scores"]["avg"] == 100
    assert result["scores"]["pro"] == 4
    # "unknown" counts as unanswered: 3 over two items, mean 1.5, prorated 6
    result = SCALE.evaluate({"s1": "sometimes", "s2": "often", "s3": "unknown", "s4": "unknown"})
    assert (result["scores"]["avg"], result["scores"]["pro"]) == (150, 6)
    assert result["score_decimals"] == {"avg": 2, "plain": 1}


def test_rounding_of_a_prorated_score_and_decimals_of_a_mean() -> None:
    # 1 + 1 + 2 over three items: mean 1.3333 -> 133 (2 decimals, half up); prorated 16 / 3 = 5.33 -> 5
    result = SCALE.evaluate({"s1": "sometimes", "s2": "sometimes", "s3": "often"})
    assert (result["scores"]["avg"], result["scores"]["pro"]) == (133, 5)
    # 1 point over two items: mean 0.5 -> 50, prorated 1 x 4 / 2 = 2 exactly
    result = SCALE.evaluate({"s1": "sometimes", "s2": "never"})
    assert (result["scores"]["avg"], result["scores"]["pro"]) == (50, 2)


@pytest.mark.parametrize(
    ("rounding", "expected"), [("half_up", (1, 2)), ("half_even", (0, 2)), ("floor", (0, 1)), ("ceiling", (1, 2))]
)
def test_a_half_is_rounded_as_declared(rounding: str, expected: tuple[int, int]) -> None:
    doc = scale_ruleset()
    doc["scores"][0].update(decimals=0, rounding=rounding)
    compiled = compile_scale(doc)
    half = compiled.evaluate({"s1": "sometimes", "s2": "never"})["scores"]["avg"]  # 1 / 2 = 0.5
    one_and_a_half = compiled.evaluate({"s1": "often", "s2": "sometimes"})["scores"]["avg"]  # 3 / 2 = 1.5
    assert (half, one_and_a_half) == expected


def test_a_sum_with_decimals_is_scaled_and_read_scaled() -> None:
    result = SCALE.evaluate({"s1": "often", "s2": "often", "worry": "yes"})
    assert result["scores"]["plain"] == 30  # 3 points, one decimal
    assert result["scores"]["avg"] == 200
    assert result["scores"]["twice_avg"] == 400  # a score term reads the stored (scaled) integer


def test_the_prorated_fixture_passes_its_embedded_tests() -> None:
    outcomes = run_tests(PRORATED)
    assert [outcome.failures for outcome in outcomes] == [[], [], []]
    assert len(outcomes) == 3


def _reference_scores(compiled: CompiledRuleSet, answers: dict[str, Any]) -> dict[str, int]:
    """The mean and prorated scores of `compiled` computed with fractions from the rule set's definition."""
    found = {}
    for score in compiled.ruleset.scores:
        if score.kind == "sum":
            continue
        assert score.rounding is not None
        terms = [term for term in score.terms or [] if isinstance(term, PointsTerm)]
        answered = [t for t in terms if answers.get(t.q) not in (None, "unknown")]
        value = Fraction(sum(t.points.get(answers[t.q], 0) for t in answered), len(answered))
        if score.kind == "prorated":
            value *= len(terms)
        found[score.id] = _exact_round(value * 10**score.decimals, score.rounding)
    return found


def _phq9_answers() -> st.SearchStrategy[dict[str, Any]]:
    codes = st.sampled_from(["not_at_all", "several_days", "more_than_half", "nearly_every_day"])
    items = [item.id for item in PRORATED.questionnaire.items if item.id.startswith("phq9_")]
    return st.fixed_dictionaries(
        {"phq9_9_self_harm_thoughts": codes},  # read by a trigger: required
        optional={item: codes for item in items if item != "phq9_9_self_harm_thoughts"},
    )


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _with_impact(answers: dict[str, Any]) -> dict[str, Any]:
    """`functional_difficulty` answered where it is asked (when a symptom is reported)."""
    if any(value != "not_at_all" for value in answers.values()):
        return {**answers, "functional_difficulty": "somewhat"}
    return answers


@PROPERTY
@given(_phq9_answers().map(_with_impact))
def test_generated_scores_agree_with_exact_fractions(answers: dict[str, Any]) -> None:
    if PRORATED.validate_answers(answers):
        assert not PRORATED.code.valid(answers)
        assert sum(1 for key in answers if key.startswith("phq9_")) < 7
        return
    assert PRORATED.code.valid(answers)
    result = PRORATED.evaluate(answers, explain={"trace"})
    assert {k: result["scores"][k] for k in ("total", "item_mean")} == _reference_scores(PRORATED, answers)
    level, scores, fired = PRORATED.decide(answers)
    assert result["level"] == PRORATED.ruleset.levels[level]
    assert result["trace"] == PRORATED.trace(answers, scores, fired)
    band = next(b for b in PRORATED.ruleset.scores[0].bands or [] if b.gte <= scores[0] < (b.lt or 10**9))
    assert result["score_bands"] == {"total": {"code": band.code, "label": band.label}}


@PROPERTY
@given(_phq9_answers().map(_with_impact), st.integers(0, 8), st.data())
def test_raising_an_answer_with_the_same_items_answered_never_lowers_the_level(
    answers: dict[str, Any], position: int, data: st.DataObject
) -> None:
    """The monotonicity the proof promises for a prorated score: answer-to-answer moves along the risk order
    (answering an unanswered item is not comparable: it can lower a mean)."""
    if PRORATED.validate_answers(answers):
        return
    item = PRORATED.questionnaire.items[position]
    order = PRORATED.ruleset.risk_order[item.id]
    current = answers.get(item.id)
    if current is None or current == order[-1]:
        return
    assert isinstance(order, list)
    higher = data.draw(st.sampled_from(order[order.index(current) + 1 :]))
    raised = _with_impact({key: value for key, value in answers.items() if key != "functional_difficulty"}
                          | {item.id: higher})  # fmt: skip
    assert PRORATED.validate_answers(raised) == []
    before = PRORATED.decide(answers)
    after = PRORATED.decide(raised)
    assert after[0] >= before[0]
    assert after[1] >= before[1]


def test_answering_an_unanswered_item_can_lower_a_mean() -> None:
    """Why the proof treats unanswered as not comparable with an answer for a mean's items (docs say so)."""
    base = {"s1": "often", "s2": "often"}
    assert SCALE.evaluate(base)["scores"]["avg"] == 200
    assert SCALE.evaluate({**base, "s3": "never"})["scores"]["avg"] == 133


def test_explanations_work_with_mean_and_prorated_scores() -> None:
    answers = {"phq9_1_interest": "several_days", "phq9_2_mood": "several_days", "phq9_3_sleep": "several_days",
               "phq9_4_energy": "several_days", "phq9_5_appetite": "not_at_all", "phq9_6_self_view": "not_at_all",
               "phq9_7_concentration": "not_at_all", "phq9_9_self_harm_thoughts": "not_at_all",
               "functional_difficulty": "somewhat"}  # fmt: skip
    result = PRORATED.evaluate(answers, explain={"trace", "counterfactuals"})
    assert result["level"] == "mild"
    assert [e["contribution"] for e in result["trace"] if e["id"].startswith("item_")] == [1, 1, 1, 1]
    changes = {(c["item"], c["to"]): c["level"] for c in result["counterfactuals"]}
    assert changes[("phq9_1_interest", "not_at_all")] == "minimal"  # 3 x 9 / 8 = 3.4 -> 3
    for change in result["counterfactuals"]:  # every suggested answer set is one the service accepts
        assert PRORATED.validate_answers({**answers, change["item"]: change["to"]}) == []


# --- min_answered -----------------------------------------------------------------------------------------------


def test_too_few_answered_items_are_refused_by_both_checks() -> None:
    answers = {"s1": "often", "s2": "unknown"}
    assert not SCALE.code.valid(answers)
    assert not SCALE.is_valid(answers)
    with pytest.raises(AnswerError) as caught:
        SCALE.evaluate(answers)
    messages = {(issue.pointer, issue.message) for issue in caught.value.issues}
    assert messages == {
        ("/s2", f"{TOO_FEW_ANSWERED}: score 'avg' needs at least 2 of its 4 items (s1, s2, s3, s4) answered other "
                'than "unknown"; 1 is'),
        ("/s2", f"{TOO_FEW_ANSWERED}: score 'pro' needs at least 2 of its 4 items (s1, s2, s3, s4) answered other "
                'than "unknown"; 1 is'),
    }  # fmt: skip
    with pytest.raises(AnswerError):
        SCALE.evaluate({})


def test_every_item_answered_but_too_many_unknown_is_refused_by_the_fast_path_too() -> None:
    answers = {"s1": "unknown", "s2": "unknown", "s3": "unknown", "s4": "often", "worry": "no"}
    assert not SCALE.code.valid(answers)
    assert SCALE.validate_answers(answers)[0].pointer == "/s1"
    assert SCALE.code.valid({**answers, "s3": "never"})


@PROPERTY
@given(st.dictionaries(st.sampled_from(["s1", "s2", "s3", "s4", "worry"]), st.sampled_from(
    ["never", "sometimes", "often", "unknown", "yes", "no", None, 3])))  # fmt: skip
def test_the_generated_check_agrees_with_the_validator_on_min_answered(answers: dict[str, Any]) -> None:
    assert SCALE.code.valid(answers) == (SCALE.validate_answers(answers) == [])


def test_embedded_test_answers_with_too_few_items_are_a_static_issue() -> None:
    def mutate(doc: Doc) -> None:
        doc["tests"] = [{"name": "t", "answers": {"s1": "often"}, "expect": {"level": "low"}}]

    issues = scale_issues(mutate)
    assert [issue.pointer for issue in issues] == ["/tests/0/answers/s2", "/tests/0/answers/s2"]
    assert TOO_FEW_ANSWERED in issues[0].message


# --- checker --------------------------------------------------------------------------------------------------


def _score(index: int, **changes: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["scores"][index].update(changes)
        for key, value in changes.items():
            if value is None:
                del doc["scores"][index][key]

    return mutate


def _add_condition_term(doc: Doc) -> None:
    doc["scores"][0]["terms"].append({"id": "x", "when": {"q": "worry", "eq": "yes"}, "add": 1, "reason": "r",
                                      "source": "s"})  # fmt: skip


def _read_twice(doc: Doc) -> None:
    doc["scores"][0]["terms"].append({**doc["scores"][0]["terms"][0], "id": "again"})


def _subtotal_of_mean(doc: Doc) -> None:
    doc["scores"].append({"id": "part", "purpose": "reporting", "subtotal_of": "avg", "items": ["s1"]})


def _mean_subtotal(doc: Doc) -> None:
    doc["scores"].append({"id": "part", "kind": "mean", "min_answered": 1, "rounding": "floor",
                          "purpose": "reporting", "subtotal_of": "plain", "items": ["worry"]})  # fmt: skip


def _unknown_reads_as(doc: Doc) -> None:
    doc["unknown_reads_as"] = {"s1": "most_concerning"}


@pytest.mark.parametrize(
    ("mutate", "pointer", "fragment"),
    [
        (_score(0, min_answered=None), "/scores/0", "needs min_answered"),
        (_score(0, rounding=None), "/scores/0", "needs rounding"),
        (_score(0, min_answered=5), "/scores/0/min_answered", "more than the score's 4 item(s)"),
        (_add_condition_term, "/scores/0/terms/4", "takes only `q` + `points` terms"),
        (_read_twice, "/scores/0/terms/4/q", "already read by /scores/0/terms/0"),
        (_score(2, min_answered=1), "/scores/2/min_answered", "not to a sum"),
        (_score(2, rounding="floor"), "/scores/2/rounding", "a sum is exact"),
        (_subtotal_of_mean, "/scores/4/subtotal_of", "'avg' is a mean score"),
        (_mean_subtotal, "/scores/4/subtotal_of", "needs its own terms"),
        (_unknown_reads_as, "/scores/0/terms/0/q", "counts only answers other than unknown"),
    ],
)
def test_score_kind_checks(mutate: Callable[[Doc], None], pointer: str, fragment: str) -> None:
    issues = scale_issues(mutate)
    assert any(issue.pointer == pointer and fragment in issue.message for issue in issues), issues


def test_a_mean_term_reads_an_item_of_the_questionnaire_with_points() -> None:
    def mutate(doc: Doc) -> None:
        doc["scores"][0]["terms"][0]["q"] = "nope"

    assert Issue("/scores/0/terms/0/q", "unknown item 'nope'") in scale_issues(mutate)


def test_the_largest_score_accounts_for_decimals() -> None:
    largest = 2**53 - 1

    def points(value: int, decimals: int, kind: str = "prorated") -> Callable[[Doc], None]:
        def mutate(doc: Doc) -> None:
            doc["scores"][1]["kind"] = kind
            doc["scores"][1]["decimals"] = decimals
            for term in doc["scores"][1]["terms"]:
                term["points"] = {"never": 0, "sometimes": 1, "often": value}

        return mutate

    too_big = [i for i in scale_issues(points(largest // 4 + 1, 0)) if "can reach more than" in i.message]
    assert [i.pointer for i in too_big] == ["/scores/1"]  # prorated: 4 items x the largest points
    assert not [i for i in scale_issues(points(largest // 4, 0)) if "can reach more than" in i.message]
    assert not [i for i in scale_issues(points(largest // 4, 0, "mean")) if "can reach more than" in i.message]
    scaled = [i for i in scale_issues(points(largest // 400 + 1, 2)) if "can reach more than" in i.message]
    assert [i.pointer for i in scaled] == ["/scores/1"]
    assert "or its decimals" in scaled[0].message
    assert not [i for i in scale_issues(points(largest // 400, 2)) if "can reach more than" in i.message]


def test_the_scale_fixture_is_clean_and_monotone() -> None:
    assert scale_issues(lambda doc: None) == []


def test_mean_points_that_fall_along_the_order_are_not_monotone() -> None:
    def mutate(doc: Doc) -> None:
        doc["scores"][1]["terms"][0]["points"] = {"never": 2, "sometimes": 1, "often": 0}

    assert any(issue.message.startswith("not monotone") for issue in scale_issues(mutate))


@pytest.mark.parametrize("decimals", [-1, 7])
def test_decimals_are_between_0_and_6(decimals: int) -> None:
    doc = scale_ruleset()
    doc["scores"][0]["decimals"] = decimals
    with pytest.raises(DefinitionError):
        parse_ruleset(doc)
