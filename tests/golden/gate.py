"""Replays the whole golden corpus with this checkout's engine and prints every problem (exit status 1 if any).

    .venv/bin/python -m tests.golden.gate

`make test` runs the same checks as tests (tests/golden/test_corpus.py); this entry point serves a quick look and
the test that copies the code, changes one line of the engine and runs the gate on the copy.
"""

from __future__ import annotations

import sys

from app.scoring import ENGINE_VERSION
from tests.golden import corpus


def main() -> int:
    problems = corpus.check()
    for problem in problems:
        print(problem)
    files = corpus.corpus_files()
    if problems:
        print(f"the golden corpus gate FAILED with engine {ENGINE_VERSION}: {len(problems)} problem(s)")
        return 1
    print(f"the golden corpus gate passed with engine {ENGINE_VERSION}: {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
