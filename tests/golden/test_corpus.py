"""The engine-upgrade gate: the golden corpus replays with the current engine exactly as the changelog says."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from app.scoring import ENGINE_VERSION, compile_ruleset
from app.scoring.engine_versions import LATEST_VERSION, RESULT_FIELDS
from tests.golden import corpus, generate
from tests.golden.answers import answer_sets

FILES = corpus.corpus_files()
CHANGELOG = corpus.read_changelog()


@pytest.mark.parametrize("name", FILES)
def test_the_current_engine_replays_the_corpus_file(name: str) -> None:
    problems = corpus.gate_problems(corpus.replay(name), CHANGELOG)
    assert not problems, "\n".join(problems)


def test_the_engine_changelog_has_an_entry_for_every_engine_version_and_names_only_real_files() -> None:
    problems = corpus.changelog_problems(CHANGELOG)
    assert not problems, "\n".join(problems)


def test_the_engine_version_is_the_latest_one_the_registry_lists() -> None:
    assert ENGINE_VERSION == LATEST_VERSION


def test_the_engine_produces_only_fields_its_version_lists(mini_source: generate.Source) -> None:
    compiled = compile_ruleset(mini_source.ruleset, mini_source.questionnaire)
    result = compiled.evaluate(mini_source.ruleset.tests[0].answers)
    assert set(result) <= set(RESULT_FIELDS[ENGINE_VERSION])


def test_every_shipped_rule_set_version_is_in_the_corpus_with_a_thousand_answer_sets_reaching_every_level() -> None:
    shipped = [source for source in generate.discover() if source.shipped]
    assert shipped
    for source in shipped:
        ruleset = source.ruleset
        for kind in corpus.KINDS:
            name = corpus.file_name(ruleset.key, ruleset.version, ruleset.content_hash, kind)
            stored = corpus.existing(name)
            assert stored is not None, f"{name} is missing: run `.venv/bin/python -m tests.golden.generate`"
            _, cases = corpus.read(corpus.ROOT / stored)
            if kind == "tests":
                assert [case["case"] for case in cases] == [test.name for test in ruleset.tests]
                continue
            assert len(cases) >= generate.SHIPPED_COUNT
            levels = Counter(case["expected"]["level"] for case in cases)
            assert set(levels) == set(ruleset.levels), levels
            assert levels.most_common(1)[0][1] < len(cases) * 0.6, levels


def test_every_file_is_named_after_its_rule_set_and_records_its_engine_and_projection() -> None:
    for name in FILES:
        header, cases = corpus.read(corpus.ROOT / name)
        ruleset = header["ruleset"]
        expected = corpus.file_name(ruleset["key"], ruleset["version"], ruleset["content_hash"], header["kind"])
        assert name in (expected, expected + ".gz")
        assert header["engine_version"] in RESULT_FIELDS
        produced = RESULT_FIELDS[header["engine_version"]]
        assert all(corpus.base_field(field) in produced for field in header["projection"])
        assert all(set(case["expected"]) == set(header["projection"]) for case in cases)
        assert len({case["case"] for case in cases}) == len(cases)


# --- the gate's parts, on small copies ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_source() -> generate.Source:
    return next(source for source in generate.discover() if source.ruleset.key == "mini-rules")


@pytest.fixture
def mini_corpus(tmp_path: Path, mini_source: generate.Source) -> Path:
    """A corpus of the mini rule set's two files, generated afresh."""
    assert generate.run(root=tmp_path, sources=[mini_source]) == 0
    return tmp_path


def rewrite(path: Path, change_header: dict[str, object] | None = None, case_index: int | None = None) -> None:
    """Edits a copied file (only ever a copy: corpus files are never edited)."""
    header, cases = corpus.read(path)
    header.update(change_header or {})
    if case_index is not None:
        cases[case_index]["expected"]["level"] = "not-the-level"
    path.write_text("".join(corpus.dumps(line) + "\n" for line in [header, *cases]))


def generated_name(root: Path) -> str:
    return next(name for name in corpus.corpus_files(root) if name.endswith(".generated.jsonl"))


def test_a_difference_fails_when_the_file_was_generated_by_the_current_engine(mini_corpus: Path) -> None:
    name = generated_name(mini_corpus)
    rewrite(mini_corpus / name, case_index=3)
    outcome = corpus.replay(name, mini_corpus)
    assert outcome.changed == {"g0004": ["level"]}
    (problem,) = corpus.gate_problems(outcome, {})
    assert f"{name}: 1 changed case: g0004 (level)" in problem


