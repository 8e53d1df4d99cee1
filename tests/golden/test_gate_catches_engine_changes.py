"""The gate fails on a deliberate one-line change of the engine, made in a temporary copy of the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.golden import corpus

# (file, line as it is, line as changed): the first that is found exactly once is applied. Each makes a comparison
# of the generated code one answer looser, which moves the result of answers on a boundary (age 13, a band's floor).
ONE_LINE_CHANGES = [
    ("app/scoring/compiler.py", '"lt": "<",', '"lt": "<=",'),
    ("app/scoring/compiler.py", "{var} >= {gte!r}:", "{var} > {gte!r}:"),
]
GATE = (
    "import sys, app.scoring\n"
    "assert app.scoring.__file__.startswith(sys.argv[1]), app.scoring.__file__\n"
    "from tests.golden.gate import main\n"
    "sys.exit(main())\n"
)


def copy_of_the_code(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(corpus.REPO / "app", target / "app", ignore=ignore)
    shutil.copytree(corpus.ROOT, target / "tests" / "golden", ignore=ignore)
    shutil.copy(corpus.REPO / "tests" / "__init__.py", target / "tests" / "__init__.py")
    (target / "docs").mkdir()
    shutil.copy(corpus.CHANGELOG, target / "docs" / corpus.CHANGELOG.name)


def change_one_line(target: Path) -> str:
    for relative, before, after in ONE_LINE_CHANGES:
        path = target / relative
        text = path.read_text()
        if text.count(before) == 1:
            path.write_text(text.replace(before, after))
            return f"{relative}: {before} -> {after}"
    raise AssertionError(f"none of {ONE_LINE_CHANGES} is in the engine any more: name another one-line change")


def run_gate(target: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", GATE, str(target)],
        cwd=target,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_gate_passes_on_an_unchanged_copy_and_fails_naming_the_cases_a_one_line_change_moves(
    tmp_path: Path,
) -> None:
    copy_of_the_code(tmp_path)
    unchanged = run_gate(tmp_path)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr

    change = change_one_line(tmp_path)
    changed = run_gate(tmp_path)
    output = changed.stdout + changed.stderr
    assert changed.returncode == 1, f"{change}\n{output}"
    assert "the golden corpus gate FAILED" in output
    named = re.findall(r"(\S+\.jsonl(?:\.gz)?): (\d+) changed cases?: (g\d{4}|\S+) \(", output)
    assert named, output
    assert all(name in corpus.corpus_files() for name, _, _ in named)
