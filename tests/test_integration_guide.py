"""docs/integration.md runs: every block of it, in order, against a real server seeded as `make run` seeds it.

The server is test_openapi_examples.py's (`riskapi dev-setup`, then uvicorn; SQLite, and PostgreSQL when
RISKAPI_TEST_POSTGRES_URL is set). The guide runs in a directory laid out like a checkout after `make run`: the
development key in `var/dev-api-key` and the repository's `docs/`; its only other input is `RISKAPI_URL`, the
server's address, which the guide's first block defaults to `make run`'s. tests/runnable_docs.py holds the rules;
the tests after the first one prove that it refuses and fails as those rules say.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.runnable_docs import GuideError, Ran, json_matches, run_document, scan, text_matches
from tests.servers import ROOT
from tests.test_openapi_examples import Served, served  # noqa: F401  (the fixture)

GUIDE = ROOT / "docs" / "integration.md"
# What an integrator does, each shown by a block that runs: a key, the headers, the questionnaire and its answers
# schema, a create with an Idempotency-Key and its retry, a read with the answers, an amendment by patch, an
# override with a supervisor's key, the report, the reviews due and the audit trail; a webhook subscription and its
# secret's rotation, and the changes feed (the receiver's code is run by tests/test_webhook_guide.py).
STEPS = [
    "/v1/clients",
    "X-Acting-User:",
    "/v1/questionnaires/online-exposure/versions/2/answers-schema",
    "Draft202012Validator",
    "Idempotency-Key: $IDEMPOTENCY_KEY",
    "?include=answers",
    '"answers_patch"',
    "Bearer $SUPERVISOR_KEY",
    "/report",
    "review_by_before",
    "next_cursor",
    "/v1/audit/events",
    "/v1/audit/verify",
    "/v1/webhooks",
    "/rotate-secret",
    "/v1/events",
]


def reader_environment(**extra: str) -> dict[str, str]:
    """The test's environment without its RISKAPI_ settings, with the virtualenv's python3 first on PATH (the
    guide's Python examples need httpx and jsonschema)."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("RISKAPI_")}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    return {**environment, **extra}


def run_in_checkout(guide: Path, server: Served, tmp_path: Path, **options: Any) -> list[Ran]:
    """Runs `guide` in a directory laid out like a checkout after `make run`, against `server`."""
    checkout = tmp_path / "checkout"
    (checkout / "var").mkdir(parents=True)
    key_file = checkout / "var" / "dev-api-key"
    key_file.write_text(server.key + "\n")
    key_file.chmod(0o600)
    (checkout / "docs").symlink_to(ROOT / "docs")
    return run_document(
        guide,
        cwd=checkout,
        env=reader_environment(RISKAPI_URL=server.base),
        scratch=tmp_path / "blocks",
        name=str(guide.relative_to(ROOT)),
        **options,
    )


def test_the_integration_guide_runs_against_a_real_server(served: Served, tmp_path: Path) -> None:  # noqa: F811
    ran = run_in_checkout(GUIDE, served, tmp_path)
    executed = "".join(item.block.body for item in ran)
    not_executed = [step for step in STEPS if step not in executed]
    assert not not_executed, f"the guide no longer runs these steps: {not_executed}"


# --- the rules, proved on small documents ---------------------------------------------------------------------


def run_text(text: str, tmp_path: Path) -> list[str]:
    document = tmp_path / "guide.md"
    document.write_text(text)
    (tmp_path / "cwd").mkdir(exist_ok=True)
    ran = run_document(document, cwd=tmp_path / "cwd", env=reader_environment(), scratch=tmp_path / "scratch")
    return [item.stdout for item in ran]


def test_an_unmarked_block_is_refused_with_its_line() -> None:
    with pytest.raises(GuideError, match=r"^guide\.md:4: a `yaml` block is neither run nor marked"):
        scan("# Title\n\nText.\n```yaml\nkey: value\n```\n", "guide.md")
    with pytest.raises(GuideError, match=r"^guide\.md:2: a block without a language is neither run nor marked"):
        scan("Text.\n```\nanything\n```\n", "guide.md")


def test_a_marked_block_is_accepted_and_skipped(tmp_path: Path) -> None:
    text = "<!-- not run: starts a server in the foreground -->\n```sh\nexit 3\n```\n"
    (block,) = scan(text, "guide.md")
    assert (block.kind, block.not_run, block.line) == ("skip", "starts a server in the foreground", 2)
    assert run_text(text, tmp_path) == []


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("<!-- not run: -->\n```sh\ntrue\n```\n", 1),  # an empty reason
        ("<!-- not run -->\n```sh\ntrue\n```\n", 1),  # no reason at all
        ("Text.\n<!-- not run: a reason -->\n\n```sh\ntrue\n```\n", 2),  # not right before the fence
        ("```sh\ntrue\n", 1),  # never closed
        ("```json\n{}\n```\n", 1),  # an output after nothing that ran
        ("```sh\necho 1\n```\n```text\n1\n```\n```text\n1\n```\n", 7),  # two outputs of one block
    ],
)
def test_the_scanner_refuses_what_the_rules_do_not_allow(text: str, line: int) -> None:
    with pytest.raises(GuideError, match=rf"^guide\.md:{line}: "):
        scan(text, "guide.md")


