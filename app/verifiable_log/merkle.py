"""The Merkle tree of RFC 9162 section 2.1 over stored complete-subtree hashes: pure, no database.

Hashing: a leaf is `SHA-256(0x00 || entry)`, an interior node `SHA-256(0x01 || left || right)`, the empty tree
`SHA-256("")`. An organisation's audit event with sequence `s` is leaf `s - 1`; its entry is `audit_entry(...)`.

Storage: the tree is kept as the hashes of its COMPLETE subtrees, keyed by `(level, index)`: level 0 holds the leaf
hashes, and the node `(level, index)` covers leaves `[index * 2**level, (index + 1) * 2**level)`. A complete
subtree never changes once its last leaf exists, so appending writes only the nodes the new leaf completes (one
leaf hash plus one node per trailing 1 bit of the old size: O(log n)), and a tree of any past size `m` is
described by the complete subtrees inside `[0, m)`. Every hash a root or proof needs is a right fold of maximal
aligned complete subtrees, so each is computed in three steps: the keys it needs (a pure function of the sizes:
`root_keys`, `inclusion_proof_keys`, `consistency_proof_keys`), ONE `NodeStore.get_many` for them (at most about
2 * log2(n) + 2 keys), and the hashing.

Verification (`verify_inclusion`, `verify_consistency`) follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by
step; it never raises on a bad proof, it returns False.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from app.core.canonical_json import canonical

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""`(level, index)`: the complete subtree over leaves `[index * 2**level, (index + 1) * 2**level)`."""


class NodeStore(Protocol):
    """Where one tree's complete-subtree hashes live (one organisation's tree; a database table in production)."""

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """The stored hashes of those of `keys` that are stored (a missing key is simply absent)."""
        ...

    def put_many(self, nodes: Mapping[NodeKey, bytes]) -> None:
        """Store these hashes (new keys only: a complete subtree is written once and never changes)."""
        ...


class MemoryNodeStore:
    """A `NodeStore` in a dict, for tests and for building a tree in memory."""

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, bytes] = {}

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {key: self.nodes[key] for key in keys if key in self.nodes}

    def put_many(self, nodes: Mapping[NodeKey, bytes]) -> None:
        self.nodes.update(nodes)


class MissingNodesError(LookupError):
    """The store lacks complete-subtree hashes that the tree of the asked size must have (lost or deleted rows)."""

    def __init__(self, keys: Sequence[NodeKey]) -> None:
        super().__init__(f"tree storage lacks {len(keys)} node(s), first {keys[0]}")
        self.keys = list(keys)


# --- hashing -------------------------------------------------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def audit_entry(sequence: int, prev_hash: str, hash: str, body: Mapping[str, Any]) -> bytes:
    """The leaf entry of the audit event with this sequence (its leaf index is `sequence - 1`): the RFC 8785 form
    of `{"sequence", "prev_hash", "hash", "body"}`. `body` is the event's hashed content as JSON data (the fields
    `app.audit.chain.body_hash` covers, times as strings); RFC 8785 refuses anything else (floats it cannot
    represent, non-JSON types) with an exception.

    Written by the audit chain's `canonical`, the encoder its body hashes already use: orjson where that is
    provably RFC 8785 (no floats, ASCII keys, integers within 2**53), the `rfc8785` package otherwise. About ten
    times faster than the package alone on audit events (bench/verifiable_log.py), and the same bytes (the
    property test in tests/verifiable_log/test_merkle.py)."""
    if sequence < 1:
        raise ValueError("audit event sequences start at 1")
    document: dict[str, Any] = {"sequence": sequence, "prev_hash": prev_hash, "hash": hash, "body": dict(body)}
    return canonical(document)


# --- which stored nodes a hash needs -------------------------------------------------------------------------------


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_keys(start: int, end: int) -> list[NodeKey]:
    """The maximal aligned complete subtrees that make up the RFC 9162 subtree over leaves [start, end), left to
    right (largest first). Only called for ranges that are subtrees of the RFC tree: `start` is a multiple of a
    power of two at least `end - start`, so the pieces follow the binary digits of the length."""
    keys: list[NodeKey] = []
    position = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            keys.append((level, position >> level))
            position += 1 << level
    return keys


