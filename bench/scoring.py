"""Scoring benchmark: compile time and µs per evaluation, against a hand-written function and two peers.

Run: .venv/bin/python bench/scoring.py   (prints tables; asserts only that every peer agrees with the engine)

The "hand-written" function is the straight-line Python a developer would write for the same synthetic
rules (`if a.get("y3") == "yes": total += 2`, no trace, no validation); the bench emits it from the same
rule list so that 60 and 200 rules need not be typed, but it shares no code with the compiler. Every "vs hand"
ratio is against it. A second hand-written function, emitted the same way, also builds the whole result object
`evaluate()` returns (reasons, triggers, actions, gaps...; fresh dicts and lists, no answer validation) and must
equal the engine's result for every input: it shows what the result object itself costs in hand-written Python.
Two more give a lower bound for plain `evaluate()`: the decision plus the information gaps, then plus the
reasons, written the fastest way measured and doing less than `evaluate()` must (no answer check, no result
dict); each must agree with the engine's gaps and reason order. "engine answer check alone" is the generated
check that plain `evaluate()` runs first. A few rows are timed again on one answer set repeated: the branches
that depend on the answers are then predictable, which shows how much of a ratio they make.

Timing: the functions of a table take turns, round after round (so that load from other processes on this shared
machine falls on all of them alike); each round times single calls (`calls` per function, inputs cycled), and a
row shows the median of its per-round medians, the p99 of all its calls, and the lowest and highest round median.
The garbage collector stays on: its cost is part of building results.
"""

from __future__ import annotations

import operator
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json_logic
import zen

from app.scoring import (
    ENGINE_VERSION,
    compile_ruleset,
    load_document,
    parse_questionnaire,
    parse_ruleset,
)
from app.scoring.evaluator import _checked_and_compiled

YES_NO_ITEMS, INTEGER_ITEMS, CHOICE_ITEMS = 40, 5, 5
CONTENT = Path(__file__).resolve().parents[1] / "app" / "content"