def test_after_an_engine_change_the_changelog_entry_must_name_exactly_the_changed_cases(mini_corpus: Path) -> None:
    name = generated_name(mini_corpus)
    rewrite(mini_corpus / name, {"engine_version": "riskapi-scoring/0"}, case_index=3)
    outcome = corpus.replay(name, mini_corpus)

    def problems(listed: str) -> list[str]:
        return corpus.gate_problems(outcome, corpus.parse_changelog(f"## {ENGINE_VERSION}\n\n{listed}\n"))

    assert problems(f"Changed cases:\n\n- `{name}`: 1 case: g0004\n") == []
    (unlisted,) = problems("Changed cases: none.")
    assert unlisted.startswith(f"not in the changelog entry for {ENGINE_VERSION}: {name}: 1 changed case: g0004")
    (unchanged,) = problems(f"Changed cases:\n\n- `{name}`: 2 cases: g0004, g0005\n")
    assert f"names 1 case(s) of {name} that do not change: g0005" in unchanged
    (no_entry,) = corpus.gate_problems(outcome, {})
    assert "has no 'Changed cases:'" in no_entry


def test_a_changelog_entry_must_count_the_cases_it_names() -> None:
    text = f"## {ENGINE_VERSION}\n\nChanged cases:\n\n- `a/v1-0.generated.jsonl`: 3 cases: g0001, g0002\n"
    entry = corpus.parse_changelog(text)[ENGINE_VERSION]
    assert entry.problems == ["line 5: a/v1-0.generated.jsonl counts 3 cases but names 2"]


def test_a_field_is_compared_only_in_files_whose_projection_lists_it(mini_corpus: Path) -> None:
    name = generated_name(mini_corpus)
    header, cases = corpus.read(mini_corpus / name)
    for case in cases:
        case["expected"]["later_field"] = "a value no engine gives"
    (mini_corpus / name).write_text("".join(corpus.dumps(line) + "\n" for line in [header, *cases]))
    assert corpus.replay(name, mini_corpus).changed == {}
    rewrite(mini_corpus / name, {"projection": [*header["projection"], "later_field"]})
    assert len(corpus.replay(name, mini_corpus).changed) == len(cases)


def test_the_generator_keeps_a_file_the_engine_reproduces_and_refuses_one_that_differs(
    mini_corpus: Path, mini_source: generate.Source, capsys: pytest.CaptureFixture[str]
) -> None:
    name = generated_name(mini_corpus)
    assert generate.run(root=mini_corpus, sources=[mini_source]) == 0
    assert "kept" in capsys.readouterr().out
    rewrite(mini_corpus / name, case_index=0)
    before = (mini_corpus / name).read_bytes()
    assert generate.run(root=mini_corpus, sources=[mini_source]) == 1
    assert f"REFUSED  {name}: 1 changed case: g0001 (level)" in capsys.readouterr().err
    assert (mini_corpus / name).read_bytes() == before


def test_the_generator_adds_only_what_is_missing_and_the_same_seed_gives_the_same_files(
    mini_corpus: Path, mini_source: generate.Source, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = tmp_path_factory.mktemp("again")
    shutil.copytree(mini_corpus / corpus.DOCUMENTS, again / corpus.DOCUMENTS)
    tests_file = next(name for name in corpus.corpus_files(mini_corpus) if name.endswith(".tests.jsonl"))
    (again / tests_file).parent.mkdir()
    shutil.copy(mini_corpus / tests_file, again / tests_file)
    assert generate.run(root=again, sources=[mini_source]) == 0
    assert corpus.corpus_files(again) == corpus.corpus_files(mini_corpus)
    for name in corpus.corpus_files(again):
        assert (again / name).read_bytes() == (mini_corpus / name).read_bytes()


def test_generated_answer_sets_are_valid_distinct_and_seeded(mini_source: generate.Source) -> None:
    compiled = compile_ruleset(mini_source.ruleset, mini_source.questionnaire)
    first = answer_sets(compiled, 40, seed=7)
    assert first == answer_sets(compiled, 40, seed=7)
    assert first != answer_sets(compiled, 40, seed=8)
    assert len({json.dumps(answers, sort_keys=True) for answers in first}) == 40
    assert all(compiled.validate_answers(answers) == [] for answers in first)


def test_answers_are_stored_against_a_base_and_read_back_unchanged() -> None:
    sets = [{"a": "no", "b": 1}, {"a": "no"}, {"a": "yes", "b": 1, "c": ["x"]}]
    base = corpus.answer_base(sets)
    assert base == {"a": "no", "b": 1}
    encoded = [corpus.encode_answers(answers, base) for answers in sets]
    assert encoded[1] == {"answers": {}, "absent": ["b"]}
    assert [corpus.decode_answers(case, base) for case in encoded] == sets


def test_a_changelog_line_names_cases_whose_ids_hold_commas() -> None:
    line = corpus.changelog_line("k/v1-0.tests.jsonl", ["plain", "a, b: the 13-year-old"])
    assert line == "- `k/v1-0.tests.jsonl`: 2 cases: `a, b: the 13-year-old`, plain"
    entry = corpus.parse_changelog(f"## {ENGINE_VERSION}\n\nChanged cases:\n\n{line}\n")[ENGINE_VERSION]
    assert entry.problems == []
    assert entry.changed == {"k/v1-0.tests.jsonl": {"plain", "a, b: the 13-year-old"}}