def test_indented_and_tilde_fences_are_blocks_too() -> None:
    with pytest.raises(GuideError, match=r"^guide\.md:2: a `toml` block"):
        scan("- a list item:\n    ~~~toml\n    a = 1\n    ~~~\n", "guide.md")


def test_a_failing_block_fails_the_run_with_its_line(tmp_path: Path) -> None:
    text = "# Guide\n\n```sh\necho fine\n```\n\nThen:\n\n```sh\necho about to fail >&2\nfalse\necho never\n```\n"
    with pytest.raises(GuideError, match=r"(?s)^guide\.md:9: this sh block failed \(exit status 1\).*about to fail"):
        run_text(text, tmp_path)


def test_a_failing_python_block_fails_the_run_with_its_line(tmp_path: Path) -> None:
    text = "```sh\ntrue\n```\n\n```python\nraise SystemExit('no such thing')\n```\n"
    with pytest.raises(GuideError, match=r"(?s)^guide\.md:5: this python block failed.*no such thing"):
        run_text(text, tmp_path)


def test_an_unset_variable_fails_the_block(tmp_path: Path) -> None:
    with pytest.raises(GuideError, match=r"^guide\.md:1: this sh block failed"):
        run_text('```sh\necho "$NOT_SET_ANYWHERE"\n```\n', tmp_path)


def test_variables_flow_from_block_to_block_and_python_sees_exports(tmp_path: Path) -> None:
    text = (
        '```sh\nGREETING=hello\nexport NAME=reader\nshout() { echo "$1!"; }\n```\n'
        '```bash\nshout "$GREETING $NAME"\n```\n'
        "```text\nhello reader!\n```\n"
        "```python\nimport json, os\nprint(json.dumps({'name': os.environ['NAME'], 'cwd': os.getcwd()}))\n```\n"
        '```json\n{"name": "reader", "cwd": "<string>"}\n```\n'
    )
    assert run_text(text, tmp_path)[1:] == ["hello reader!\n", f'{{"name": "reader", "cwd": "{tmp_path / "cwd"}"}}\n']


def test_an_output_that_differs_fails_the_run_with_its_line(tmp_path: Path) -> None:
    text = '```sh\necho \'{"level": "low"}\'\n```\n\nThe answer:\n\n```json\n{"level": "high"}\n```\n'
    with pytest.raises(GuideError, match=r"^guide\.md:7: the output of the block at line 1 does not match at /level"):
        run_text(text, tmp_path)


def test_a_block_that_outlasts_its_time_fails_with_its_line(tmp_path: Path) -> None:
    document = tmp_path / "guide.md"
    document.write_text("```sh\nsleep 30\n```\n")
    (tmp_path / "cwd").mkdir()
    with pytest.raises(GuideError, match=r"^guide\.md:1: this sh block ran longer than 0\.5 s"):
        run_document(document, cwd=tmp_path / "cwd", env=reader_environment(), scratch=tmp_path / "s", timeout=0.5)


def test_json_outputs_match_by_shape_with_placeholders() -> None:
    actual = {
        "id": "f78489f5-38d9-403c-91f1-d242f4c474e7",
        "created_at": "2026-12-07T05:13:52.451588Z",
        "level": "low",
        "reasons": [{"rule_id": "a"}, {"rule_id": "b"}],
        "review_by": None,
    }
    shown = {"id": "<uuid>", "created_at": "<datetime>", "level": "low", "reasons": "<any>", "review_by": None}
    assert json_matches(shown, actual)
    assert json_matches({"level": "low", "...": "..."}, actual)
    assert json_matches({**shown, "reasons": [{"rule_id": "a"}, "..."]}, actual)
    assert not json_matches({"level": "low"}, actual)  # members not shown, without "..."
    assert not json_matches({**shown, "level": "medium"}, actual)
    assert not json_matches({**shown, "id": "<datetime>"}, actual)
    assert not json_matches({**shown, "reasons": [{"rule_id": "a"}]}, actual)  # fewer items, without "..."
    assert not json_matches({**shown, "review_by": "<datetime>"}, actual)
    assert not json_matches({"level": 1, "...": "..."}, {"level": True})


def test_text_outputs_match_line_by_line_with_placeholders() -> None:
    assert text_matches(
        "201 <uuid>\nhigh <datetime>", "201 f78489f5-38d9-403c-91f1-d242f4c474e7\nhigh 2027-01-04T05:13:52Z\n"
    )
    assert not text_matches("201 <uuid>", "201 not-a-uuid")
    assert not text_matches("a\nb", "a\nb\nc")
    assert text_matches("a <b> c", "a <b> c")  # only the listed placeholders are special