def synthetic(rule_count: int, seed: int = 7) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Questionnaire, rule set, and the flat rule list (kind, condition, weight/level) behind both."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = [
        {"id": f"y{i}", "section": "s", "type": "yes_no_unknown", "question": f"Q y{i}"} for i in range(YES_NO_ITEMS)
    ]
    items += [
        {"id": f"n{i}", "section": "s", "type": "integer", "question": f"Q n{i}", "min": 0, "max": 100}
        for i in range(INTEGER_ITEMS)
    ]
    items += [
        {
            "id": f"c{i}",
            "section": "s",
            "type": "single_choice",
            "question": f"Q c{i}",
            "options": [{"code": code, "label": code} for code in ("a", "b", "c", "d")],
        }
        for i in range(CHOICE_ITEMS)
    ]
    questionnaire = {
        "key": "bench-q",
        "version": 1,
        "title": "Bench",
        "sections": [{"id": "s", "title": "S"}],
        "items": items,
    }

    def leaf() -> dict[str, Any]:
        kind = rng.random()
        if kind < 0.7:
            return {"q": f"y{rng.randrange(YES_NO_ITEMS)}", "eq": "yes"}
        if kind < 0.85:
            return {"q": f"n{rng.randrange(INTEGER_ITEMS)}", "gte": rng.randrange(10, 90)}
        return {"q": f"c{rng.randrange(CHOICE_ITEMS)}", "in": ["c", "d"]}

    def condition() -> dict[str, Any]:
        shape = rng.random()
        if shape < 0.5:
            return leaf()
        if shape < 0.8:
            return {"all": [leaf(), leaf()]}
        return {"any": [leaf(), leaf(), leaf()]}

    trigger_count = max(1, rule_count // 10)
    term_count = rule_count - trigger_count - 3
    rules: list[dict[str, Any]] = []
    for k in range(term_count):
        rules.append({"kind": "term", "id": f"t{k}", "when": condition(), "add": 1 + k % 3})
    for k in range(trigger_count):
        rules.append({"kind": "trigger", "id": f"T{k}", "when": {"all": [leaf(), leaf()]}, "level": 2 + k % 2})
    ruleset = {
        "key": f"bench-{rule_count}",
        "version": 1,
        "title": "Bench",
        "questionnaire": {"key": "bench-q", "version": 1},
        "levels": ["low", "medium", "high", "immediate"],
        "disclaimer": "d",
        "actions": [{"id": "act", "title": "Act", "who": "x", "urgency": "now"}],
        "scores": [
            {
                "id": "total",
                "terms": [
                    {"id": r["id"], "when": r["when"], "add": r["add"], "reason": "r", "source": "s"}
                    for r in rules
                    if r["kind"] == "term"
                ],
            }
        ],
        "bands": [
            {"score": "total", "gte": 0, "lt": 10, "level": "low"},
            {"score": "total", "gte": 10, "lt": 25, "level": "medium"},
            {"score": "total", "gte": 25, "level": "high"},
        ],
        "triggers": [
            {
                "id": r["id"],
                "when": r["when"],
                "level": ["low", "medium", "high", "immediate"][r["level"]],
                "reason": "r",
                "source": "s",
                "actions": ["act"],
            }
            for r in rules
            if r["kind"] == "trigger"
        ],
    }
    return questionnaire, ruleset, rules


def answers_for(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    answers: dict[str, Any] = {f"y{i}": rng.choice(["yes", "no", "no", "unknown"]) for i in range(YES_NO_ITEMS)}
    answers |= {f"n{i}": rng.randrange(0, 101) for i in range(INTEGER_ITEMS)}
    answers |= {f"c{i}": rng.choice("abcd") for i in range(CHOICE_ITEMS)}
    return answers


# --- the same rules written by hand, in zen expressions, and in JSON Logic -----------------------------------


def python_condition(condition: dict[str, Any]) -> str:
    if "all" in condition:
        return "(" + " and ".join(python_condition(c) for c in condition["all"]) + ")"
    if "any" in condition:
        return "(" + " or ".join(python_condition(c) for c in condition["any"]) + ")"
    item = condition["q"]
    if "eq" in condition:
        return f"a.get({item!r}) == {condition['eq']!r}"
    if "gte" in condition:
        return f"a.get({item!r}, -1) >= {condition['gte']!r}"
    return f"a.get({item!r}) in {tuple(condition['in'])!r}"


def hand_written(rules: list[dict[str, Any]]) -> Callable[[dict[str, Any]], tuple[int, int]]:
    lines = ["def decide(a):", "    total = 0", *_decision_lines(rules), "    return level, total"]
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)
    return namespace["decide"]  # type: ignore[no-any-return]


def _decision_lines(rules: list[dict[str, Any]], with_reasons: bool = False) -> list[str]:
    """The straight-line terms, band and triggers that set `total` and `level`. With `with_reasons`, a rule that
    fires also appends its prebuilt reason `R<n>` (a term to `by<points>`, a trigger to `fired`), so every
    trigger is tested, not only those that would raise the level."""
    lines = []
    for n, rule in enumerate(rules):
        if rule["kind"] == "term":
            lines += [f"    if {python_condition(rule['when'])}:", f"        total += {rule['add']}"]
            lines += [f"        by{rule['add']}.append(R{n})"] if with_reasons else []
    lines += ["    level = 2 if total >= 25 else 1 if total >= 10 else 0"]
    for n, rule in enumerate(rules):
        if rule["kind"] != "trigger":
            continue
        if with_reasons:
            lines += [f"    if {python_condition(rule['when'])}:", f"        fired.append(R{n})"]
            lines += [f"        if level < {rule['level']}:", f"            level = {rule['level']}"]
        else:
            lines += [
                f"    if level < {rule['level']} and {python_condition(rule['when'])}:",
                f"        level = {rule['level']}",
            ]
    return lines


def _items_of(condition: dict[str, Any]) -> list[str]:
    """The items a condition reads, in order of first appearance."""
    children = condition.get("all") or condition.get("any")
    if children is not None:
        return list(dict.fromkeys(item for child in children for item in _items_of(child)))
    return [condition["q"]]


def _reason_lines(rule: dict[str, Any], points: int | None, target: str) -> list[str]:
    """`target.append({...})`: the rule's reason; for `any`, only the items of the branches that held."""
    fixed = f"'rule_id': {rule['id']!r}, 'text': 'r', 'points': {points!r}"
    if "any" not in rule["when"]:
        return [f"        {target}.append({{{fixed}, 'items': {_items_of(rule['when'])!r}, 'source': 's'}})"]
    lines = ["        items = []"]
    for branch in rule["when"]["any"]:
        lines += [f"        if {python_condition(branch)}:", f"            items += {_items_of(branch)!r}"]
    if len(_items_of(rule["when"])) < sum(len(_items_of(branch)) for branch in rule["when"]["any"]):
        lines.append("        items = list(dict.fromkeys(items))")
    return [*lines, f"        {target}.append({{{fixed}, 'items': items, 'source': 's'}})"]


def hand_written_minimum(
    rules: list[dict[str, Any]], gap_items: list[str], with_reasons: bool
) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """Less than plain `evaluate()` has to do, written the fastest way measured: a lower bound for its cost.

    The decision of `hand_written`, plus the information gaps (the items answered "unknown", in item order) from
    one itemgetter call and one comparison each; with `with_reasons`, plus one prebuilt reason per rule appended
    where the rule fires, into lists whose concatenation is the documented order (fired triggers, then terms by
    points). No answer check, no result dict, no reason items picked by the branches that held."""
    points = sorted({rule["add"] for rule in rules if rule["kind"] == "term"}, reverse=True)
    lines = ["def minimum(a):", "    total = 0", f"    {', '.join(f'g{n}' for n in range(len(gap_items)))}, = G(a)"]
    lines += ["    gaps = []"]
    for n, item in enumerate(gap_items):
        lines += [f"    if g{n} == 'unknown':", f"        gaps.append({item!r})"]
    lines += [*(f"    by{add} = []" for add in points), "    fired = []"] if with_reasons else []
    lines += _decision_lines(rules, with_reasons)
    reasons = f", [*fired, {', '.join(f'*by{add}' for add in points)}]" if with_reasons else ""
    lines.append(f"    return level, total, gaps{reasons}")
    namespace: dict[str, Any] = {"G": operator.itemgetter(*gap_items)}
    namespace |= {f"R{n}": {"rule_id": rule["id"], "text": "r", "source": "s"} for n, rule in enumerate(rules)}
    exec("\n".join(lines), namespace)
    return namespace["minimum"]  # type: ignore[no-any-return]


def hand_written_result(
    rules: list[dict[str, Any]], gap_items: list[str], identity: dict[str, dict[str, Any]]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The decision of `hand_written` plus the whole result object of `evaluate()` (no answer validation):
    trigger reasons first, then term reasons by points (descending) in definition order; fresh dicts and lists."""
    points = sorted({rule["add"] for rule in rules if rule["kind"] == "term"}, reverse=True)
    lines = ["def evaluate(a):", "    total = 0", *(f"    by{add} = []" for add in points)]
    for rule in rules:
        if rule["kind"] == "term":
            lines += [f"    if {python_condition(rule['when'])}:", f"        total += {rule['add']}"]
            lines += _reason_lines(rule, rule["add"], f"by{rule['add']}")
    lines += ["    level = 2 if total >= 25 else 1 if total >= 10 else 0", "    triggers = []", "    fired = []"]
    for rule in rules:
        if rule["kind"] == "trigger":
            lines += [
                f"    if {python_condition(rule['when'])}:",
                f"        triggers.append({{'id': {rule['id']!r}, 'title': None, 'reason': 'r', 'source': 's'}})",
                *_reason_lines(rule, None, "fired"),
                f"        if level < {rule['level']}:",
                f"            level = {rule['level']}",
            ]
    lines += ["    gaps = []"]
    for item in gap_items:
        lines += [f"    if a.get({item!r}) == 'unknown':", f"        gaps.append({item!r})"]
    levels = ("low", "medium", "high", "immediate")
    lines += [
        "    return {",
        f"        'level': {levels!r}[level],",
        f"        'computed_level': {levels!r}[level],",
        "        'scores': {'total': total},",
        "        'score_bands': {},",
        "        'score_decimals': {},",
        "        'notices': [],",
        "        'triggers': triggers,",
        "        'floors_applied': [],",
        f"        'reasons': [*fired, {', '.join(f'*by{add}' for add in points)}],",
        "        'actions': [{'id': 'act', 'title': 'Act', 'who': 'x', 'urgency': 'now'}] if triggers else [],",
        "        'information_gaps': gaps,",
        "        'protective_factors': [],",
        "        'review_within_days': None,",
        "        'disclaimer': 'd',",
        f"        'questionnaire': {identity['questionnaire']!r},",
        f"        'ruleset': {identity['ruleset']!r},",
        f"        'engine_version': {ENGINE_VERSION!r},",
        "    }",
    ]
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)
    return namespace["evaluate"]  # type: ignore[no-any-return]


def zen_condition(condition: dict[str, Any]) -> str:
    if "all" in condition:
        return "(" + " and ".join(zen_condition(c) for c in condition["all"]) + ")"
    if "any" in condition:
        return "(" + " or ".join(zen_condition(c) for c in condition["any"]) + ")"
    item = condition["q"]
    if "eq" in condition:
        return f'{item} == "{condition["eq"]}"'
    if "gte" in condition:
        return f"{item} >= {condition['gte']}"
    return f"{item} in [" + ", ".join(f'"{code}"' for code in condition["in"]) + "]"


def zen_function(rules: list[dict[str, Any]]) -> Callable[[dict[str, Any]], tuple[int, int]]:
    """One compiled expression for the total (one call across the FFI), one per trigger."""
    total_source = " + ".join(f"({zen_condition(r['when'])} ? {r['add']} : 0)" for r in rules if r["kind"] == "term")
    total_expression = zen.compile_expression(total_source)
    triggers = [(zen.compile_expression(zen_condition(r["when"])), r["level"]) for r in rules if r["kind"] == "trigger"]

    def decide(a: dict[str, Any]) -> tuple[int, int]:
        total = int(total_expression.evaluate(a))
        level = 2 if total >= 25 else 1 if total >= 10 else 0
        for expression, trigger_level in triggers:
            if trigger_level > level and expression.evaluate(a):
                level = trigger_level
        return level, total

    return decide


def logic_condition(condition: dict[str, Any]) -> dict[str, Any]:
    if "all" in condition:
        return {"and": [logic_condition(c) for c in condition["all"]]}
    if "any" in condition:
        return {"or": [logic_condition(c) for c in condition["any"]]}
    item = {"var": condition["q"]}
    if "eq" in condition:
        return {"==": [item, condition["eq"]]}
    if "gte" in condition:
        return {">=": [item, condition["gte"]]}
    return {"in": [item, condition["in"]]}


def json_logic_function(rules: list[dict[str, Any]]) -> Callable[[dict[str, Any]], tuple[int, int]]:
    terms = [(logic_condition(r["when"]), r["add"]) for r in rules if r["kind"] == "term"]
    triggers = [(logic_condition(r["when"]), r["level"]) for r in rules if r["kind"] == "trigger"]

    def decide(a: dict[str, Any]) -> tuple[int, int]:
        total = sum(add for logic, add in terms if json_logic.jsonLogic(logic, a))
        level = 2 if total >= 25 else 1 if total >= 10 else 0
        for logic, trigger_level in triggers:
            if trigger_level > level and json_logic.jsonLogic(logic, a):
                level = trigger_level
        return level, total

    return decide


# --- measurement ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    median: float  # µs: the median of the per-round medians
    p99: float  # µs: over every timed call
    low: float  # µs: the lowest and the highest round median (the spread the load caused)
    high: float


def measure(functions: dict[str, tuple[Callable[[Any], Any], int]], inputs: list[Any], rounds: int) -> list[Figures]:
    """Times single calls of each function (`label: (function, calls per round)`), the functions taking turns in
    each round (their order rotates from round to round); inputs are cycled and a warm-up pass comes first."""
    for function, _ in functions.values():
        for value in inputs:
            function(value)
    clock = time.perf_counter_ns
    labels = list(functions)
    samples: dict[str, list[int]] = {label: [] for label in labels}
    medians: dict[str, list[float]] = {label: [] for label in labels}
    count = len(inputs)
    for round_number in range(rounds):
        shift = round_number % len(labels)
        for label in labels[shift:] + labels[:shift]:
            function, calls = functions[label]
            times = []
            for index in range(round_number * calls, (round_number + 1) * calls):
                value = inputs[index % count]
                start = clock()
                function(value)
                times.append(clock() - start)
            samples[label] += times
            medians[label].append(statistics.median(times))
    figures = []
    for label in labels:
        every = sorted(samples[label])
        per_round = medians[label]
        figures.append(
            Figures(
                statistics.median(per_round) / 1000,
                every[int(len(every) * 0.99)] / 1000,
                min(per_round) / 1000,
                max(per_round) / 1000,
            )
        )
    return figures


def header(vs_hand: bool) -> str:
    return f"  {'':<40} {'median µs':>9} {'p99 µs':>9}  {'vs hand' if vs_hand else '':>7}  round medians µs"


def row(label: str, figures: Figures, reference: float | None) -> str:
    ratio = f"{figures.median / reference:6.2f}x" if reference else "       "
    spread = f"{figures.low:.2f}–{figures.high:.2f}"
    return f"  {label:<40} {figures.median:9.2f} {figures.p99:9.2f}  {ratio}  {spread}"


@dataclass(frozen=True)
class SyntheticTable:
    compile_ms: float
    inputs: list[dict[str, Any]]
    functions: dict[str, tuple[Callable[[Any], Any], int]]  # label: (function, share of the calls: 1/n)


def synthetic_table(rule_count: int) -> SyntheticTable:
    """The engine and its peers on the synthetic rule set, after checking that they agree on every input."""
    questionnaire_doc, ruleset_doc, rules = synthetic(rule_count)
    _checked_and_compiled.cache_clear()
    start = time.perf_counter()
    ruleset, questionnaire = parse_ruleset(ruleset_doc), parse_questionnaire(questionnaire_doc)
    compiled = compile_ruleset(ruleset, questionnaire)
    compile_ms = (time.perf_counter() - start) * 1000
    inputs = [answers_for(seed) for seed in range(200)]
    hand = hand_written(rules)
    identity = {
        "questionnaire": {"key": "bench-q", "version": 1, "content_hash": questionnaire.content_hash},
        "ruleset": {"key": ruleset.key, "version": 1, "content_hash": ruleset.content_hash},
    }
    gap_items = [f"y{i}" for i in range(YES_NO_ITEMS)]
    hand_result = hand_written_result(rules, gap_items, identity)
    hand_gaps = hand_written_minimum(rules, gap_items, with_reasons=False)
    hand_gaps_reasons = hand_written_minimum(rules, gap_items, with_reasons=True)
    zen_decide = zen_function(rules)
    for answers in inputs:  # the peers must agree with the engine before their timings mean anything
        level, scores, _ = compiled.decide(answers)
        assert hand(answers) == (level, scores[0])
        result = compiled.evaluate(answers)
        assert hand_result(answers) == result
        assert hand_gaps(answers) == (level, scores[0], result["information_gaps"])
        *decision, reasons = hand_gaps_reasons(answers)
        assert decision == [level, scores[0], result["information_gaps"]]
        assert [reason["rule_id"] for reason in reasons] == [reason["rule_id"] for reason in result["reasons"]]
        assert compiled.is_valid(answers)
        assert zen_decide(answers) == hand(answers)
    traced = frozenset({"trace"})
    functions: dict[str, tuple[Callable[[Any], Any], int]] = {
        "hand-written Python": (hand, 1),
        "hand-written + information gaps": (hand_gaps, 1),
        "hand-written + gaps + reasons": (hand_gaps_reasons, 1),
        "hand-written, whole result object": (hand_result, 1),
        "engine fast path (level/scores/ids)": (compiled.decide, 1),
        "engine answer check alone (is_valid)": (compiled.is_valid, 1),
        "engine plain (validated result)": (compiled.evaluate, 1),
        "engine with trace": (lambda a: compiled.evaluate(a, traced), 1),
        "zen-engine expressions": (zen_decide, 5),
        "JSON Logic (panzi-json-logic)": (json_logic_function(rules), 50),
    }
    return SyntheticTable(compile_ms, inputs, functions)


REPEATED_ROWS = (
    "hand-written Python",
    "hand-written + gaps + reasons",
    "engine fast path (level/scores/ids)",
    "engine plain (validated result)",
)


def bench_synthetic(rule_count: int, rounds: int, calls: int) -> None:
    table = synthetic_table(rule_count)
    functions = {label: (function, max(calls // share, 1)) for label, (function, share) in table.functions.items()}
    print(f"\n{rule_count} rules over 50 answers: compile (parse + check + generate) {table.compile_ms:.1f} ms")
    print(header(vs_hand=True))
    figures = measure(functions, table.inputs, rounds)
    for label, figure in zip(functions, figures, strict=True):
        print(row(label, figure, figures[0].median))
    repeated = {label: functions[label] for label in REPEATED_ROWS}
    print("  the same, one answer set repeated (every branch on the answers predictable):")
    figures = measure(repeated, table.inputs[:1], rounds // 4)
    for label, figure in zip(repeated, figures, strict=True):
        print(row(label, figure, figures[0].median))


def bench_default_content(rounds: int, calls: int) -> None:
    rules_path = CONTENT / "online-harm-england.v1.yaml"
    questionnaire_path = CONTENT / "online-exposure.v1.yaml"
    if not rules_path.exists() or not questionnaire_path.exists():
        print("\ndefault content: not present, skipped")
        return
    try:
        _checked_and_compiled.cache_clear()
        start = time.perf_counter()
        ruleset = parse_ruleset(load_document(rules_path))
        questionnaire = parse_questionnaire(load_document(questionnaire_path))
        compiled = compile_ruleset(ruleset, questionnaire)
        compile_ms = (time.perf_counter() - start) * 1000
    except Exception as exc:  # the content is authored in parallel; report rather than fail
        print(f"\ndefault content: does not compile ({exc}), skipped")
        return
    inputs = [test.answers for test in ruleset.tests if not compiled.validate_answers(test.answers)]
    if not inputs:
        print("\ndefault content: no valid embedded test answers to time, skipped")
        return
    rule_total = sum(len(s.terms or []) for s in ruleset.scores) + len(ruleset.bands) + len(ruleset.triggers)
    rule_total += len(ruleset.floors) + len(ruleset.action_rules)
    print(
        f"\ndefault rule set ({rule_total} rules over {len(questionnaire.items)} items, "
        f"answers of its {len(inputs)} embedded tests): compile {compile_ms:.1f} ms"
    )
    traced, counterfactual = frozenset({"trace"}), frozenset({"counterfactuals"})
    functions: dict[str, tuple[Callable[[Any], Any], int]] = {
        "engine fast path": (compiled.decide, calls),
        "engine plain": (compiled.evaluate, calls),
        "engine with trace": (lambda a: compiled.evaluate(a, traced), calls),
        "with counterfactuals": (lambda a: compiled.evaluate(a, counterfactual), max(calls // 66, 3)),
    }
    print(header(vs_hand=False))
    for label, figure in zip(functions, measure(functions, inputs, rounds), strict=True):
        print(row(label, figure, None))


def main() -> None:
    rounds, calls = 100, 200  # 20,000 timed calls per engine function (zen a fifth, JSON Logic a fiftieth)
    print(f"Python {sys.version.split()[0]}; times are per evaluation, single thread; {rounds} rounds")
    for rule_count in (60, 200):
        bench_synthetic(rule_count, rounds, calls)
    bench_default_content(rounds, calls)


if __name__ == "__main__":
    main()
