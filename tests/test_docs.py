"""The documents stand on their own: generated ones match the code, and none points outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from app.auth import roles_doc
from app.auth.permissions import GRANTS, Operation, Role

ROOT = Path(__file__).resolve().parents[1]
ROLES_DOC = ROOT / "docs" / "roles.md"
# Written in two pieces so that this file does not itself match what it looks for.
OUTSIDE_POINTERS = ("../" + "shared", "design" + ".md")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_roles_doc_is_generated_from_the_permissions_table() -> None:
    assert ROLES_DOC.read_text() == roles_doc.render(), (
        f"docs/roles.md is stale; regenerate it with `{roles_doc.REGENERATE}`"
        " (or `.venv/bin/python -m app.auth.roles_doc docs/roles.md`)"
    )


def test_roles_doc_shows_every_grant() -> None:
    text = roles_doc.render()
    matrix = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(matrix) == len(Operation)
    for line, operation in zip(matrix, Operation, strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[0] == f"`{operation.value}`"
        granted = {role for role, cell in zip(Role, cells[3:], strict=True) if cell == "yes"}
        assert granted == GRANTS[operation], operation


def test_roles_doc_refuses_an_operation_it_cannot_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    scopes = dict(roles_doc.OPERATION_SCOPES)
    del scopes[Operation.manage_keys]
    monkeypatch.setattr(roles_doc, "OPERATION_SCOPES", scopes)
    with pytest.raises(ValueError, match="operation manage_keys"):
        roles_doc.render()


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
