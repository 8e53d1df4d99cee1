"""docs/roles.md, rendered from the grants in app/auth/permissions.py.

Regenerate the committed copy with `make docs` (or `python -m app.auth.roles_doc docs/roles.md`); a test fails
while the two differ. Every role and operation needs a line of prose below: a new one without it makes `render()`
fail, so the document cannot fall behind the table it describes.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from app.auth.permissions import CASE_DATA_OPERATIONS, GRANTS, Operation, Role

REGENERATE = "make docs"

ROLE_PURPOSES: dict[Role, str] = {
    Role.assessor: "the case system or professional who submits and amends assessments",
    Role.supervisor: "a safeguarding supervisor: everything an assessor does, plus overrides and error marks",
    Role.rule_author: "writes and tests draft questionnaires and rule sets",
    Role.rule_publisher: "everything a rule author does, plus making reviewed versions live for the organisation",
    Role.auditor: "reads the audit trail and the assessments it covers",
    Role.admin: "manages API keys, publishes content and reads the audit trail; never reads or writes assessments",
}

OPERATION_SCOPES: dict[Operation, str] = {
    Operation.read_content: (
        "read questionnaire and rule-set versions, their JSON schemas and fixtures, and the organisation's current"
        " rule sets"
    ),
    Operation.evaluate: "dry-run a rule-set version on answers sent in the request (nothing is stored)",
    Operation.write_assessments: "create assessments, amend them (a new revision) and rescore them",
    Operation.read_assessments: "list and read assessments, their revisions, replays and printable reports",
    Operation.supervise_assessments: "override an assessment's level and mark an assessment as entered in error",
    Operation.author_content: "create and replace drafts of questionnaires and rule sets, validate them, diff versions",
    Operation.impact_analysis: (
        "run a rule-set version over the organisation's stored assessments to see which results would change"
    ),
    Operation.publish_content: (
        "publish and retire questionnaire and rule-set versions, and choose the organisation's current rule set"
    ),
    Operation.read_audit: "list the organisation's audit events and verify its audit chain",
    Operation.manage_keys: "create, list, rotate and revoke API clients and their keys",
}


def _missing_prose() -> list[str]:
    return [f"role {r.value}" for r in Role if r not in ROLE_PURPOSES] + [
        f"operation {o.value}" for o in Operation if o not in OPERATION_SCOPES
    ]


def _paragraph(text: str) -> str:
    return textwrap.fill(text, width=116, break_on_hyphens=False, break_long_words=False)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _granted(role: Role) -> list[Operation]:
    return [operation for operation in Operation if role in GRANTS[operation]]


def render() -> str:
    """The Markdown of docs/roles.md."""
    missing = _missing_prose()
    if missing:
        raise ValueError(f"app/auth/roles_doc.py has no description for: {', '.join(missing)}")
    lines = [
        "# Roles and what they may do",
        "",
        f"<!-- Generated from app/auth/permissions.py by `{REGENERATE}`; do not edit by hand. -->",
        "",
        _paragraph(
            "Every API key belongs to one API client of one organisation and holds one or more roles, chosen when"
            " the client is created (`riskapi key create --role ROLE`, repeatable, or `POST /v1/clients` with a"
            " `roles` list). Each route that needs a key names exactly one operation; a request is allowed when at"
            " least one of the key's roles grants that operation, and refused with 403 otherwise. A key sees its own"
            " organisation's records and content and the content shipped with the service, never another"
            " organisation's."
        ),
        "",
        _paragraph(
            "Operations marked *case data* concern a child's record: their requests must also carry"
            " `X-Acting-User`, the opaque id of the professional on whose behalf the system calls (400 without it)."
        ),
        "",
        "## Roles",
        "",
    ]
    for role in Role:
        lines += [f"### `{role.value}`", "", f"{_sentence(ROLE_PURPOSES[role])} May:", ""]
        lines += [f"- `{operation.value}`: {OPERATION_SCOPES[operation]}" for operation in _granted(role)]
        lines.append("")
    lines += [
        "## Operations",
        "",
        "| operation | what it covers | case data | " + " | ".join(f"`{role.value}`" for role in Role) + " |",
        "|---|---|---|" + "---|" * len(Role),
    ]
    for operation in Operation:
        marks = " | ".join("yes" if role in GRANTS[operation] else "" for role in Role)
        case_data = "yes" if operation in CASE_DATA_OPERATIONS else ""
        lines.append(f"| `{operation.value}` | {OPERATION_SCOPES[operation]} | {case_data} | {marks} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    """`python -m app.auth.roles_doc [PATH]`: write the Markdown to PATH, or to standard output."""
    text = render()
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
