"""The documents stand on their own: generated ones match the code, their examples hold, and none points outside
the repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from app import roles_dump
from app.auth import roles_doc
from app.auth.permissions import CASE_DATA_OPERATIONS, GRANTS, Operation, Role
from app.content import QUESTIONNAIRE_FILES, RULESET_FILES, default_questionnaire, default_ruleset, load
from app.main import create_app
from app.scoring import CompiledRuleSet, compile_ruleset, parse_questionnaire, parse_ruleset
from tests.conftest import make_settings
from tests.hardening.support import route_table

ROOT = Path(__file__).resolve().parents[1]
ROLES_DOC = ROOT / "docs" / "roles.md"
# Written in two pieces so that this file does not itself match what it looks for.
OUTSIDE_POINTERS = ("../" + "shared", "design" + ".md")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def roles_text() -> str:
    return roles_dump.roles_text()


def section_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the table rows under `heading`, up to the next heading."""
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in rows]


def test_roles_doc_is_generated_from_the_permissions_table_and_the_routes(roles_text: str) -> None:
    assert ROLES_DOC.read_text() == roles_text, (
        f"docs/roles.md is stale; regenerate it with `{roles_doc.REGENERATE}`"
        " (or `.venv/bin/python -m app.roles_dump docs/roles.md`)"
    )


def test_roles_doc_shows_every_grant(roles_text: str) -> None:
    matrix = section_rows(roles_text, "## Operations")
    assert len(matrix) == len(Operation)
    for cells, operation in zip(matrix, Operation, strict=True):
        assert cells[0] == f"`{operation.value}`"
        granted = {role for role, cell in zip(Role, cells[3:], strict=True) if cell == "yes"}
        assert granted == GRANTS[operation], operation


def test_roles_doc_lists_every_endpoint_with_its_roles(roles_text: str) -> None:
    app = create_app(make_settings("sqlite:///:memory:"))
    table = route_table(app)
    app.state.engine.dispose()
    rows = {cells[0].strip("`"): cells for cells in section_rows(roles_text, "## Endpoints")}
    protected = [route for route in table if route.operation is not None]
    assert set(rows) == {str(route) for route in protected}
    for route in protected:
        assert route.operation is not None
        cells = rows[str(route)]
        assert cells[1] == f"`{route.operation.value}`", route
        assert (cells[2] == "yes") == route.case_data, route
        granted = {role for role, cell in zip(Role, cells[3:], strict=True) if cell == "yes"}
        assert granted == GRANTS[route.operation], route
    public = [route for route in table if route.operation is None]
    assert public
    assert all(f"`{route}`" in roles_text.split("Open without a key:")[1] for route in public)


def test_roles_doc_lists_every_request_that_needs_a_further_operation(roles_text: str) -> None:
    app = create_app(make_settings("sqlite:///:memory:"))
    listed = roles_doc.endpoints(app.routes)
    app.state.engine.dispose()
    expected = {(str(e), c.when, c.operation) for e in listed for c in e.conditions}
    assert expected, "no endpoint declares a further operation"
    rows = section_rows(roles_text, "## Requests that need a further operation")
    assert len(rows) == len(expected)
    for cells in rows:
        operation = Operation(cells[2].strip("`"))
        assert (cells[0].strip("`"), cells[1], operation) in expected
        assert (cells[3] == "yes") == (operation in CASE_DATA_OPERATIONS)
        granted = {role for role, cell in zip(Role, cells[4:], strict=True) if cell == "yes"}
        assert granted == GRANTS[operation]


def test_roles_doc_refuses_an_operation_it_cannot_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    scopes = dict(roles_doc.OPERATION_SCOPES)
    del scopes[Operation.manage_keys]
    monkeypatch.setattr(roles_doc, "OPERATION_SCOPES", scopes)
    with pytest.raises(ValueError, match="operation manage_keys"):
        roles_doc.render([])


def repository_files() -> list[Path]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    files = [ROOT / name for name in listed.split("\0") if name]
    assert len(files) > 50, "git listed too few files for this to be the repository"
    return [path for path in files if path.is_file()]


