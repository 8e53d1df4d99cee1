"""Static checks cost what the document's size says, never what its numbers say; a counted step budget bounds them.

The monotonicity proof of an integer condition is checked against a brute-force oracle: the numbers a case uses
are first mapped onto a small line that keeps their order and which of them are adjacent (coordinate compression),
which keeps the verdict, so cases with bounds near 2**63 are judged by enumerating a few dozen values.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.content import default_questionnaire, default_ruleset
from app.scoring import (
    Issue,
    Questionnaire,
    RuleSet,
    StepBudget,
    WorkLimitExceeded,
    check,
    compile_ruleset,
    parse_questionnaire,
    parse_ruleset,
    run_tests,
)
from app.scoring.monotonicity import value_intervals

HUGE = [2**63, -(2**63), 2**63 - 1, 9007199254740991, -9007199254740991, 10**30, 0, 1, -1]
PEAK_BYTES = 2 * 1024 * 1024


def integer_documents(
    low: int | None, high: int | None, order: str, condition: dict[str, Any], monotone: bool = True
) -> tuple[RuleSet, Questionnaire]:
    """A one-item questionnaire and a rule set whose floor reads the integer item `n` with `condition`."""
    item: dict[str, Any] = {"id": "n", "section": "s", "type": "integer", "question": "N"}
    item |= {name: value for name, value in (("min", low), ("max", high)) if value is not None}
    return one_item_documents("bounded", item, {"n": order}, [{"q": "n", **condition}], monotone=monotone)


def one_item_documents(
    key: str, item: dict[str, Any], risk_order: dict[str, Any], floors: list[dict[str, Any]], monotone: bool = True
) -> tuple[RuleSet, Questionnaire]:
    """A questionnaire of one item and a rule set with a floor (to high) for each condition in `floors`."""
    questionnaire = parse_questionnaire(
        {"key": key, "version": 1, "title": "t", "sections": [{"id": "s", "title": "S"}], "items": [item]}
    )
    ruleset = parse_ruleset(
        {
            "key": f"{key}-rules",
            "version": 1,
            "title": "t",
            "questionnaire": {"key": key, "version": 1},
            "levels": ["low", "high"],
            "disclaimer": "d",
            "monotone": monotone,
            "risk_order": risk_order,
            "floors": [
                {"id": f"F{i}", "when": when, "level": "high", "reason": "r", "source": "s"}
                for i, when in enumerate(floors)
            ],
        }
    )
    return ruleset, questionnaire


def integer_case(low: int | None, high: int | None, order: str, condition: dict[str, Any]) -> list[Issue]:
    """The issues of `integer_documents` (monotone), checked under a bounded tracemalloc peak."""
    ruleset, questionnaire = integer_documents(low, high, order, condition)
    tracemalloc.start()
    try:
        issues = check(ruleset, questionnaire)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"the check allocated {peak} bytes"
    return issues


def compress(numbers: list[int]) -> dict[int, int]:
    """Order-preserving map onto a short line that keeps adjacent numbers adjacent and a gap between the others."""
    line: dict[int, int] = {}
    previous: int | None = None
    for number in sorted(set(numbers)):
        line[number] = 0 if previous is None else line[previous] + (1 if number == previous + 1 else 2)
        previous = number
    return line


def oracle(low: int | None, high: int | None, order: str, op: str, operand: Any) -> str | None:
    """The expected message fragment (None: monotone), by enumerating the values on the compressed line."""
    if op == "between" and operand[0] > operand[1]:
        return "is empty (low > high)"
    rising = order == "rising"
    if (rising and high is None) or (not rising and low is None):
        return "is not upward-closed"
    numbers = [v for v in (low, high) if v is not None] + (
        list(operand) if isinstance(operand, list | tuple) else [operand]
    )
    line = compress(numbers)
    if op == "between":
        values = set(range(line[operand[0]], line[operand[1]] + 1))
    else:
        values = {line[v] for v in (operand if op == "in" else [operand])}
    needed = set(range(min(values), line[high] + 1)) if rising else set(range(line[low], max(values) + 1))  # type: ignore[index]
    return None if needed <= values else "does not include every value beyond it"


def number() -> st.SearchStrategy[int]:
    small = st.integers(min_value=-6, max_value=6)
    return st.one_of(small, st.sampled_from(HUGE), st.builds(lambda base, k: base + k, st.sampled_from(HUGE), small))


@st.composite
def integer_cases(draw: st.DrawFn) -> tuple[int | None, int | None, str, str, Any]:
    low, high = draw(st.one_of(st.none(), number())), draw(st.one_of(st.none(), number()))
    if low is not None and high is not None and low > high:
        low, high = high, low
    op = draw(st.sampled_from(["eq", "in", "between"]))
    if op == "eq":
        operand: Any = draw(number())
    elif op == "in":
        operand = draw(st.lists(number(), min_size=1, max_size=8))
    else:
        operand = [draw(number()), draw(number())]  # inverted pairs too
    return low, high, draw(st.sampled_from(["rising", "falling"])), op, operand


@settings(deadline=None, max_examples=50)
@given(integer_cases())
def test_integer_conditions_are_judged_like_the_brute_force_oracle_at_any_magnitude(
    case: tuple[int | None, int | None, str, str, Any],
) -> None:
    low, high, order, op, operand = case
    issues = integer_case(low, high, order, {op: operand})
    expected = oracle(low, high, order, op, operand)
    if expected is None:
        assert issues == []
    else:
        assert [issue.pointer for issue in issues] == [f"/floors/0/when/{op}"], issues
        assert expected in issues[0].message


@pytest.mark.parametrize(
    ("low", "high", "order", "condition", "monotone"),
    [
        # the reported attack: a 2**53 wide range on a falling item from 0 (the whole range is needed: monotone)
        (0, 17, "falling", {"between": [0, 9007199254740991]}, True),
        (1, 17, "falling", {"between": [0, 9007199254740991]}, True),
        (0, 17, "falling", {"between": [1, 2**63]}, False),
        (0, 2**63, "rising", {"between": [-(2**63), 2**63]}, True),
        (0, 2**63, "rising", {"between": [5, 2**63 - 1]}, False),
        (-(2**63), 2**63, "falling", {"in": [-(2**63), -(2**63) + 1, -(2**63) + 2]}, True),
        (-(2**63), 2**63, "falling", {"in": [-(2**63), -(2**63) + 2]}, False),
        (0, 2**63, "rising", {"eq": 2**63}, True),
        (0, 2**63, "rising", {"eq": 2**63 - 1}, False),
    ],
)
def test_huge_ranges_are_proved_without_enumerating_them(
    low: int, high: int, order: str, condition: dict[str, Any], monotone: bool
) -> None:
    issues = integer_case(low, high, order, condition)
    assert (issues == []) is monotone, issues


def test_in_lists_become_merged_intervals() -> None:
    assert value_intervals("in", [5, 3, 4, 9, 9, 2**63, 2**63 - 1]) == [(3, 5), (9, 9), (2**63 - 1, 2**63)]
    assert value_intervals("eq", 7) == [(7, 7)]
    assert value_intervals("between", [0, 2**63]) == [(0, 2**63)]
    assert value_intervals("between", [2, 1]) == []


def test_a_long_risk_order_costs_linear_work() -> None:
    """`in` on the top of a 1,000-answer order: one comparison of the tail, not a set per position."""
    codes = [f"c{i}" for i in range(1000)]
    item = {
        "id": "c",
        "section": "s",
        "type": "single_choice",
        "question": "C",
        "options": [{"code": code, "label": code} for code in codes],
    }
    when = [{"q": "c", "in": codes[k:]} for k in range(0, 1000, 10)] + [{"q": "c", "in": ["c0", "c999"]}]
    ruleset, questionnaire = one_item_documents("long-order", item, {"c": codes}, when)
    tracemalloc.start()
    try:
        issues = check(ruleset, questionnaire)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [issue.pointer for issue in issues] == ["/floors/100/when/in"]
    assert "not the top of the risk order" in issues[0].message
    assert peak < PEAK_BYTES


# --- the step budget ---------------------------------------------------------------------------------------


def default_documents() -> tuple[Any, Any]:
    return parse_ruleset(default_ruleset()), parse_questionnaire(default_questionnaire())


def default_content_under(limit: int) -> tuple[int, WorkLimitExceeded | None]:
    """The static checks then the embedded tests of the default content under a budget of `limit` steps: the steps
    used and the refusal, if the budget ran out."""
    ruleset, questionnaire = default_documents()
    budget = StepBudget(limit)
    refusal = None
    try:
        assert check(ruleset, questionnaire, budget) == []
        run_tests(compile_ruleset(ruleset, questionnaire), budget)
    except WorkLimitExceeded as exc:
        refusal = exc
    return budget.used, refusal


def steps_to_check(limit: int) -> tuple[int, str | None]:
    used, refusal = default_content_under(limit)
    if refusal is None:
        return used, None
    assert refusal.limit == limit
    message = f"the rule set needs more than {limit} checking steps (limit {limit})"
    assert refusal.issues == [Issue(refusal.pointer, message)]
    return used, refusal.pointer


def test_the_step_count_is_deterministic_and_the_default_content_fits_with_a_wide_margin() -> None:
    used, stopped_at = steps_to_check(10**9)
    assert stopped_at is None
    assert steps_to_check(10**9) == (used, None)
    assert 0 < used * 20 < 1_000_000  # the default limit (RISKAPI_RULESET_CHECK_MAX_STEPS)


@pytest.mark.parametrize(("limit", "where"), [(100, "/questionnaire"), (200, "/scores/"), (10_000, "/tests/")])
def test_the_budget_stops_the_work_where_it_runs_out(limit: int, where: str) -> None:
    first = steps_to_check(limit)
    assert first == steps_to_check(limit)
    _used, pointer = first
    assert pointer is not None
    assert pointer.startswith(where)


def test_embedded_tests_cost_their_evaluations() -> None:
    """A thousand embedded tests of a large rule set are refused by count before they are run, not timed out."""
    ruleset_doc = default_ruleset()
    ruleset_doc["tests"] = [dict(ruleset_doc["tests"][0], name=f"t{i}") for i in range(1000)]
    ruleset, questionnaire = parse_ruleset(ruleset_doc), parse_questionnaire(default_questionnaire())
    compiled = compile_ruleset(ruleset, questionnaire)
    budget = StepBudget(100_000)
    with pytest.raises(WorkLimitExceeded) as raised:
        run_tests(compiled, budget)
    stopped = int(raised.value.pointer.removeprefix("/tests/"))
    assert stopped == 100_000 // compiled.evaluation_steps
    assert budget.used == (stopped + 1) * compiled.evaluation_steps


# --- scores that read scores --------------------------------------------------------------------------------

LARGEST = 9007199254740991


def score_chain(length: int, times: int) -> dict[str, Any]:
    """The default rule set plus a score that adds LARGEST, then `length` scores each `times` the one before; the
    first embedded test expects the last of them to be 0."""
    doc = default_ruleset()
    doc["scores"].append(
        {
            "id": "seed",
            "purpose": "reporting",
            "terms": [{"id": "seed_term", "when": {"q": "child_age_years", "answered": True}, "add": LARGEST}],
        }
    )
    previous = "seed"
    for index in range(length):
        term = {"id": f"chain_term{index}", "score": previous, "times": times}
        doc["scores"].append({"id": f"chain{index}", "purpose": "reporting", "terms": [term]})
        previous = f"chain{index}"
    doc["tests"][0]["expect"]["scores"] = {previous: 0}
    return doc


def test_a_score_that_can_pass_the_largest_number_is_refused_where_it_first_does() -> None:
    """300 scores each multiplying the one before by 2**53 - 1 reach 4,800 digits: more than a result may carry
    (and than Python turns into text). The checker bounds each score from its weights instead of computing it."""
    doc = score_chain(300, LARGEST)
    first_chain = len(default_ruleset()["scores"]) + 1
    issues = check(parse_ruleset(doc), parse_questionnaire(default_questionnaire()))
    assert [issue.pointer for issue in issues] == [f"/scores/{first_chain}"]
    assert f"can reach more than {LARGEST}" in issues[0].message
    assert "'chain0'" in issues[0].message


def test_scores_up_to_the_largest_number_are_accepted() -> None:
    doc = score_chain(60, 1)
    ruleset, questionnaire = parse_ruleset(doc), parse_questionnaire(default_questionnaire())
    assert check(ruleset, questionnaire) == []
    outcome = run_tests(compile_ruleset(ruleset, questionnaire))[0]
    assert not outcome.passed
    assert f"score chain59: expected 0, got {LARGEST}" in outcome.failures


def test_counterfactuals_try_the_boundaries_a_huge_range_names_not_its_values() -> None:
    ruleset, questionnaire = integer_documents(0, LARGEST, "rising", {"between": [1, LARGEST]}, monotone=False)
    compiled = compile_ruleset(ruleset, questionnaire)
    tracemalloc.start()
    try:
        result = compiled.evaluate({"n": 0}, explain=frozenset({"counterfactuals"}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(change["to"], change["level"]) for change in result["counterfactuals"]] == [(1, "high")]
    assert peak < PEAK_BYTES
