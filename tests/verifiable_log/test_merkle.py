"""The Merkle tree over stored complete subtrees (app.verifiable_log.merkle): published vectors, a naive reference
written from RFC 9162's definitions, tampering, and how many stored nodes appends and proofs touch."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.chain import event_body, event_hash, genesis_hash
from app.verifiable_log import merkle
from app.verifiable_log.checkpoint import Checkpoint, sign_checkpoint
from app.verifiable_log.merkle import NodeKey
from app.verifiable_log.note import Signer

VECTORS = json.loads((Path(__file__).parent / "vectors" / "transparency_dev_merkle_rfc6962.json").read_text())


# --- the naive reference: RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1, word for word -------------------------------


def _k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# --- helpers -------------------------------------------------------------------------------------------------------


class CountingStore(merkle.MemoryNodeStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []  # keys asked per get_many call
        self.writes: list[int] = []  # nodes written per put_many call

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        self.reads.append(len(keys))
        return super().get_many(keys)

    def put_many(self, nodes: Mapping[NodeKey, bytes]) -> None:
        self.writes.append(len(nodes))
        super().put_many(nodes)


def entries(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def grown(data: Sequence[bytes]) -> CountingStore:
    """A store built one append at a time, as the application will."""
    store = CountingStore()
    for size, entry in enumerate(data):
        merkle.append(store, size, merkle.leaf_hash(entry))
    return store


def flipped(proof: Sequence[bytes], i: int) -> list[bytes]:
    changed = list(proof)
    changed[i] = bytes([changed[i][0] ^ 0x10]) + changed[i][1:]
    return changed


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def log2(n: int) -> int:
    return max(n - 1, 0).bit_length()


# --- hashing and the entry -----------------------------------------------------------------------------------------


def test_hashes_are_rfc_9162s() -> None:
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert merkle.EMPTY_ROOT.hex() == VECTORS["empty_tree_root"]
    assert merkle.root(merkle.MemoryNodeStore(), 0) == merkle.EMPTY_ROOT


def test_audit_entry_is_the_rfc_8785_form_of_the_four_fields() -> None:
    entry = merkle.audit_entry(3, "ab" * 32, "cd" * 32, {"status": 200, "action": "café", "details": None})
    assert (
        entry
        == (
            '{"body":{"action":"café","details":null,"status":200},"hash":"'
            + "cd" * 32
            + '","prev_hash":"'
            + "ab" * 32
            + '","sequence":3}'
        ).encode()
    )
    with pytest.raises(ValueError, match="start at 1"):
        merkle.audit_entry(0, "", "", {})


# Any JSON a body could hold, and what RFC 8785 refuses: floats (NaN and infinities too), integers beyond 2**53,
# keys outside ASCII (sorted by UTF-16 code units, not code points), lone surrogates.
any_text = st.text(max_size=10) | st.sampled_from(["\ud800", "a\udfff", "\U0001f600", "\uffff", "é"])
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats()
    | any_text
)
json_bodies = st.dictionaries(
    any_text,
    st.recursive(
        json_scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
        max_leaves=20,
    ),
    max_size=8,
)


@settings(max_examples=500, deadline=None)
@given(
    sequence=st.integers(min_value=1, max_value=2**63 - 1),
    prev_hash=any_text,
    hash_=any_text,
    body=json_bodies,
)
def test_audit_entry_is_exactly_rfc_8785_for_any_body(sequence: int, prev_hash: str, hash_: str, body: dict) -> None:
    """audit_entry takes the fast encoder where it is provably RFC 8785: its bytes must be the `rfc8785` package's,
    and where the package refuses the document, audit_entry must refuse it with the package's own error."""
    document = {"sequence": sequence, "prev_hash": prev_hash, "hash": hash_, "body": body}
    try:
        expected: bytes | type[Exception] = bytes(rfc8785.dumps(document))
    except Exception as refused:
        expected = type(refused)
    if isinstance(expected, bytes):
        assert merkle.audit_entry(sequence, prev_hash, hash_, body) == expected
    else:
        with pytest.raises(expected):
            merkle.audit_entry(sequence, prev_hash, hash_, body)


