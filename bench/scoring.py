"""Scoring benchmark: compile time and µs per evaluation, against a hand-written function and two peers.

Run: .venv/bin/python bench/scoring.py   (prints a table; asserts nothing)

The "hand-written" function is the straight-line Python a developer would write for the same synthetic
rules (`if a.get("y3") == "yes": total += 2`, no trace, no validation); the bench emits it from the same
rule list so that 60 and 200 rules need not be typed, but it shares no code with the compiler.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json_logic
import zen

from app.scoring import (
    compile_ruleset,
    load_document,
    parse_questionnaire,
    parse_ruleset,
)
from app.scoring.evaluator import _compiled

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
    lines = ["def decide(a):", "    total = 0"]
    for rule in rules:
        if rule["kind"] == "term":
            lines += [f"    if {python_condition(rule['when'])}:", f"        total += {rule['add']}"]
    lines += ["    level = 2 if total >= 25 else 1 if total >= 10 else 0"]
    for rule in rules:
        if rule["kind"] == "trigger":
            lines += [
                f"    if level < {rule['level']} and {python_condition(rule['when'])}:",
                f"        level = {rule['level']}",
            ]
    lines += ["    return level, total"]
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)
    return namespace["decide"]  # type: ignore[no-any-return]


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


def measure(function: Callable[[Any], Any], inputs: list[Any], runs: int) -> tuple[float, float]:
    """Median and p99 in µs of single calls (inputs cycled; a warm-up pass first)."""
    for value in inputs:
        function(value)
    clock = time.perf_counter_ns
    samples = []
    count = len(inputs)
    for index in range(runs):
        value = inputs[index % count]
        start = clock()
        function(value)
        samples.append(clock() - start)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def row(label: str, figures: tuple[float, float], reference: float | None) -> str:
    median, p99 = figures
    ratio = f"{median / reference:6.2f}x" if reference else "      "
    return f"  {label:<34} {median:9.2f} {p99:9.2f}  {ratio}"


def bench_synthetic(rule_count: int, runs: int) -> None:
    questionnaire_doc, ruleset_doc, rules = synthetic(rule_count)
    _compiled.clear()
    start = time.perf_counter()
    compiled = compile_ruleset(parse_ruleset(ruleset_doc), parse_questionnaire(questionnaire_doc))
    compile_ms = (time.perf_counter() - start) * 1000
    inputs = [answers_for(seed) for seed in range(200)]
    hand = hand_written(rules)
    for answers in inputs:  # the peers must agree with the engine before their timings mean anything
        level, scores, _ = compiled.decide(answers)
        assert hand(answers) == (level, scores[0])
    print(f"\n{rule_count} rules over 50 answers: compile (parse + check + generate) {compile_ms:.1f} ms")
    print(f"  {'':<34} {'median µs':>9} {'p99 µs':>9}  vs hand")
    reference = measure(hand, inputs, runs)
    print(row("hand-written Python", reference, reference[0]))
    print(row("engine fast path (level/scores/ids)", measure(compiled.decide, inputs, runs), reference[0]))
    print(row("engine plain (validated result)", measure(compiled.evaluate, inputs, runs), reference[0]))
    traced = frozenset({"trace"})
    print(row("engine with trace", measure(lambda a: compiled.evaluate(a, traced), inputs, runs), reference[0]))
    zen_decide = zen_function(rules)
    assert all(zen_decide(answers) == hand(answers) for answers in inputs)
    print(row("zen-engine expressions", measure(zen_decide, inputs, max(runs // 5, 1000)), reference[0]))
    print(
        row(
            "JSON Logic (panzi-json-logic)",
            measure(json_logic_function(rules), inputs, max(runs // 50, 200)),
            reference[0],
        )
    )


def bench_default_content(runs: int) -> None:
    rules_path = CONTENT / "online-harm-england.v1.yaml"
    questionnaire_path = CONTENT / "online-exposure.v1.yaml"
    if not rules_path.exists() or not questionnaire_path.exists():
        print("\ndefault content: not present, skipped")
        return
    try:
        _compiled.clear()
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
    print(f"  {'':<34} {'median µs':>9} {'p99 µs':>9}")
    print(row("engine fast path", measure(compiled.decide, inputs, runs), None))
    print(row("engine plain", measure(compiled.evaluate, inputs, runs), None))
    traced = frozenset({"trace"})
    print(row("engine with trace", measure(lambda a: compiled.evaluate(a, traced), inputs, runs), None))
    counterfactual = frozenset({"counterfactuals"})
    print(
        row(
            "with counterfactuals",
            measure(lambda a: compiled.evaluate(a, counterfactual), inputs, max(runs // 100, 300)),
            None,
        )
    )


def main() -> None:
    runs = 20000
    print(f"Python {sys.version.split()[0]}; times are per evaluation, single thread")
    for rule_count in (60, 200):
        bench_synthetic(rule_count, runs)
    bench_default_content(runs)


if __name__ == "__main__":
    main()
