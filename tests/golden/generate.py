"""Adds to the golden corpus the files of every rule set it lacks; never rewrites a file (docs/engine-changelog.md).

    .venv/bin/python -m tests.golden.generate            # write the missing files
    .venv/bin/python -m tests.golden.generate --dry-run  # only say what it would write

Rule sets come from the shipped content (app/content/*.yaml: embedded tests and 1,000 generated answer sets per
version), the fixture files of the test suite (tests/**/fixtures/*.yaml, docs/examples/*.yaml) and the suite's
mini rule set (tests/scoring/conftest.py): embedded tests and 200 generated answer sets each. A file that exists is
replayed instead: kept when the current engine reproduces it, refused (exit status 1) when a case differs, since an
existing file is never rewritten (a changed result needs a new engine version and a changelog entry naming it; a
file that differs just as the current version's entry records is kept).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.scoring import (
    ENGINE_VERSION,
    CompiledRuleSet,
    Questionnaire,
    RuleSet,
    ScoringError,
    compile_ruleset,
    load_document,
    parse_questionnaire,
    parse_ruleset,
)
from tests.golden import corpus
from tests.golden.answers import answer_sets

SHIPPED_COUNT = 1000
FIXTURE_COUNT = 200


@dataclass
class Source:
    origin: str  # where the rule set was read from, for the header
    shipped: bool
    ruleset: RuleSet
    questionnaire: Questionnaire


def _documents(paths: list[Path], shipped: bool) -> tuple[list[tuple[Path, RuleSet]], list[tuple[Path, Questionnaire]]]:
    """The rule sets and questionnaires among `paths`. Shipped content must parse; a fixture that does not (the
    suite keeps broken documents too) is skipped with a note."""
    rulesets, questionnaires = [], []
    for path in paths:
        try:
            data = load_document(path)
            if isinstance(data, dict) and "levels" in data and "questionnaire" in data:
                rulesets.append((path, parse_ruleset(data)))
            elif isinstance(data, dict) and "items" in data and "sections" in data:
                questionnaires.append((path, parse_questionnaire(data)))
        except ScoringError as exc:
            if shipped:
                raise SystemExit(f"{path}: {exc}") from exc
            print(f"skipped  {path.relative_to(corpus.REPO)}: {exc}", file=sys.stderr)
    return rulesets, questionnaires


def _pair(
    rulesets: list[tuple[Path, RuleSet]], questionnaires: list[tuple[Path, Questionnaire]], shipped: bool
) -> list[Source]:
    """Each rule set with its questionnaire (one from the same directory first), if it compiles: shipped content
    must; a fixture that does not is skipped with a note."""
    sources = []
    for path, ruleset in rulesets:
        origin = path.resolve().relative_to(corpus.REPO).as_posix()
        wanted = (ruleset.questionnaire.key, ruleset.questionnaire.version)
        matching = [(p, q) for p, q in questionnaires if (q.key, q.version) == wanted]
        matching.sort(key=lambda pair: pair[0].parent != path.parent)
        problem = None if matching else f"no questionnaire {wanted[0]} v{wanted[1]} among the documents read"
        if matching:
            try:
                compile_ruleset(ruleset, matching[0][1])
            except ScoringError as exc:
                problem = f"does not compile: {exc}"
        if problem is None:
            sources.append(Source(origin, shipped, ruleset, matching[0][1]))
        elif shipped:
            raise SystemExit(f"{origin}: {problem}")
        else:
            print(f"skipped  {origin}: {problem}", file=sys.stderr)
    return sources


def discover() -> list[Source]:
    repo = corpus.REPO
    shipped = _pair(*_documents(sorted((repo / "app" / "content").glob("*.yaml")), True), shipped=True)
    fixture_paths = sorted(repo.glob("tests/**/fixtures/*.yaml")) + sorted(
        path for path in (repo / "docs" / "examples").glob("*") if path.suffix in (".yaml", ".yml", ".json")
    )
    fixtures = _pair(*_documents(fixture_paths, False), shipped=False)
    from tests.scoring.conftest import QUESTIONNAIRE, RULESET

    mini = Source(
        "tests/scoring/conftest.py (RULESET, QUESTIONNAIRE)",
        False,
        parse_ruleset(RULESET),
        parse_questionnaire(QUESTIONNAIRE),
    )
    return [*shipped, *fixtures, mini]


def seed_of(ruleset: RuleSet) -> int:
    digest = hashlib.sha256(f"{ruleset.key}/v{ruleset.version}/{ruleset.content_hash}".encode()).hexdigest()
    return int(digest[:16], 16)


def _header(source: Source, kind: str, base: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "format": corpus.FORMAT,
        "kind": kind,
        "source": source.origin,
        "ruleset": corpus.ref(source.ruleset, corpus.document_name(source.ruleset)),
        "questionnaire": corpus.ref(source.questionnaire, corpus.document_name(source.questionnaire)),
        "engine_version": ENGINE_VERSION,
        "projection": corpus.projection_for(kind),
        "answer_base": base,
        **extra,
    }


def _cases(
    compiled: CompiledRuleSet, named: list[tuple[str, dict[str, Any]]], base: dict[str, Any], projection: list[str]
) -> list[dict[str, Any]]:
    cases = []
    for case_id, answers in named:
        result = compiled.evaluate(answers)
        cases.append(
            {"case": case_id, **corpus.encode_answers(answers, base), "expected": corpus.projected(result, projection)}
        )
    return cases


def build_files(
    source: Source, kinds: tuple[str, ...] = corpus.KINDS
) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The corpus files of one rule set, of the kinds asked for: name -> (header, cases)."""
    compiled = compile_ruleset(source.ruleset, source.questionnaire)
    ruleset = source.ruleset
    files = {}
    if "tests" in kinds and ruleset.tests:
        named = [(test.name, dict(test.answers)) for test in ruleset.tests]
        header = _header(source, "tests", {})
        files[corpus.file_name(ruleset.key, ruleset.version, ruleset.content_hash, "tests")] = (
            header,
            _cases(compiled, named, {}, header["projection"]),
        )
    if "generated" not in kinds:
        return files
    count = SHIPPED_COUNT if source.shipped else FIXTURE_COUNT
    seed = seed_of(ruleset)
    generated = answer_sets(compiled, count, seed)
    base = corpus.answer_base(generated)
    header = _header(source, "generated", base, seed=seed, generator="tests/golden/answers.py")
    named = [(f"g{index:04d}", answers) for index, answers in enumerate(generated, 1)]
    files[corpus.file_name(ruleset.key, ruleset.version, ruleset.content_hash, "generated")] = (
        header,
        _cases(compiled, named, base, header["projection"]),
    )
    return files