def test_audit_entry_of_a_stored_event_body_is_rfc_8785() -> None:
    """A body as `app.audit.chain.event_body` makes it, the case the fast encoder is for."""
    body = {
        "organisation_id": "7d0c7f0e-4a7e-4a38-9b0e-0d7b4c1f2a11",
        "occurred_at": "2027-01-11T09:00:00.123456Z",
        "client_id": None,
        "acting_user": "Zoë",
        "action": "assessment.list",
        "resource_type": "assessment",
        "resource_id": None,
        "subject_ref": None,
        "status": 200,
        "details": {"count": 2},
        "resources": [{"id": "a1", "subject_ref": "child-1"}, {"id": "a2", "subject_ref": None}],
        "digest": "ef" * 32,
    }
    document = {"sequence": 9, "prev_hash": "ab" * 32, "hash": "cd" * 32, "body": body}
    assert merkle.audit_entry(9, "ab" * 32, "cd" * 32, body) == bytes(rfc8785.dumps(document))


# --- published vectors (transparency-dev/merkle, proof/verify_test.go) ---------------------------------------------


def vector_store() -> merkle.MemoryNodeStore:
    return grown([h(leaf) for leaf in VECTORS["leaves"]])


def test_vector_roots_for_every_prefix() -> None:
    store = vector_store()
    for size, expected in enumerate(VECTORS["roots"], start=1):
        assert merkle.root(store, size).hex() == expected
    assert merkle.build(merkle.leaf_hash(h(leaf)) for leaf in VECTORS["leaves"]).nodes == store.nodes


def inclusion_probes(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes) -> list[tuple]:
    """transparency-dev/merkle's corruptInclusionProof: every probe must fail."""
    some = h("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, merkle.EMPTY_ROOT, leaf, proof),
        (index, size, some, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
    ]
    probes += [(index, size, root, leaf, flipped(proof, i)) for i in range(len(proof))]
    if proof:
        probes.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], some, *proof[1:]]))
    return probes


@pytest.mark.parametrize("vector", VECTORS["inclusion_proofs"], ids=lambda v: f"leaf{v['leaf']}-size{v['size']}")
def test_vector_inclusion_proofs(vector: dict) -> None:
    store = vector_store()
    index, size, expected = vector["leaf"] - 1, vector["size"], [h(p) for p in vector["proof"]]
    if index < 0:  # the Go table's {0, 0, nil}: no leaf, nothing to prove
        with pytest.raises(ValueError, match="not in a tree"):
            merkle.inclusion_proof(store, index, size)
        assert not merkle.verify_inclusion(merkle.EMPTY_ROOT, 0, 0, [], merkle.EMPTY_ROOT)
        return
    leaf = merkle.leaf_hash(h(VECTORS["leaves"][index]))
    root = h(VECTORS["roots"][size - 1])
    assert merkle.inclusion_proof(store, index, size) == expected
    assert merkle.root_from_inclusion(leaf, index, size, expected) == root
    assert merkle.verify_inclusion(leaf, index, size, expected, root)
    for probe in inclusion_probes(index, size, expected, root, leaf):
        i, n, r, lf, p = probe
        assert not merkle.verify_inclusion(lf, i, n, p, r), probe


