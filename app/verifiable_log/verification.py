"""`audit verify` over the verifiable log: while the chain is walked, each event's leaf is recomputed into a compact
range (the hashes of the perfect subtrees of the leaves so far: O(log n) memory), every node it completes is
compared with the stored one, and every stored checkpoint is opened with the published keys and compared with the
root of the events at its size.

What it checks, per organisation:
(a) every stored node of the tree (leaf hashes of sequences 1 .. tree size, and every complete subtree over them)
    is the one the events give; a stored interior node is blamed only when its children match (a changed event
    changes every node above its leaf: that is one problem, its leaf's);
(b) the stored nodes give the events' root at the tree's size;
(c) every checkpoint's note verifies with the published keys under the organisation's origin, says the row's size
    and root, and that root is the events' root at that size;
(d) no checkpoint is larger than the tree.

Reads are ordered so that a tree extended or a checkpoint signed while this runs is no false alarm: the largest
checkpoint size is read first, the tree's size second (the tree only grows past a signed size), and only
checkpoints up to that first size are checked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.audit.service import LogProblem, LogReport
from app.auth import service as auth_service
from app.verifiable_log import merkle, repository
from app.verifiable_log.checkpoint import CheckpointError, open_checkpoint
from app.verifiable_log.keys import LogKeys
from app.verifiable_log.note import NoteError
from app.verifiable_log.repository import DbNodeStore

# Leaves whose stored nodes are read per statement, and checkpoints read per statement, during the walk.
READ_BATCH = 4096


@dataclass
class _Peak:
    hash: bytes
    differs: bool  # the stored node of this subtree is missing or not this hash


class CompactRange:
    """The Merkle tree of the leaves appended so far, kept as the hashes of its maximal perfect subtrees, largest
    first (one per 1 bit of the size): appending is amortised O(1), the root O(log n). Each subtree's hash is
    handed to `completed` as it is completed, whose answer (does the stored node differ?) rides along with it."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[_Peak] = []

    def append(self, leaf: bytes, completed: Callable[[int, int, bytes, bool], bool]) -> None:
        index = self.size
        self._peaks.append(_Peak(leaf, completed(0, index, leaf, False)))
        level = 0
        while index & 1:  # the new subtree is a right child: its parent is complete
            right = self._peaks.pop()
            left = self._peaks[-1]
            level, index = level + 1, index >> 1
            parent = merkle.node_hash(left.hash, right.hash)
            self._peaks[-1] = _Peak(parent, completed(level, index, parent, left.differs or right.differs))
        self.size += 1

    def root(self) -> bytes:
        if not self._peaks:
            return merkle.EMPTY_ROOT
        result = self._peaks[-1].hash
        for peak in reversed(self._peaks[:-1]):
            result = merkle.node_hash(peak.hash, result)
        return result


class TreeCheck:
    """The `audit.service.LogCheck` of the verifiable log, with the deployment's published keys."""

    def __init__(self, keys: LogKeys) -> None:
        self.keys = keys

    def begin(self, session: Session, organisation_id: str) -> TreeWalk:
        return TreeWalk(session, organisation_id, self.keys)