def _fold(keys: Sequence[NodeKey], nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH of an RFC 9162 subtree from its pieces (`_range_keys`): they combine from the right."""
    result = nodes[keys[-1]]
    for key in reversed(keys[:-1]):
        result = node_hash(nodes[key], result)
    return result


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTH form PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1, leaf-side first."""
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def _consistency_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTH form PROOF(m, D[0:n]) of RFC 9162 section 2.1.4.1 (0 < m < n), in proof order."""
    ranges: list[tuple[int, int]] = []
    start, end, complete = 0, n, True  # complete: RFC's b, "the subtree is the whole old tree so far"
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            m -= k
            start += k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _check_size(size: int) -> None:
    if size < 0:
        raise ValueError(f"tree size {size} is negative")


def root_keys(size: int) -> list[NodeKey]:
    """The stored nodes the root of the tree of `size` leaves needs: at most log2(size) + 1."""
    _check_size(size)
    return _range_keys(0, size)


def inclusion_proof_keys(index: int, size: int) -> list[NodeKey]:
    """The stored nodes the inclusion proof of leaf `index` in the tree of `size` leaves needs (no duplicates): at
    most 2 * log2(size). Raises ValueError unless 0 <= index < size."""
    _check_size(size)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return [key for start, end in _inclusion_ranges(index, size) for key in _range_keys(start, end)]


def consistency_proof_keys(m: int, n: int) -> list[NodeKey]:
    """The stored nodes the consistency proof from size `m` to size `n` needs (none when m == 0 or m == n): at
    most 2 * log2(n). Raises ValueError unless 0 <= m <= n."""
    _check_size(m)
    if m > n:
        raise ValueError(f"consistency from size {m} to the smaller size {n}")
    if m in (0, n):
        return []
    return [key for start, end in _consistency_ranges(m, n) for key in _range_keys(start, end)]


# --- reading: root and proofs, one get_many each ---------------------------------------------------------------------


def _fetch(store: NodeStore, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
    if not keys:
        return {}
    nodes = store.get_many(keys)
    missing = [key for key in keys if key not in nodes]
    if missing:
        raise MissingNodesError(missing)
    return nodes


def root(store: NodeStore, size: int) -> bytes:
    """MTH of the first `size` leaves (EMPTY_ROOT for 0), valid for any size up to the stored one. Raises
    MissingNodesError if the store lacks a node that size needs."""
    keys = root_keys(size)
    if not keys:
        return EMPTY_ROOT
    return _fold(keys, _fetch(store, keys))


def inclusion_proof(store: NodeStore, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1, leaf-side first; `size` may be any size up to the
    stored one. Raises ValueError unless 0 <= index < size, MissingNodesError if the store lacks a node."""
    nodes = _fetch(store, inclusion_proof_keys(index, size))
    return [_fold(_range_keys(start, end), nodes) for start, end in _inclusion_ranges(index, size)]


def consistency_proof(store: NodeStore, m: int, n: int) -> list[bytes]:
    """PROOF(m, D[0:n]) of RFC 9162 section 2.1.4.1; empty when m == 0 or m == n (nothing to prove); `n` may be
    any size up to the stored one. Raises ValueError unless 0 <= m <= n, MissingNodesError if the store lacks a
    node."""
    nodes = _fetch(store, consistency_proof_keys(m, n))
    if m in (0, n):
        return []
    return [_fold(_range_keys(start, end), nodes) for start, end in _consistency_ranges(m, n)]


# --- writing ---------------------------------------------------------------------------------------------------------


def append_many(store: NodeStore, size: int, leaf_hashes: Sequence[bytes]) -> dict[NodeKey, bytes]:
    """Append leaves (their `leaf_hash`es) to the tree of `size` leaves. Reads, in one get_many, the complete
    subtrees of [0, size) whose parents the new leaves complete (for one leaf: one per trailing 1 bit of `size`);
    writes, in one put_many, every complete subtree the new leaves complete, and returns those nodes. Appending k
    leaves writes fewer than 2k + log2(size + k) nodes. The caller makes `size` the true current size (appending
    at a wrong size corrupts the tree)."""
    _check_size(size)
    if not leaf_hashes:
        return {}
    if any(len(value) != HASH_SIZE for value in leaf_hashes):
        raise ValueError("a leaf hash is not 32 bytes")
    end = size + len(leaf_hashes)
    # Each complete subtree (level, index) of [0, size) is a left child; it is needed when its right sibling,
    # which ends at leaf (index + 2) << level, is completed by the new leaves.
    frontier = [(level, index) for level, index in root_keys(size) if (index + 2) << level <= end]
    known: dict[NodeKey, bytes] = dict(_fetch(store, frontier))
    new: dict[NodeKey, bytes] = {}
    for offset, value in enumerate(leaf_hashes):
        index = size + offset
        new[(0, index)] = known[(0, index)] = value
        level, position = 0, index
        while position & 1:  # this node is a right child: its parent is now complete
            parent = node_hash(known[(level, position - 1)], known[(level, position)])
            level, position = level + 1, position >> 1
            new[(level, position)] = known[(level, position)] = parent
    store.put_many(new)
    return new


def append(store: NodeStore, size: int, leaf: bytes) -> dict[NodeKey, bytes]:
    """Append one leaf (its `leaf_hash`) to the tree of `size` leaves; returns the nodes written: the leaf and one
    node per trailing 1 bit of `size` (at most log2(size + 1) + 1)."""
    return append_many(store, size, [leaf])


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------------------------------------------------


def _hashes_ok(*values: bytes) -> bool:
    return all(isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE for value in values)


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to from `leaf` (a leaf hash) at `index` in a tree of `size` (RFC 9162
    2.1.3.2 steps 1-4 and the sn check of step 5), or None if the proof cannot be one for that index and size."""
    if not 0 <= index < size or not _hashes_ok(leaf, *proof):
        return None
    fn, sn = index, size - 1
    r = bytes(leaf)
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(bytes(p), r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, bytes(p))
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """Whether `proof` shows the leaf hash `leaf` at `index` in the tree of `size` whose root is `root_hash` (RFC
    9162 2.1.3.2). False, never an exception, for anything wrong: an index outside the tree, a hash that is not 32
    bytes, a proof of the wrong length or content."""
    computed = root_from_inclusion(leaf, index, size, proof)
    return computed is not None and _hashes_ok(root_hash) and computed == bytes(root_hash)


def verify_consistency(m: int, n: int, proof: Sequence[bytes], root_m: bytes, root_n: bytes) -> bool:
    """Whether `proof` shows the tree of `m` leaves with root `root_m` is a prefix of the tree of `n` leaves with
    root `root_n` (RFC 9162 2.1.4.2). For m == n the proof must be empty and the roots equal; for m == 0 the proof
    must be empty and `root_m` the empty tree's root (every tree extends the empty one). False, never an exception,
    for anything wrong (m > n, negative sizes, a hash that is not 32 bytes, a proof of the wrong length)."""
    if not 0 <= m <= n or not _hashes_ok(root_m, root_n, *proof):
        return False
    root_m, root_n = bytes(root_m), bytes(root_n)
    if m == n:
        return not proof and root_m == root_n
    if m == 0:
        return not proof and root_m == EMPTY_ROOT
    # 1. An empty path fails.
    if not proof:
        return False
    path = [bytes(c) for c in proof]
    # 2. If first is an exact power of 2, prepend first_hash.
    if m & (m - 1) == 0:
        path.insert(0, root_m)
    # 3.
    fn, sn = m - 1, n - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    return fr == root_m and sr == root_n and sn == 0


def build(leaf_hashes: Iterable[bytes]) -> MemoryNodeStore:
    """A memory store holding the tree of these leaves (for tests and tools)."""
    store = MemoryNodeStore()
    append_many(store, 0, list(leaf_hashes))
    return store
