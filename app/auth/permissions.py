"""Roles and the operations they grant: the one table every route's policy is checked against."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    assessor = "assessor"
    supervisor = "supervisor"
    rule_author = "rule_author"
    rule_publisher = "rule_publisher"
    auditor = "auditor"
    admin = "admin"
    monitor = "monitor"


class Operation(enum.StrEnum):
    read_content = "read_content"
    evaluate = "evaluate"
    write_assessments = "write_assessments"
    read_assessments = "read_assessments"
    read_answers = "read_answers"
    supervise_assessments = "supervise_assessments"
    author_content = "author_content"
    impact_analysis = "impact_analysis"
    publish_content = "publish_content"
    read_audit = "read_audit"
    manage_keys = "manage_keys"
    manage_webhooks = "manage_webhooks"
    manage_organisation = "manage_organisation"
    read_checkpoints = "read_checkpoints"


R = Role
# A monitor key reads checkpoints and proofs and nothing else (docs/verifiable-log.md): an independent party can
# keep the log's checkpoints without a key that reads content, scores answers or sees children's records.
_ALL_BUT_MONITOR = frozenset(Role) - {R.monitor}
GRANTS: dict[Operation, frozenset[Role]] = {
    Operation.read_content: _ALL_BUT_MONITOR,
    Operation.evaluate: _ALL_BUT_MONITOR,
    Operation.write_assessments: frozenset({R.assessor, R.supervisor}),
    Operation.read_assessments: frozenset({R.assessor, R.supervisor, R.auditor}),
    Operation.read_answers: frozenset({R.assessor, R.supervisor}),
    Operation.supervise_assessments: frozenset({R.supervisor}),
    Operation.author_content: frozenset({R.rule_author, R.rule_publisher}),
    Operation.impact_analysis: frozenset({R.rule_author, R.rule_publisher}),
    Operation.publish_content: frozenset({R.rule_publisher, R.admin}),
    Operation.read_audit: frozenset({R.auditor, R.admin}),
    Operation.manage_keys: frozenset({R.admin}),
    Operation.manage_webhooks: frozenset({R.admin}),
    Operation.manage_organisation: frozenset({R.admin}),
    Operation.read_checkpoints: frozenset({R.auditor, R.admin, R.monitor}),
}

# Operations that read or write case data: X-Acting-User is required and refusals are audited.
CASE_DATA_OPERATIONS = frozenset(
    {
        Operation.write_assessments,
        Operation.read_assessments,
        Operation.read_answers,
        Operation.supervise_assessments,
        Operation.impact_analysis,
        Operation.read_audit,
    }
)


def allowed(roles: frozenset[Role], operation: Operation) -> bool:
    return bool(roles & GRANTS[operation])


def granting_roles(operation: Operation) -> tuple[Role, ...]:
    """The roles that grant `operation`, in the order the roles are declared (for messages and documents)."""
    return tuple(role for role in Role if role in GRANTS[operation])