def coverage(compiled: CompiledRuleSet, header: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    """How far the cases reach: the cases per level, the rules that fired at least once, the answer sets with a gap."""
    levels = Counter(case["expected"]["level"] for case in cases)
    fired: set[int] = set()
    gaps = 0
    for case in cases:
        answers = corpus.decode_answers(case, header["answer_base"])
        fired.update(compiled.decide(answers)[2])
        gaps += bool(case["expected"].get("information_gaps"))
    shown = ", ".join(f"{level} {levels[level]}" for level in compiled.ruleset.levels)
    return f"levels: {shown}; rules fired: {len(fired)} of {len(compiled.code.rules)}; with a gap: {gaps}"


def existing_targets(source: Source, root: Path) -> dict[str, str]:
    """kind -> the stored name of each of the rule set's files already in the corpus."""
    ruleset = source.ruleset
    found = {}
    for kind in corpus.KINDS:
        stored = corpus.existing(corpus.file_name(ruleset.key, ruleset.version, ruleset.content_hash, kind), root)
        if stored is not None:
            found[kind] = stored
    return found


def run(root: Path = corpus.ROOT, dry_run: bool = False, sources: list[Source] | None = None) -> int:
    refused = 0
    changelog = corpus.read_changelog()
    for source in discover() if sources is None else sources:
        label = f"{source.ruleset.key} v{source.ruleset.version} ({source.origin})"
        kept = existing_targets(source, root)
        for name in kept.values():
            outcome = corpus.replay(name, root)
            problems = corpus.gate_problems(outcome, changelog)
            if not problems:
                recorded = f", but for {len(outcome.changed)} cases the changelog records" if outcome.changed else ""
                print(f"kept     {name}: the current engine reproduces it{recorded}")
                continue
            refused += 1
            for problem in problems:
                print(f"REFUSED  {problem}", file=sys.stderr)
            print(f"REFUSED  {name} stays as it is: existing files are never rewritten", file=sys.stderr)
        wanted = tuple(kind for kind in corpus.KINDS if kind not in kept)
        missing = build_files(source, wanted) if wanted else {}
        compiled = compile_ruleset(source.ruleset, source.questionnaire)
        for name, (header, cases) in missing.items():
            what = f"{len(cases)} cases of {label}"
            if header["kind"] == "generated":
                what += f"; {coverage(compiled, header, cases)}"
            if dry_run:
                print(f"would add {name}: {what}")
                continue
            corpus.store_document(source.ruleset, root)
            corpus.store_document(source.questionnaire, root)
            stored = corpus.write(root, name, header, cases)
            print(f"added    {stored}: {what}")
    return 1 if refused else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="write nothing; say what would be added")
    args = parser.parse_args(argv)
    return run(dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
