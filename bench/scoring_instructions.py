"""Instructions per scoring call, counted by valgrind: the load-independent view of bench/scoring.py's times.

Run: .venv/bin/python bench/scoring_instructions.py [RULES]   (RULES: 60 or 200, default 60;
needs valgrind: apt-get install valgrind; a few minutes)

For each function of bench/scoring.py's table (but the two peers, too slow under valgrind), a child interpreter
runs under cachegrind: it builds the table, calls every function once per answer set (so that all of them are
warm and specialised), then calls the one being measured `CALLS` times, cycling the 200 answer sets. A child that
makes no measured calls gives the baseline, and a row is the difference per call: instructions, conditional
branches, and how many of those cachegrind's branch simulator mispredicted. The simulator is a model, not the
predictor of this CPU, but it shows which functions branch on the answers. PYTHONHASHSEED is fixed, so the
counts repeat from run to run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

CALLS = 4000
SKIPPED = ("zen-engine", "JSON Logic")
SUMMARY = {
    "instructions": re.compile(r"I\s+refs:\s+([\d,]+)"),
    "branches": re.compile(r"Branches:\s+[\d,]+\s+\(\s*([\d,]+) cond"),
    "mispredicted": re.compile(r"Mispredicts:\s+[\d,]+\s+\(\s*([\d,]+) cond"),
}


def child(rule_count: int, label: str, calls: int) -> None:
    from scoring import synthetic_table

    table = synthetic_table(rule_count)
    for function, _ in table.functions.values():
        for answers in table.inputs:
            function(answers)
    if calls:
        function = table.functions[label][0]
        inputs = table.inputs
        for index in range(calls):
            function(inputs[index % len(inputs)])


def counts(rule_count: int, label: str, calls: int) -> dict[str, int]:
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--branch-sim=yes",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        str(rule_count),
        label,
        str(calls),
    ]
    environment = os.environ | {"PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=True)
    found = {name: pattern.search(done.stderr) for name, pattern in SUMMARY.items()}
    missing = [name for name, match in found.items() if match is None]
    if missing:
        raise SystemExit(f"no {', '.join(missing)} in valgrind's summary for {label!r}:\n{done.stderr[-2000:]}")
    return {name: int(match[1].replace(",", "")) for name, match in found.items() if match}


def main(rule_count: int) -> None:
    from scoring import synthetic_table

    labels = [label for label in synthetic_table(rule_count).functions if not label.startswith(SKIPPED)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        baseline = pool.submit(counts, rule_count, labels[0], 0)
        measured = {label: pool.submit(counts, rule_count, label, CALLS) for label in labels}
        base = baseline.result()
        print(f"{rule_count} rules over 50 answers, per call (cachegrind, {CALLS} calls less a run without them)")
        print(f"  {'':<40} {'instructions':>12} {'vs hand':>8} {'branches':>9} {'mispredicted':>13}")
        hand = None
        for label, future in measured.items():
            per_call = {name: (value - base[name]) / CALLS for name, value in future.result().items()}
            hand = hand or per_call["instructions"]
            print(
                f"  {label:<40} {per_call['instructions']:12,.0f} {per_call['instructions'] / hand:7.2f}x "
                f"{per_call['branches']:9,.0f} {per_call['mispredicted']:13,.0f}"
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