class TreeWalk:
    """One organisation's walk: fed every event in sequence order, then `finish`."""

    def __init__(self, session: Session, organisation_id: str, keys: LogKeys) -> None:
        self.session = session
        self.organisation_id = organisation_id
        self.verifiers = keys.verifiers
        self.origin = keys.origin(auth_service.organisation_slug(session, organisation_id))
        self.report = LogReport()
        latest = repository.latest_checkpoint(session, organisation_id)
        self.checkpoint_limit = -1 if latest is None else latest.tree_size
        self.tree_size = repository.stored_tree_size(session, organisation_id)
        self.report.tree_size = self.tree_size
        if self.tree_size is None and latest is not None:
            self.report.add(LogProblem("tree", "the tree's size row is missing but checkpoints of the tree exist"))
        self.events = CompactRange()
        self.gap_at: int | None = None  # the first sequence missing or out of order: roots past it are unknown
        self.root_at_tree_size: bytes | None = merkle.EMPTY_ROOT if self.tree_size == 0 else None
        # Events past both the tree and the last checkpoint need no leaf: nothing stored is compared with them.
        self.needed_up_to = max(self.tree_size or 0, self.checkpoint_limit)
        self._stored: dict[merkle.NodeKey, bytes] = {}  # the stored nodes the current window of leaves completes
        self._window_end = 0
        self._checkpoints = self._stored_checkpoints()
        self._next = next(self._checkpoints, None)
        self._check_checkpoints_up_to(0)

    def event(self, sequence: int, prev_hash: str, hash: str, body: dict[str, Any]) -> None:
        if sequence < 1:
            self._problem(f"event {sequence}", "a sequence below 1 has no place in the tree", sequence)
            return
        if sequence > self.needed_up_to:
            return
        if self.gap_at is not None:
            return
        if sequence != self.events.size + 1:
            self.gap_at = self.events.size + 1
            return
        leaf = merkle.leaf_hash(merkle.audit_entry(sequence, prev_hash, hash, body))
        self.events.append(leaf, self._compare)
        if self.events.size == self.tree_size:
            self.root_at_tree_size = self.events.root()
        self._check_checkpoints_up_to(self.events.size)

    def finish(self) -> LogReport:
        while self._next is not None:  # checkpoints beyond the events that could be hashed
            self._check_checkpoint(*self._next, recomputed=None)
            self._next = next(self._checkpoints, None)
        if self.tree_size is not None:
            self._check_stored_root(self.tree_size)
        return self.report

    # --- the parts ---------------------------------------------------------------------------------------------

    def _problem(self, where: str, problem: str, sequence: int | None = None) -> None:
        self.report.add(LogProblem(where, problem, sequence))

    def _stored_checkpoints(self) -> Iterator[tuple[int, bytes, str]]:
        after = -1
        while True:
            batch = repository.checkpoints_after(
                self.session, self.organisation_id, after, self.checkpoint_limit, READ_BATCH
            )
            yield from batch
            if len(batch) < READ_BATCH:
                return
            after = batch[-1][0]

    def _compare(self, level: int, index: int, value: bytes, child_differs: bool) -> bool:
        """Whether the stored node (level, index) is missing or differs from `value`, reported unless a child
        already differed (then the difference is that child's)."""
        if self.tree_size is None or (index + 1) << level > self.tree_size:
            return False  # past the tree: nothing stored to compare
        if level == 0 and index >= self._window_end:
            self._load_window(index)
        stored = self._stored.get((level, index))
        if stored == value:
            return False
        if level == 0:
            what = "missing from the tree's storage" if stored is None else "the stored leaf hash is not the event's"
            self._problem(f"leaf of sequence {index + 1}", what, index + 1)
        elif not child_differs:
            first, last = (index << level) + 1, (index + 1) << level
            what = "missing from the tree's storage" if stored is None else "the stored hash is not its children's"
            self._problem(f"tree node at level {level} index {index} (sequences {first} to {last})", what)
        return True

    def _load_window(self, start: int) -> None:
        """The stored nodes that leaves [start, start + READ_BATCH) complete, within the tree."""
        assert self.tree_size is not None
        end = min(start + READ_BATCH, self.tree_size)
        ranges: dict[int, tuple[int, int]] = {}
        for level in range(end.bit_length()):
            # Node (level, j) is completed by its last leaf, ((j + 1) << level) - 1, which must be in [start, end).
            first, last = ((start + (1 << level)) >> level) - 1, (end >> level) - 1
            if first <= last:
                ranges[level] = (first, last)
        self._stored = repository.nodes_in_ranges(self.session, self.organisation_id, ranges)
        self._window_end = end

    def _check_checkpoints_up_to(self, size: int) -> None:
        root: bytes | None = None
        while self._next is not None and self._next[0] <= size:
            if self._next[0] == size:
                root = root or self.events.root()
                self._check_checkpoint(*self._next, recomputed=root)
            else:  # only a size the walk skipped: below 1
                self._check_checkpoint(*self._next, recomputed=None)
            self._next = next(self._checkpoints, None)

    def _check_checkpoint(self, tree_size: int, root_hash: bytes, note: str, *, recomputed: bytes | None) -> None:
        self.report.checkpoints_checked += 1
        where = f"checkpoint at tree size {tree_size}"
        if not self.verifiers:
            self._problem(where, "no published key to verify its signature with (no checkpoint key is configured)")
        else:
            try:
                opened = open_checkpoint(note, self.verifiers, origin=self.origin).checkpoint
            except (NoteError, CheckpointError) as error:
                self._problem(where, f"its signed note does not verify with the published keys: {error}")
            else:
                if opened.size != tree_size:
                    self._problem(where, f"its signed note is for tree size {opened.size}")
                if opened.root_hash != root_hash:
                    self._problem(where, "its signed note names another root hash than the stored one")
        if self.tree_size is not None and tree_size > self.tree_size:
            self._problem(where, f"larger than the tree, which holds {self.tree_size} events")
        if recomputed is None:
            self._problem(where, f"its root cannot be recomputed: {self._why_no_root(tree_size)}")
        elif recomputed != root_hash:
            self._problem(where, f"its root is not the root of events 1 to {tree_size}")

    def _why_no_root(self, size: int) -> str:
        if size < 1:
            return "a tree size below 1 is never signed"
        if self.gap_at is not None:
            return f"sequence {self.gap_at} is missing or out of order"
        return f"the log holds {self.events.size} events"

    def _check_stored_root(self, tree_size: int) -> None:
        if self.root_at_tree_size is None:
            self._problem("tree", f"the tree holds {tree_size} events but {self._why_no_root(tree_size)}", self.gap_at)
        try:
            stored = merkle.root(DbNodeStore(self.session, self.organisation_id), tree_size)
        except merkle.MissingNodesError as error:
            level, index = error.keys[0]
            self._problem(
                "tree",
                f"its storage lacks {len(error.keys)} node(s) of the tree at size {tree_size}, the first at level "
                f"{level} index {index}",
            )
            return
        if self.root_at_tree_size is not None and stored != self.root_at_tree_size:
            self._problem("tree", f"the stored nodes' root at size {tree_size} is not the root of the events")