def consistency_probes(m: int, n: int, root1: bytes, root2: bytes, proof: list[bytes]) -> list[tuple]:
    """transparency-dev/merkle's corruptConsistencyProof: every probe must fail."""
    probes = [
        (m - 1, n, root1, root2, proof),
        (m + 1, n, root1, root2, proof),
        (m ^ 2, n, root1, root2, proof),
        (m, n * 2, root1, root2, proof),
        (m, n // 2, root1, root2, proof),
        (m, n, b"WrongRoot", root2, proof),
        (m, n, root1, b"WrongRoot", proof),
        (m, n, root2, root1, proof),
        (m, n, root1, root2, []),
        (m, n, root1, root2, [*proof, b""]),
        (m, n, root1, root2, [*proof, root1]),
        (m, n, root1, root2, [*proof, root2]),
        (m, n, root1, root2, [b"", *proof]),
        (m, n, root1, root2, [root1, *proof]),
        (m, n, root1, root2, [root2, *proof]),
        (m, n, root1, root2, [proof[0], *proof]),
        (m, n, root1, root2, proof[:-1]),
    ]
    return probes + [(m, n, root1, root2, flipped(proof, i)) for i in range(len(proof))]


@pytest.mark.parametrize("vector", VECTORS["consistency_proofs"], ids=lambda v: f"{v['size1']}-{v['size2']}")
def test_vector_consistency_proofs(vector: dict) -> None:
    store = vector_store()
    m, n, expected = vector["size1"], vector["size2"], [h(p) for p in vector["proof"]]
    root1, root2 = h(VECTORS["roots"][m - 1]), h(VECTORS["roots"][n - 1])
    assert merkle.consistency_proof(store, m, n) == expected
    assert merkle.verify_consistency(m, n, expected, root1, root2)
    if expected:
        for probe in consistency_probes(m, n, root1, root2, expected):
            assert not merkle.verify_consistency(*probe), probe


def test_consistency_edge_cases() -> None:
    """transparency-dev/merkle's TestVerifyConsistency table, with real roots, and the empty tree."""
    r1, r2, empty = h(VECTORS["roots"][0]), h(VECTORS["roots"][1]), merkle.EMPTY_ROOT
    assert merkle.verify_consistency(0, 0, [], empty, empty)
    assert merkle.verify_consistency(1, 1, [], r1, r1)
    assert merkle.verify_consistency(0, 1, [], empty, r1)
    assert not merkle.verify_consistency(0, 1, [], r2, r1)  # stricter than Go: the empty tree's root is known
    assert not merkle.verify_consistency(1, 1, [], r1, r2)  # same size, different roots
    assert not merkle.verify_consistency(0, 0, [], empty, r2)
    assert not merkle.verify_consistency(1, 0, [], r1, empty)  # time travel to the past
    assert not merkle.verify_consistency(2, 1, [], r2, r1)
    assert not merkle.verify_consistency(1, 2, [], r1, r2)  # empty proof
    assert not merkle.verify_consistency(-1, 2, [], r1, r2)
    for m, n, a, b in [(0, 0, empty, empty), (0, 1, empty, r1), (1, 1, r1, r1)]:  # roots match, proof not empty
        assert not merkle.verify_consistency(m, n, [empty], a, b)
    assert merkle.verify_inclusion(merkle.leaf_hash(b"data"), 0, 1, [], merkle.leaf_hash(b"data"))
    for index, size in [(0, 0), (1, 0), (2, 1), (-1, 1)]:
        assert not merkle.verify_inclusion(r1, index, size, [], r1)
    assert not merkle.verify_inclusion(b"", 0, 1, [], b"")  # not 32-byte hashes


def test_generation_refuses_impossible_arguments() -> None:
    store = vector_store()
    for index, size in [(0, 0), (8, 8), (-1, 3)]:
        with pytest.raises(ValueError, match="not in a tree"):
            merkle.inclusion_proof(store, index, size)
    with pytest.raises(ValueError, match="smaller size"):
        merkle.consistency_proof(store, 5, 4)
    with pytest.raises(ValueError, match="negative"):
        merkle.root(store, -1)
    assert merkle.consistency_proof(store, 0, 8) == merkle.consistency_proof(store, 8, 8) == []
    with pytest.raises(merkle.MissingNodesError) as missing:
        merkle.root(store, 9)  # beyond what is stored
    assert missing.value.keys == [(0, 8)]


# --- against the naive reference ---------------------------------------------------------------------------------


def check_against_reference(data: list[bytes], store: merkle.MemoryNodeStore, n: int, indexes: list[int]) -> None:
    """Proofs in the tree of the first n leaves (the store may hold more): equal to the reference and verifying,
    and tampered ones failing."""
    d = data[:n]
    roots = {size: ref_mth(data[:size]) for size in range(n + 2) if size <= len(data)}
    assert merkle.root(store, n) == roots[n]
    for i in indexes:
        leaf = merkle.leaf_hash(d[i])
        proof = merkle.inclusion_proof(store, i, n)
        assert proof == ref_path(i, d)
        assert len(merkle.inclusion_proof_keys(i, n)) <= 2 * log2(n) + 2
        assert merkle.verify_inclusion(leaf, i, n, proof, roots[n])
        for j in range(len(proof)):
            assert not merkle.verify_inclusion(leaf, i, n, flipped(proof, j), roots[n])
        for other in (i - 1, i + 1):  # valid only if that leaf is the same entry with the same path
            if 0 <= other < n:
                genuine = d[other] == d[i] and proof == ref_path(other, d)
                assert merkle.verify_inclusion(leaf, other, n, proof, roots[n]) == genuine
        for size in (n - 1, n + 1):
            if i < size <= len(data):
                assert merkle.verify_inclusion(leaf, i, size, proof, roots[size]) == (proof == ref_path(i, data[:size]))
        assert not merkle.verify_inclusion(leaf, i, n, [*proof, roots[n]], roots[n])
        if proof:
            assert not merkle.verify_inclusion(leaf, i, n, proof[:-1], roots[n])
    for m in [*indexes, n]:
        proof = merkle.consistency_proof(store, m, n)
        assert proof == ([] if m == 0 else ref_proof(m, d))
        assert len(merkle.consistency_proof_keys(m, n)) <= 2 * log2(n) + 2
        assert merkle.verify_consistency(m, n, proof, roots[m], roots[n])
        assert not merkle.verify_consistency(m, n, [*proof, roots[n]], roots[m], roots[n])
        if 0 < m < n:
            assert not merkle.verify_consistency(m, n, proof[:-1], roots[m], roots[n])
            for j in range(len(proof)):
                assert not merkle.verify_consistency(m, n, flipped(proof, j), roots[m], roots[n])
            for other in (m - 1, m + 1):
                if 0 < other < n:
                    genuine = proof == ref_proof(other, d)
                    assert merkle.verify_consistency(other, n, proof, roots[other], roots[n]) == genuine


def test_every_proof_of_small_trees_matches_the_reference() -> None:
    data = entries(40)
    store = grown(data)
    for n in range(1, len(data) + 1):
        check_against_reference(data, store, n, list(range(n)))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_trees_and_past_sizes_match_the_reference(data: st.DataObject) -> None:
    total = data.draw(st.integers(1, 300), label="stored size")
    n = data.draw(st.integers(1, total), label="proof size")
    indexes = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6, unique=True), label="indexes")
    leaves = [data.draw(st.binary(max_size=8)) for _ in range(3)] + entries(total - 3) if total > 3 else entries(total)
    batch = data.draw(st.integers(1, total), label="append batch")
    store = merkle.MemoryNodeStore()
    for start in range(0, total, batch):  # batches and single appends store the same nodes
        merkle.append_many(store, start, [merkle.leaf_hash(e) for e in leaves[start : start + batch]])
    assert store.nodes == grown(leaves).nodes
    check_against_reference(leaves, store, n, indexes)


