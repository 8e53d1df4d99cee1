"""docs/roles.md, rendered from the grants in app/auth/permissions.py and the policy of every route.

Regenerate the committed copy with `make docs` (`python -m app.roles_dump docs/roles.md`, which builds the app to
list its routes); a test fails while the two differ. Every role and operation needs a line of prose below: a new one
without it makes `render()` fail, so the document cannot fall behind the table it describes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from app.auth.dependencies import Authorize, AuthorizeWhen, conditional_policies, route_policy
from app.auth.openapi import PUBLIC_PARAGRAPH, roles_paragraph
from app.auth.permissions import CASE_DATA_OPERATIONS, GRANTS, Operation, Role

REGENERATE = "make docs"

ROLE_PURPOSES: dict[Role, str] = {
    Role.assessor: "the case system or professional who submits and amends assessments",
    Role.supervisor: "a safeguarding supervisor: everything an assessor does, plus overrides and error marks",
    Role.rule_author: "writes and tests draft questionnaires and rule sets",
    Role.rule_publisher: "everything a rule author does, plus making reviewed versions live for the organisation",
    Role.auditor: "reads the audit trail and the assessments it covers",
    Role.admin: "manages API keys, publishes content and reads the audit trail; never reads or writes assessments",
    Role.monitor: (
        "an independent party that keeps the audit log's signed checkpoints and checks its proofs; reads nothing else,"
        " not even content"
    ),
}

OPERATION_SCOPES: dict[Operation, str] = {
    Operation.read_content: (
        "read questionnaire and rule-set versions, their JSON schemas and fixtures, and the organisation's current"
        " rule sets"
    ),
    Operation.evaluate: "dry-run a rule-set version on answers sent in the request (nothing is stored)",
    Operation.write_assessments: "create assessments, amend them (a new revision) and rescore them",
    Operation.read_assessments: "list and read assessments, their revisions, replays and printable reports",
    Operation.read_answers: (
        "read the answers stored with an assessment (`include=answers` on an assessment or its revisions)"
    ),
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
    Operation.manage_webhooks: (
        "subscribe endpoints to the organisation's events, enable and disable them, rotate their signing secrets,"
        " read their delivery attempts and redeliver an event (subscribing to assessment events also needs"
        " read_assessments)"
    ),
    Operation.manage_organisation: (
        "set the organisation's settings, such as the identifier system of its case ids in FHIR"
    ),
    Operation.read_checkpoints: (
        "read the signed checkpoints of the organisation's verifiable log and its inclusion and consistency proofs"
        " (no case data: they hold hashes only)"
    ),
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


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    operation: Operation | None  # None: public, no key needed
    conditions: tuple[AuthorizeWhen, ...] = ()  # further operations some of its requests need

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def endpoints(routes: Sequence[BaseRoute]) -> list[Endpoint]:
    """Every documented endpoint with the operation its policy names, by path then method."""
    found = []
    for route in iter_route_contexts(routes):
        path = route.path_format
        if path is None or not isinstance(route.original_route, APIRoute) or not route.original_route.include_in_schema:
            continue
        policy = route_policy(route.dependant)
        operation = policy.operation if isinstance(policy, Authorize) else None
        conditions = tuple(conditional_policies(route.dependant))
        found += [Endpoint(method, path, operation, conditions) for method in route.methods or () if method != "HEAD"]
    return sorted(found, key=lambda e: (e.path, METHOD_ORDER.index(e.method)))


def _endpoint_lines(listed: Sequence[Endpoint]) -> list[str]:
    lines = [
        "## Endpoints",
        "",
        _paragraph(
            "Who may call each endpoint: a key holding one of the roles marked. The same roles end each operation's"
            " description in the OpenAPI document."
        ),
        "",
        "| endpoint | operation | case data | " + " | ".join(f"`{role.value}`" for role in Role) + " |",
        "|---|---|---|" + "---|" * len(Role),
    ]
    for endpoint in listed:
        if endpoint.operation is None:
            continue
        marks = " | ".join("yes" if role in GRANTS[endpoint.operation] else "" for role in Role)
        case_data = "yes" if endpoint.operation in CASE_DATA_OPERATIONS else ""
        lines.append(f"| `{endpoint}` | `{endpoint.operation.value}` | {case_data} | {marks} |")
    public = [f"`{endpoint}`" for endpoint in listed if endpoint.operation is None]
    lines += ["", _paragraph(f"Open without a key: {', '.join(public)}."), ""]
    return lines


def _condition_lines(listed: Sequence[Endpoint]) -> list[str]:
    rows = [(endpoint, condition) for endpoint in listed for condition in endpoint.conditions]
    if not rows:
        return []
    lines = [
        "## Requests that need a further operation",
        "",
        _paragraph(
            "Some requests to an endpoint ask for more than its operation covers: they need the further operation"
            " too, and a key without it gets a 403 naming it. The OpenAPI description of the operation says so in"
            " a paragraph before its roles."
        ),
        "",
        "| endpoint | request | further operation | case data | "
        + " | ".join(f"`{role.value}`" for role in Role)
        + " |",
        "|---|---|---|---|" + "---|" * len(Role),
    ]
    for endpoint, condition in rows:
        marks = " | ".join("yes" if role in GRANTS[condition.operation] else "" for role in Role)
        case_data = "yes" if condition.operation in CASE_DATA_OPERATIONS else ""
        lines.append(f"| `{endpoint}` | {condition.when} | `{condition.operation.value}` | {case_data} | {marks} |")
    return [*lines, ""]


def render(listed: Sequence[Endpoint]) -> str:
    """The Markdown of docs/roles.md, with `listed` (from `endpoints(app.routes)`) as its table of endpoints."""
    missing = _missing_prose()
    if missing:
        raise ValueError(f"app/auth/roles_doc.py has no description for: {', '.join(missing)}")
    lines = [
        "# Roles and what they may do",
        "",
        f"<!-- Generated from app/auth/permissions.py and the routes by `{REGENERATE}`; do not edit by hand. -->",
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
        "## Reading the roles an operation needs",
        "",
        _paragraph(
            "In the interactive documentation (`/docs`, `/redoc`) and in `/openapi.json`, the description of every"
            " operation ends with the roles that may call it and the operation that grants it, such as"
            f" {roles_paragraph(Authorize(Operation.write_assessments))} An endpoint that needs no key ends with"
            f" {PUBLIC_PARAGRAPH} The `X-Acting-User` header is marked required on exactly the case-data operations."
            " A 403 names the same roles (`This operation needs one of the roles: supervisor (operation"
            " 'supervise_assessments')`): give the client one of them (`POST /v1/clients` or `riskapi key create"
            " --role`). The descriptions, the 403 and this document all come from app/auth/permissions.py."
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
    lines.append("")
    lines += _endpoint_lines(listed)
    lines += _condition_lines(listed)
    return "\n".join(lines).rstrip("\n") + "\n"
