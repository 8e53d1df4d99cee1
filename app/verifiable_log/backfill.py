"""`riskapi audit backfill`: build the tree of an organisation's existing audit events (those written before the
tree existed, or while no worker ran) in committed batches, then sign a checkpoint of it. Idempotent: each batch
starts from the tree's stored size, so a second run, or a run beside the worker, adds only what is missing."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from app.verifiable_log import service
from app.verifiable_log.keys import LogKeys

# Events added per transaction: large enough to be quick, small enough that a transaction (and its row lock, which
# the worker waits on) stays short.
BACKFILL_BATCH = 100_000


@dataclass(frozen=True)
class Backfilled:
    """The tree's size at the end, how many events this run added, the first sequence refused (the chain breaks
    there), the size of the checkpoint signed (None when none was), and the seconds taken."""

    size: int
    added: int
    broken_at: int | None
    signed_size: int | None
    seconds: float


def backfill(
    sessions: sessionmaker[Session],
    organisation_id: str,
    keys: LogKeys,
    clock: Callable[[], datetime],
    *,
    batch: int = BACKFILL_BATCH,
) -> Backfilled:
    """Extend the organisation's tree batch by batch until it holds every event (or the chain breaks), then sign a
    checkpoint if the tree grew past the latest one and a signing key is configured."""
    if batch < 1:
        raise ValueError("the batch is at least one event")
    started = time.perf_counter()
    added = 0
    while True:
        with sessions.begin() as session:
            extended = service.extend_tree(session, organisation_id, clock(), limit=batch)
        added += extended.added
        if extended.broken_at is not None or extended.added < batch:
            break
    signed_size: int | None = None
    with sessions.begin() as session:
        checkpoint = service.sign_if_grown(session, organisation_id, keys, clock())
        if checkpoint is not None:
            signed_size = checkpoint.tree_size
    return Backfilled(extended.size, added, extended.broken_at, signed_size, time.perf_counter() - started)