# --- how much storage each operation touches --------------------------------------------------------------------


def test_append_touches_o_log_n_nodes() -> None:
    store = CountingStore()
    for size in range(1500):
        reads_before = len(store.reads)
        new = merkle.append(store, size, merkle.leaf_hash(size.to_bytes(4, "big")))
        trailing_ones = (~size & (size + 1)).bit_length() - 1
        assert len(new) == trailing_ones + 1 <= log2(size + 1) + 1
        assert store.writes[-1] == len(new)
        assert store.reads[reads_before:] == ([trailing_ones] if trailing_ones else [])  # the left siblings
    assert len(store.nodes) == 2 * 1500 - bin(1500).count("1")  # every complete subtree, once


@pytest.fixture(scope="module")
def big_store() -> CountingStore:
    return grown([i.to_bytes(4, "big") for i in range(1500)])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 255, 256, 257, 1000, 1023, 1024, 1025, 1499, 1500])
def test_roots_and_proofs_fetch_few_nodes_in_one_call(big_store: CountingStore, n: int) -> None:
    store = big_store
    bound = 2 * log2(n) + 2
    for i in {0, 1, n // 3, n // 2, n - 2, n - 1}:
        if 0 <= i < n:
            store.reads.clear()
            merkle.inclusion_proof(store, i, n)
            keys = merkle.inclusion_proof_keys(i, n)
            assert len(keys) == len(set(keys)) <= bound
            assert store.reads == ([len(keys)] if keys else [])  # one call, or none for a one-leaf tree
    for m in {1, n // 3, n // 2, n - 1}:
        if 0 < m < n:
            store.reads.clear()
            merkle.consistency_proof(store, m, n)
            keys = merkle.consistency_proof_keys(m, n)
            assert len(keys) == len(set(keys)) <= bound
            assert store.reads == [len(keys)]
    store.reads.clear()
    merkle.root(store, n)
    assert store.reads == [bin(n).count("1")]
    assert max(level for level, _ in merkle.root_keys(n)) <= log2(n)


def test_a_proof_for_a_bigger_tree_is_not_accepted_for_a_smaller_one() -> None:
    """RFC 9162's sn checks: the right half of a tree of 2n leaves looks like a tree of n leaves to a verifier that
    keeps hashing past the proof's end, and a consistency proof into n leaves looks like one into 2n leaves to a
    verifier that stops early, and a consistency proof between the right halves' sizes plus the left half looks
    like one between those sizes to a verifier that keeps hashing. All must fail."""
    data = entries(128)
    store = grown(data)
    for n in (1, 2, 4, 8, 16, 32):
        big_root = merkle.root(store, 2 * n)
        for i in range(n, 2 * n):
            proof = merkle.inclusion_proof(store, i, 2 * n)
            leaf = merkle.leaf_hash(data[i])
            assert merkle.verify_inclusion(leaf, i, 2 * n, proof, big_root)
            assert merkle.root_from_inclusion(leaf, i - n, n, proof) is None
            assert not merkle.verify_inclusion(leaf, i - n, n, proof, big_root)
    for n in range(2, 33):
        for m in range(1, n):
            proof = merkle.consistency_proof(store, m, n)
            for bigger in (2 * n, 4 * n):
                assert not merkle.verify_consistency(m, bigger, proof, merkle.root(store, m), merkle.root(store, n))
    for n in (4, 8, 16, 32):
        for m in range(3, n):
            if m & (m - 1):  # not a power of two: the proof's first element is the old subtree itself
                proof = merkle.consistency_proof(store, n + m, 2 * n)
                old, new = merkle.root(store, n + m), merkle.root(store, 2 * n)
                assert merkle.verify_consistency(n + m, 2 * n, proof, old, new)
                assert not merkle.verify_consistency(m, n, proof, old, new)


# --- docs/verifiable-log.md: the worked example is what the code computes ------------------------------------------

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "verifiable-log.md"
GUIDE_ORGANISATION = "0b6e3f0c-5d0a-4c8e-9a51-6f1e2d3c4b5a"
GUIDE_KEY_SEED = hashlib.sha256(b"riskapi documentation example key - never use").digest()
CREATED, READ = ("assessment.create", 201), ("assessment.read", 200)
LISTED = [{"id": "a-0001", "subject_ref": "child-4471"}, {"id": "a-0002", "subject_ref": "child-9120"}]
GUIDE_EVENTS = [  # occurred_at, (action, status), resource_id, subject_ref, details, resources, digest, record_digest
    ("09:15:02.113205", CREATED, "a-0001", "child-4471", {"level": "medium", "ruleset": "default@3"}, None, "1", "2"),
    ("09:16:40.500001", READ, "a-0001", "child-4471", None, None, "3", None),
    ("10:02:11.000042", CREATED, "a-0002", "child-9120", {"level": "high", "ruleset": "default@3"}, None, "4", "5"),
    ("11:30:00.250000", ("assessment.list", 200), None, None, {"count": 2}, LISTED, "6", None),
    ("14:05:59.999999", READ, "a-0002", "child-9120", None, None, "7", None),
]


def guide_events() -> list[dict[str, Any]]:
    """The five events of the guide's worked example, chained as the application chains them."""
    events: list[dict[str, Any]] = []
    prev_hash = genesis_hash(GUIDE_ORGANISATION)
    for sequence, (time, (action, status), resource_id, subject_ref, details, resources, digest, record) in enumerate(
        GUIDE_EVENTS, start=1
    ):
        event = {
            "organisation_id": GUIDE_ORGANISATION,
            "occurred_at": datetime.fromisoformat(f"2027-02-01T{time}+00:00"),
            "client_id": "5f2d9a7e-1c3b-4e8f-a6d2-9b0c1e2f3a4b",
            "acting_user": "social.worker.12",
            "action": action,
            "resource_type": "assessment",
            "resource_id": resource_id,
            "subject_ref": subject_ref,
            "status": status,
            "details": details,
            "resources": resources,
            "digest": digest * 64,
            "record_digest": record and record * 64,
            "sequence": sequence,
            "prev_hash": prev_hash,
        }
        event["hash"] = prev_hash = event_hash(event)
        events.append(event)
    return events


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def test_the_auditors_guide_worked_example_is_what_the_code_computes() -> None:
    guide = GUIDE.read_text()
    entries = [merkle.audit_entry(e["sequence"], e["prev_hash"], e["hash"], event_body(e)) for e in guide_events()]
    assert entries[2].decode() in guide.replace("\n", "")  # the entry of event 3, shown wrapped
    assert f"JSON ({len(entries[2])} bytes" in guide
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    for leaf in leaves:
        assert f"`{leaf.hex()[:8]}…{leaf.hex()[-8:]}` | `{b64(leaf)}`" in guide
    store = merkle.build(leaves)
    root5, root3 = merkle.root(store, 5), merkle.root(store, 3)
    assert root5.hex() in guide
    assert b64(root3) in guide
    proof = merkle.inclusion_proof(store, 2, 5)
    assert json.dumps([b64(h) for h in proof], indent=2).replace("\n", "\n  ") in guide
    assert proof == [leaves[3], merkle.node_hash(leaves[0], leaves[1]), leaves[4]]
    assert merkle.consistency_proof(store, 3, 5) == [leaves[2], leaves[3], proof[1], leaves[4]]
    signer = Signer.from_seed("riskapi.example", GUIDE_KEY_SEED)
    assert signer.verifier_key in guide
    note = sign_checkpoint(Checkpoint("riskapi.example.org/audit/northshire", 5, root5), [signer])
    assert f"```\n{note}```" in guide
