"""Checkpoints: each organisation's Merkle tree is extended with its new audit events and, when it grew, a checkpoint
is signed over it (docs/verifiable-log.md). One transaction per organisation, so one that fails (a broken chain is
only logged; a database error is caught here) leaves the others to go on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.orm import Session, sessionmaker

from app.auth import service as auth_service
from app.verifiable_log import service as log_service
from app.verifiable_log.keys import LogKeys

log = structlog.get_logger("riskapi.worker")

# Events added to one organisation's tree per round: a bounded transaction, however far behind the tree is (the
# backfill command catches up a long history in larger batches).
ROUND_LIMIT = 50_000


@dataclass
class CheckpointRound:
    """What one round did: the checkpoints signed (organisation id, tree size), the organisations whose tree still
    lags behind its events (more than ROUND_LIMIT were waiting) and those that failed."""

    signed: list[tuple[str, int]] = field(default_factory=list)
    behind: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def advance_all(
    sessions: sessionmaker[Session], keys: LogKeys, now: datetime, *, limit: int = ROUND_LIMIT
) -> CheckpointRound:
    """Extend every organisation's tree by at most `limit` events and sign a checkpoint of each that grew (when a
    signing key is configured)."""
    done = CheckpointRound()
    with sessions() as session:
        organisation_ids = [organisation_id for organisation_id, _slug in auth_service.organisations(session)]
    for organisation_id in organisation_ids:
        try:
            with sessions.begin() as session:
                extended, checkpoint = log_service.advance(session, organisation_id, keys, now, limit=limit)
                tree_size = None if checkpoint is None else checkpoint.tree_size
        except Exception as exc:  # one organisation's failure must not stop the others; the error names no data
            log.error("worker.checkpoint_failed", organisation_id=organisation_id, error=type(exc).__name__)
            done.failed.append(organisation_id)
            continue
        if extended.added == limit and extended.broken_at is None:
            done.behind.append(organisation_id)
        if tree_size is not None:
            log.info("worker.checkpoint_signed", organisation_id=organisation_id, tree_size=tree_size)
            done.signed.append((organisation_id, tree_size))
    return done