def test_no_file_points_outside_the_repository() -> None:
    offenders = []
    for path in repository_files():
        text = path.read_bytes().decode("utf-8", errors="replace").lower()
        offenders += [f"{path.relative_to(ROOT)}: {pointer}" for pointer in OUTSIDE_POINTERS if pointer in text]
    assert not offenders, f"files refer to documents outside the repository: {offenders}"


def test_markdown_links_resolve_inside_the_repository() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for document in documents:
        for target in MARKDOWN_LINK.findall(document.read_text()):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            resolved = (document.parent / target.partition("#")[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{document.relative_to(ROOT)} -> {target}")
    assert not broken, f"relative links that do not reach a file in the repository: {broken}"


def test_readme_lists_every_document_in_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    linked = {target.partition("#")[0] for target in MARKDOWN_LINK.findall(readme)}
    unlisted = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "docs").glob("*.md"))
        if str(path.relative_to(ROOT)) not in linked
    ]
    assert not unlisted, f"README.md's list of documents misses {unlisted}"


# --- docs/answers.md: its examples, run on the shipped content ------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> CompiledRuleSet:
    return compile_ruleset(parse_ruleset(default_ruleset()), parse_questionnaire(default_questionnaire()))


def example_answers(**changes: object) -> dict[str, object]:
    answers = json.loads((ROOT / "docs" / "examples" / "assessment-request.json").read_text())["answers"]
    assert isinstance(answers, dict)
    answers.update(changes)
    return {key: value for key, value in answers.items() if value is not None}


def problems(compiled: CompiledRuleSet, answers: dict[str, object]) -> list[tuple[str, str]]:
    return [(issue.pointer, issue.message) for issue in compiled.validate_answers(answers)]


IMAGE_FOLLOW_UPS = [
    "image_recipient",
    "image_coerced",
    "image_shared_beyond_recipient",
    "image_online_public",
    "image_involves_sexual_acts",
    "image_content_extreme",
]


def test_answers_doc_the_example_request_is_low_without_gaps(shipped: CompiledRuleSet) -> None:
    result = shipped.evaluate(example_answers())
    assert (result["level"], result["information_gaps"]) == ("low", [])
    assert "assessment_date" not in example_answers()
    assert "concern_date" not in example_answers()


def test_answers_doc_items_not_asked_and_required(shipped: CompiledRuleSet) -> None:
    not_asked = "this item is not asked given the other answers (enable_when), leave it out"
    assert problems(shipped, example_answers(image_recipient="adult")) == [("/image_recipient", not_asked)]
    missing = problems(shipped, example_answers(image_created_self="yes"))
    assert missing == [(f"/{item}", "required item is missing") for item in IMAGE_FOLLOW_UPS]
    unknown = shipped.evaluate(example_answers(image_created_self="unknown"))
    assert unknown["information_gaps"] == ["image_created_self"]
    assert problems(shipped, example_answers(child_age_years=None)) == [
        ("/child_age_years", "required item is missing")
    ]
    first_version = compile_ruleset(
        parse_ruleset(load(RULESET_FILES[0])), parse_questionnaire(load(QUESTIONNAIRE_FILES[0]))
    )
    assert problems(first_version, example_answers(child_age_years="unknown")) == [
        ("/child_age_years", 'expected a whole number, got "unknown"')
    ]
    assert problems(shipped, example_answers(child_age_years="unknown")) == []


def test_answers_doc_unknown_answers(shipped: CompiledRuleSet) -> None:
    concern = shipped.evaluate(example_answers(concern_date="unknown"))
    assert (concern["level"], concern["information_gaps"]) == ("low", ["concern_date"])
    age = shipped.evaluate(example_answers(child_age_years="unknown"))
    assert (age["level"], age["information_gaps"]) == ("medium", ["child_age_years"])
    gap = shipped.evaluate(example_answers(contact_adult_involved="unknown"))
    assert (gap["level"], gap["information_gaps"]) == ("medium", ["contact_adult_involved"])
    assert [floor["id"] for floor in gap["floors_applied"]] == ["unknown_answers"]
    first = gap["reasons"][0]
    assert first["rule_id"] == "unknown_answers"
    assert first["items"] == ["contact_adult_involved"]
    assert first["text"].startswith(
        'Unresolved question that decides an immediate referral: contact_adult_involved answered "unknown".'
    )
