"""The verifiable log's use cases: extend an organisation's tree with its new audit events, sign a checkpoint when
it grew, and prove inclusion and consistency at the sizes of signed checkpoints.

The tree is built after the fact, not in the event's transaction (ADR 0017): the audit chain stays the one write
on the request path, and an event is provable once the worker (or, later, a receipt) has extended the tree past
it and signed a checkpoint. Extending checks each event's chain link and hash first, so the tree never takes in a
broken chain: it stops before the first event that does not link, and says where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.chain import body_hash, genesis_hash, link_hash
from app.auth import service as auth_service
from app.core.errors import NotFound
from app.verifiable_log import merkle, repository
from app.verifiable_log.checkpoint import Checkpoint, sign_checkpoint
from app.verifiable_log.keys import LogKeys
from app.verifiable_log.models import AuditCheckpoint
from app.verifiable_log.repository import DbNodeStore

log = structlog.get_logger("riskapi.verifiable_log")

# Events read, hashed and appended per statement batch while extending a tree.
EXTEND_BATCH = 5000


@dataclass(frozen=True)
class Extended:
    """The tree's size after extending, how many leaves were added, and the first sequence refused (its chain
    link or hash does not hold), if any."""

    size: int
    added: int
    broken_at: int | None = None


def extend_tree(session: Session, organisation_id: str, now: datetime, *, limit: int | None = None) -> Extended:
    """Append the organisation's events after the tree's size (at most `limit`), in the caller's transaction, under
    the tree's lock. Each event must link to the one before (`prev_hash`, sequence) and carry its own hash."""
    start = size = repository.lock_tree(session, organisation_id, now)
    store = DbNodeStore(session, organisation_id)
    if size == 0:
        prev_hash = genesis_hash(organisation_id)
    else:
        (last,) = audit.chained_events(session, organisation_id, size - 1, 1) or (None,)
        if last is None or last.sequence != size:
            return _broken(organisation_id, size, size, "the tree's last event is missing")
        prev_hash = last.hash
    while limit is None or size - start < limit:
        batch = EXTEND_BATCH if limit is None else min(EXTEND_BATCH, limit - (size - start))
        events = audit.chained_events(session, organisation_id, size, batch)
        leaves: list[bytes] = []
        broken: str | None = None
        for event in events:
            expected = size + len(leaves) + 1
            if event.sequence != expected:
                broken = f"expected sequence {expected}, found {event.sequence}"
            elif event.prev_hash != prev_hash:
                broken = "prev_hash does not match the previous event's hash"
            elif link_hash(prev_hash, event.sequence, body_hash(event.body)) != event.hash:
                broken = "the event's content does not match its hash"
            if broken is not None:
                break
            leaves.append(merkle.leaf_hash(merkle.audit_entry(event.sequence, event.prev_hash, event.hash, event.body)))
            prev_hash = event.hash
        merkle.append_many(store, size, leaves)
        size += len(leaves)
        if broken is not None:
            repository.set_tree_size(session, organisation_id, size, now)
            return _broken(organisation_id, size, size + 1, broken, added=size - start)
        if len(events) < batch:
            break
    if size != start:
        repository.set_tree_size(session, organisation_id, size, now)
    return Extended(size, size - start)


def _broken(organisation_id: str, size: int, sequence: int, problem: str, *, added: int = 0) -> Extended:
    log.error("verifiable_log.chain_broken", organisation_id=organisation_id, sequence=sequence, problem=problem)
    return Extended(size, added, sequence)


def sign_if_grown(session: Session, organisation_id: str, keys: LogKeys, now: datetime) -> AuditCheckpoint | None:
    """Sign and store a checkpoint at the tree's current size if it is larger than the latest checkpoint's (never
    for a past size); None when nothing was signed (no growth, or no signing key configured)."""
    size = repository.lock_tree(session, organisation_id, now)
    latest = repository.latest_checkpoint(session, organisation_id)
    if size == 0 or not keys.signers or (latest is not None and latest.tree_size >= size):
        return None
    root_hash = merkle.root(DbNodeStore(session, organisation_id), size)
    origin = keys.origin(auth_service.organisation_slug(session, organisation_id))
    note = sign_checkpoint(Checkpoint(origin, size, root_hash), keys.signers)
    return repository.add_checkpoint(session, organisation_id, size, root_hash, note, now)


def advance(
    session: Session, organisation_id: str, keys: LogKeys, now: datetime, *, limit: int | None = None
) -> tuple[Extended, AuditCheckpoint | None]:
    """Extend the tree, then sign a checkpoint if it grew: what the worker does for each organisation."""
    extended = extend_tree(session, organisation_id, now, limit=limit)
    return extended, sign_if_grown(session, organisation_id, keys, now)


def checkpoint_covering(
    session: Session, organisation_id: str, sequence: int, keys: LogKeys, now: datetime
) -> AuditCheckpoint | None:
    """The latest checkpoint if it covers event `sequence`; otherwise the tree is extended and a checkpoint signed
    at its new size, in the caller's transaction (what a receipt needs). None when none can cover it: no signing key,
    or a chain break before the event."""
    latest = repository.latest_checkpoint(session, organisation_id)
    if latest is not None and latest.tree_size >= sequence:
        return latest
    extend_tree(session, organisation_id, now)
    signed = sign_if_grown(session, organisation_id, keys, now)
    return signed if signed is not None and signed.tree_size >= sequence else None


# --- reading ---------------------------------------------------------------------------------------------------------


def latest_checkpoint(session: Session, organisation_id: str) -> AuditCheckpoint:
    found = repository.latest_checkpoint(session, organisation_id)
    if found is None:
        raise NotFound("no checkpoint has been signed for your organisation's log yet")
    return found


def checkpoint_at(session: Session, organisation_id: str, tree_size: int) -> AuditCheckpoint:
    found = repository.checkpoint_at(session, organisation_id, tree_size)
    if found is None:
        raise NotFound(f"no checkpoint was signed at tree size {tree_size}")
    return found


@dataclass(frozen=True)
class InclusionProof:
    sequence: int
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    from_size: int
    to_size: int
    hashes: list[bytes]


def inclusion_proof(session: Session, organisation_id: str, sequence: int, tree_size: int) -> InclusionProof:
    """The proof that event `sequence` is in the tree of a signed checkpoint's `tree_size` (NotFound when no
    checkpoint was signed at that size; ValueError unless 1 <= sequence <= tree_size)."""
    checkpoint_at(session, organisation_id, tree_size)
    if not 1 <= sequence <= tree_size:
        raise ValueError(f"sequence {sequence} is not in a tree of size {tree_size}")
    store = DbNodeStore(session, organisation_id)
    index = sequence - 1
    hashes = merkle.inclusion_proof(store, index, tree_size)
    leaf = store.get_many([(0, index)]).get((0, index))
    if leaf is None:
        raise merkle.MissingNodesError([(0, index)])
    return InclusionProof(sequence, index, tree_size, leaf, hashes)


def consistency_proof(session: Session, organisation_id: str, from_size: int, to_size: int) -> ConsistencyProof:
    """The proof that the tree of the checkpoint at `from_size` is a prefix of the one at `to_size` (NotFound when
    either size has no signed checkpoint; ValueError when from_size > to_size)."""
    if from_size > to_size:
        raise ValueError(f"from ({from_size}) is larger than to ({to_size})")
    checkpoint_at(session, organisation_id, from_size)
    checkpoint_at(session, organisation_id, to_size)
    hashes = merkle.consistency_proof(DbNodeStore(session, organisation_id), from_size, to_size)
    return ConsistencyProof(from_size, to_size, hashes)
