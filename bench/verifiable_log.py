"""The verifiable log at scale (issue 20): prints a table, appends nothing, asserts only that proofs are right.

    .venv/bin/python bench/verifiable_log.py --events 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/verifiable_log.py --events 100000           # SQLite in a temporary directory

With `--postgres ADMIN_URL` a throwaway database is created next to the admin URL's and dropped at the end; without
it, a SQLite file in a temporary directory. Either way the database is migrated with the project's alembic, then:

1. the leaf's canonical form: `merkle.audit_entry` against the `rfc8785` package on the same realistic event
   documents (both must give the same bytes);
2. an organisation and N audit events with a valid hash chain written by direct SQL (COPY on PostgreSQL, batched
   executemany on SQLite) and the chain head set to the last one;
3. the tree built as the backfill does (`service.extend_tree` in committed batches of N / checkpoints events), a
   checkpoint signed after each batch (`service.sign_if_grown`, a generated key), so proofs have several signed
   sizes to use;
4. in-process proofs over the database (`service.inclusion_proof`, `service.consistency_proof`, each in its own
   session as a request would) against a naive reference in the same run: RFC 9162's recursive PATH and PROOF over
   the list of all N leaf hashes, held in memory (reading them is timed once, apart). The naive one runs on fewer
   samples; every naive proof is compared with the service's;
5. the same proofs over HTTP (create_app + httpx's ASGITransport, a key with only Role.monitor), skipped with a
   message when the app has no such routes yet. Every proof read is audited, so each request also appends an
   event to the organisation's chain.

Timings are wall-clock on whatever else the machine is doing; compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import orjson
import rfc8785
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.audit.chain import event_body, event_hash, genesis_hash
from app.audit.models import AuditChainHead, AuditEvent
from app.auth import service as auth_service
from app.auth.permissions import Role
from app.core.db import utcnow
from app.main import create_app
from app.verifiable_log import merkle, service
from app.verifiable_log.models import MerkleNode
from app.verifiable_log.note import generate_signer
from tests.conftest import create_postgres_database, drop_postgres_database, make_settings, migrate

EVENTS_TABLE = cast(Table, AuditEvent.__table__)
EVENT_COLUMNS = [column.name for column in EVENTS_TABLE.c]
INSERT_BATCH = 20_000
CANONICAL_SAMPLE = 20_000
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
T = TypeVar("T")


# --- realistic events ----------------------------------------------------------------------------------------------


class EventMaker:
    """Audit events shaped like the application's: mostly assessment creates (with a record digest), reads and
    lists (with every listed resource), some key operations and audit reads, from a few dozen clients and users."""

    def __init__(self, organisation_id: str, rng: random.Random) -> None:
        self.organisation_id = organisation_id
        self.rng = rng
        self.clients = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(12)]
        self.users = [f"user-{i}" for i in range(40)]
        self.children = [f"child-{rng.randrange(10**6):06d}" for _ in range(5000)]

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _hex(self) -> str:
        return self.rng.getrandbits(256).to_bytes(32, "big").hex()

    def event(self, sequence: int) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        event: dict[str, Any] = {
            "organisation_id": self.organisation_id,
            "occurred_at": START + timedelta(microseconds=sequence * 250_000 + rng.randrange(1000)),
            "client_id": rng.choice(self.clients),
            "acting_user": rng.choice(self.users),
            "action": "assessment.read",
            "resource_type": "assessment",
            "resource_id": None,
            "subject_ref": None,
            "status": 200,
            "details": None,
            "resources": None,
            "digest": self._hex(),
            "record_digest": None,
        }
        if roll < 0.40:
            event.update(
                action="assessment.create",
                resource_id=self._id(),
                subject_ref=rng.choice(self.children),
                status=201,
                details={"level": rng.choice(["low", "medium", "high"]), "ruleset": "default@3"},
                record_digest=self._hex(),
            )
        elif roll < 0.80:
            event.update(resource_id=self._id(), subject_ref=rng.choice(self.children))
        elif roll < 0.95:
            listed = [{"id": self._id(), "subject_ref": rng.choice(self.children)} for _ in range(rng.randrange(1, 21))]
            event.update(action="assessment.list", details={"count": len(listed)}, resources=listed)
        elif roll < 0.98:
            event.update(action="audit.list", resource_type="audit", details={"count": 50, "filters": ["subject_ref"]})
        else:
            event.update(
                action="client.create",
                resource_type="client",
                resource_id=rng.choice(self.clients),
                details={"key_id": self._id()},
                digest=None,
            )
        return event


def chained(maker: EventMaker, count: int) -> Iterator[list[dict[str, Any]]]:
    """`count` events in batches, each with its sequence, prev_hash and hash (the chain the application writes)."""
    prev_hash = genesis_hash(maker.organisation_id)
    for start in range(1, count + 1, INSERT_BATCH):
        batch = []
        for sequence in range(start, min(start + INSERT_BATCH, count + 1)):
            event = maker.event(sequence)
            event["sequence"], event["prev_hash"] = sequence, prev_hash
            event["hash"] = prev_hash = event_hash(event)
            batch.append(event)
        yield batch


# --- the database ----------------------------------------------------------------------------------------------------


def generate_log(factory: sessionmaker[Session], postgresql: bool, organisation_id: str, count: int, seed: int) -> str:
    """Write `count` chained events for the organisation and set its chain head; returns the last hash."""
    maker = EventMaker(organisation_id, random.Random(seed))
    last_hash = genesis_hash(organisation_id)
    with factory.begin() as session:
        connection = session.connection()
        for batch in chained(maker, count):
            if postgresql:
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with cursor.copy(f"COPY audit_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                    for event in batch:
                        copy.write_row([_copy_value(event[name]) for name in EVENT_COLUMNS])
            else:
                connection.execute(insert(EVENTS_TABLE), batch)
            last_hash = batch[-1]["hash"]
        session.add(
            AuditChainHead(organisation_id=organisation_id, sequence=count, hash=last_hash, updated_at=utcnow())
        )
    return last_hash


def _copy_value(value: object) -> object:
    return orjson.dumps(value).decode() if isinstance(value, dict | list) else value


# --- the naive reference: RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1 over all leaf hashes ---------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) where leaves[i] is already MTH({d(i)}) = SHA-256(0x00 || d(i))."""
    if hi - lo == 1:
        return leaves[lo]
    k = _k(hi - lo)
    return merkle.node_hash(naive_mth(leaves, lo, lo + k), naive_mth(leaves, lo + k, hi))


def naive_path(m: int, leaves: Sequence[bytes], lo: int, hi: int) -> list[bytes]:
    if hi - lo == 1:
        return []
    k = _k(hi - lo)
    if m < k:
        return [*naive_path(m, leaves, lo, lo + k), naive_mth(leaves, lo + k, hi)]
    return [*naive_path(m - k, leaves, lo + k, hi), naive_mth(leaves, lo, lo + k)]


def naive_subproof(m: int, leaves: Sequence[bytes], lo: int, hi: int, b: bool) -> list[bytes]:
    if m == hi - lo:
        return [] if b else [naive_mth(leaves, lo, hi)]
    k = _k(hi - lo)
    if m <= k:
        return [*naive_subproof(m, leaves, lo, lo + k, b), naive_mth(leaves, lo + k, hi)]
    return [*naive_subproof(m - k, leaves, lo + k, hi, False), naive_mth(leaves, lo, lo + k)]


# --- measuring -------------------------------------------------------------------------------------------------------


def timed(call: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def summary_us(seconds: Sequence[float]) -> str:
    """median / p99 in microseconds (p99 is the maximum below 100 samples)."""
    values = sorted(s * 1e6 for s in seconds)
    p99 = values[-1] if len(values) < 100 else statistics.quantiles(values, n=100)[98]
    return f"{statistics.median(values):,.0f} / {p99:,.0f}"


def rows(table: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"| {name.ljust(width)} | {value} |")


def canonical_form(organisation_id: str, seed: int) -> list[tuple[str, str]]:
    """audit_entry against the rfc8785 package on the same documents (realistic bodies, as event_body makes them)."""
    maker = EventMaker(organisation_id, random.Random(seed))
    documents = []
    for batch in chained(maker, CANONICAL_SAMPLE):
        documents += [
            {"sequence": e["sequence"], "prev_hash": e["prev_hash"], "hash": e["hash"], "body": event_body(e)}
            for e in batch
        ]
    reference_s, reference = timed(lambda: [bytes(rfc8785.dumps(d)) for d in documents])
    entry_s, entries = timed(
        lambda: [merkle.audit_entry(d["sequence"], d["prev_hash"], d["hash"], d["body"]) for d in documents]
    )
    if entries != reference:
        raise SystemExit("audit_entry and rfc8785 disagree on a realistic event")
    mean_bytes = sum(map(len, entries)) / len(entries)
    return [
        ("leaf entry: rfc8785 package, us/event", f"{reference_s / len(documents) * 1e6:.2f}"),
        ("leaf entry: merkle.audit_entry, us/event", f"{entry_s / len(documents) * 1e6:.2f}"),
        (
            "leaf entry: speed-up (same bytes)",
            f"{reference_s / entry_s:.1f}x ({len(documents):,} events, {mean_bytes:.0f} B)",
        ),
    ]


def build_tree(
    factory: sessionmaker[Session], organisation_id: str, count: int, checkpoints: int, keys: Any
) -> tuple[float, list[float], list[int]]:
    """extend_tree in committed batches, a checkpoint signed after each; (extend seconds, sign seconds, sizes)."""
    step = -(-count // checkpoints)
    extend_total, sign_times, sizes = 0.0, list[float](), list[int]()
    while not sizes or sizes[-1] < count:
        with factory.begin() as session:
            seconds, extended = timed(partial(service.extend_tree, session, organisation_id, utcnow(), limit=step))
        extend_total += seconds
        if extended.broken_at is not None:
            raise SystemExit(f"the generated chain is broken at {extended.broken_at}")
        with factory.begin() as session:
            seconds, signed = timed(partial(service.sign_if_grown, session, organisation_id, keys, utcnow()))
        sign_times.append(seconds)
        if signed is None:
            raise SystemExit("no checkpoint was signed: is a signing key configured?")
        sizes.append(extended.size)
    return extend_total, sign_times, sizes


def in_process_proofs(
    factory: sessionmaker[Session],
    organisation_id: str,
    sizes: list[int],
    samples: int,
    naive_samples: int,
    rng: random.Random,
) -> list[tuple[str, str]]:
    inclusion_args = [(rng.randint(1, size), size) for size in (rng.choice(sizes) for _ in range(samples))]
    pairs = [(m, n) for m in sizes for n in sizes if m < n]
    consistency_args = [rng.choice(pairs) for _ in range(samples)]

    def inclusion(sequence: int, size: int) -> service.InclusionProof:
        with factory() as session:
            return service.inclusion_proof(session, organisation_id, sequence, size)

    def consistency(m: int, n: int) -> service.ConsistencyProof:
        with factory() as session:
            return service.consistency_proof(session, organisation_id, m, n)

    for sequence, size in inclusion_args[:20]:  # warm the pool and the caches
        inclusion(sequence, size)
    inclusion_times, inclusion_proofs = [], {}
    for sequence, size in inclusion_args:
        seconds, included = timed(partial(inclusion, sequence, size))
        inclusion_times.append(seconds)
        inclusion_proofs[(sequence, size)] = included
    consistency_times, consistency_proofs = [], {}
    for m, n in consistency_args:
        seconds, consistent = timed(partial(consistency, m, n))
        consistency_times.append(seconds)
        consistency_proofs[(m, n)] = consistent

    with factory() as session:
        read_s, leaves = timed(
            lambda: list(
                session.scalars(
                    select(MerkleNode.hash)
                    .where(MerkleNode.organisation_id == organisation_id, MerkleNode.level == 0)
                    .order_by(MerkleNode.node_index)
                )
            )
        )
    all_leaves = [bytes(leaf) for leaf in leaves]
    root_s, naive_root = timed(lambda: naive_mth(all_leaves, 0, sizes[-1]))
    with factory() as session:
        if naive_root != service.checkpoint_at(session, organisation_id, sizes[-1]).root_hash:
            raise SystemExit("the naive root differs from the signed checkpoint's")
    naive_inclusion_times = []
    for sequence, size in inclusion_args[:naive_samples]:
        seconds, path = timed(partial(naive_path, sequence - 1, all_leaves, 0, size))
        naive_inclusion_times.append(seconds)
        if path != inclusion_proofs[(sequence, size)].hashes:
            raise SystemExit(f"inclusion proof of {sequence} in {size} differs from the naive one")
    naive_consistency_times = []
    for m, n in consistency_args[:naive_samples]:
        seconds, proof = timed(partial(naive_subproof, m, all_leaves, 0, n, True))
        naive_consistency_times.append(seconds)
        if proof != consistency_proofs[(m, n)].hashes:
            raise SystemExit(f"consistency proof {m} -> {n} differs from the naive one")

    def ratio(naive: list[float], stored: list[float]) -> str:
        value = statistics.median(naive) / statistics.median(stored)
        return f"{value:,.0f}x" if value >= 10 else f"{value:.2f}x"

    return [
        (f"inclusion, service over the db, us median / p99 ({samples} samples)", summary_us(inclusion_times)),
        (
            f"inclusion, naive over {len(all_leaves):,} leaves in memory, us ({naive_samples} samples)",
            summary_us(naive_inclusion_times),
        ),
        ("inclusion: naive / service (medians)", ratio(naive_inclusion_times, inclusion_times)),
        (f"consistency, service over the db, us median / p99 ({samples} samples)", summary_us(consistency_times)),
        (
            f"consistency, naive over {len(all_leaves):,} leaves in memory, us ({naive_samples} samples)",
            summary_us(naive_consistency_times),
        ),
        ("consistency: naive / service (medians)", ratio(naive_consistency_times, consistency_times)),
        ("naive: reading every leaf hash from the db once, s (not in its figures)", f"{read_s:.2f}"),
        ("naive: root of the whole tree (checked against the checkpoint), s", f"{root_s:.2f}"),
        (
            "proof length (hashes), inclusion / consistency, max",
            f"{max(len(p.hashes) for p in inclusion_proofs.values())} / "
            f"{max(len(p.hashes) for p in consistency_proofs.values())}",
        ),
    ]


INCLUSION_PATH = "/v1/audit/proofs/inclusion"
CONSISTENCY_PATH = "/v1/audit/proofs/consistency"


async def http_proofs(
    app: Any, api_key: str, sizes: list[int], samples: int, rng: random.Random
) -> list[tuple[str, str]]:
    paths = app.openapi()["paths"]  # app.routes does not list the routes of included routers here
    if INCLUSION_PATH not in paths or CONSISTENCY_PATH not in paths:
        print(f"HTTP part skipped: the app has no {INCLUSION_PATH} and {CONSISTENCY_PATH} routes at this commit")
        return []
    headers = {"Authorization": f"Bearer {api_key}"}
    pairs = [(m, n) for m in sizes for n in sizes if m < n]
    roots: dict[int, bytes] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def get(url: str, params: dict[str, int]) -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            response = await client.get(url, params=params, headers=headers)
            seconds = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"GET {url} {params}: {response.status_code} {response.text[:300]}")
            return seconds, response.json()

        for size in sizes:
            response = await client.get(f"/v1/audit/checkpoints/{size}", headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"GET /v1/audit/checkpoints/{size}: {response.status_code} {response.text[:300]}")
            roots[size] = base64.b64decode(response.json()["root_hash"])
        for _ in range(10):  # warm up
            await get(INCLUSION_PATH, {"sequence": 1, "tree_size": sizes[0]})
        inclusion_times = []
        for _ in range(samples):
            size = rng.choice(sizes)
            sequence = rng.randint(1, size)
            seconds, body = await get(INCLUSION_PATH, {"sequence": sequence, "tree_size": size})
            inclusion_times.append(seconds)
            proof = [base64.b64decode(h) for h in body["hashes"]]
            leaf = base64.b64decode(body["leaf_hash"])
            if not merkle.verify_inclusion(leaf, body["leaf_index"], body["tree_size"], proof, roots[size]):
                raise SystemExit(f"the HTTP inclusion proof of {sequence} in {size} does not verify")
        consistency_times = []
        for _ in range(samples):
            m, n = rng.choice(pairs)
            seconds, body = await get(CONSISTENCY_PATH, {"from": m, "to": n})
            consistency_times.append(seconds)
            proof = [base64.b64decode(h) for h in body["hashes"]]
            if not merkle.verify_consistency(m, n, proof, roots[m], roots[n]):
                raise SystemExit(f"the HTTP consistency proof {m} -> {n} does not verify")
        checkpoint_times = []
        for _ in range(samples):
            started = time.perf_counter()
            response = await client.get("/v1/audit/checkpoint", headers=headers)
            checkpoint_times.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"GET /v1/audit/checkpoint: {response.status_code} {response.text[:300]}")
    return [
        (f"HTTP latest checkpoint (audited read, no proof), us ({samples} requests)", summary_us(checkpoint_times)),
        (f"HTTP inclusion (audited read), us median / p99 ({samples} requests)", summary_us(inclusion_times)),
        (f"HTTP consistency (audited read), us median / p99 ({samples} requests)", summary_us(consistency_times)),
    ]


# --- the run ---------------------------------------------------------------------------------------------------------


def describe_machine(postgresql: bool, factory: sessionmaker[Session]) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    with factory() as session:
        database = (
            str(session.scalar(text("SHOW server_version")))
            if postgresql
            else f"SQLite {session.scalar(text('select sqlite_version()'))}"
        )
    database = f"PostgreSQL {database}" if postgresql else database
    return (
        f"commit {commit or '?'}, Python {platform.python_version()}, {database}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def run(url: str, postgresql: bool, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    signer_key, _ = generate_signer("bench.riskapi.invalid")
    started, _ = timed(lambda: migrate(url))
    app = create_app(make_settings(url, log_signing_key=signer_key))
    factory: sessionmaker[Session] = app.state.sessionmaker
    try:
        print(describe_machine(postgresql, factory))
        print(f"migrated in {started:.1f} s")
        with factory.begin() as session:
            organisation = auth_service.create_organisation(session, f"bench-{uuid.uuid4().hex[:8]}", "Bench")
            organisation_id = organisation.id
        table: list[tuple[str, str]] = []
        if not args.skip_canonical:
            table += canonical_form(organisation_id, args.seed)
        seconds, _ = timed(lambda: generate_log(factory, postgresql, organisation_id, args.events, args.seed))
        table.append(("log generated by direct SQL, s (events/s)", f"{seconds:.1f} ({args.events / seconds:,.0f})"))
        print(": ".join(table[-1]))
        extend_s, sign_times, sizes = build_tree(
            factory, organisation_id, args.events, args.checkpoints, app.state.log_keys
        )
        with factory() as session:
            nodes = session.scalar(
                select(func.count()).select_from(MerkleNode).where(MerkleNode.organisation_id == organisation_id)
            )
            storage = ""
            if postgresql:
                mib = session.scalar(text("select pg_total_relation_size('merkle_nodes')")) / 2**20
                storage = f", {mib:,.0f} MiB with its index"
        table += [
            (
                f"tree build: extend_tree in {len(sizes)} committed batches, s (events/s)",
                f"{extend_s:.1f} ({args.events / extend_s:,.0f})",
            ),
            ("stored subtree rows", f"{nodes:,}{storage}"),
            (
                f"checkpoint signing (sign_if_grown), ms median of {len(sign_times)}",
                f"{statistics.median(sign_times) * 1e3:.1f}",
            ),
        ]
        print(*(": ".join(row) for row in table[-3:]), sep="\n")
        table += in_process_proofs(factory, organisation_id, sizes, args.samples, args.naive_samples, rng)
        if not args.skip_http:
            with factory.begin() as session:
                api_key = auth_service.create_client(
                    session, organisation_id, "bench monitor", [Role.monitor], secret_key=app.state.settings.secret_key
                ).api_key
            table += asyncio.run(http_proofs(app, api_key, sizes, args.http_samples, rng))
        print()
        database = "PostgreSQL" if postgresql else "SQLite"
        print(f"{args.events:,} events, {database}, checkpoints at {', '.join(f'{s:,}' for s in sizes)}")
        rows(table)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        app.state.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events in the generated log (default 100,000)")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="create a throwaway database beside this one's")
    parser.add_argument("--checkpoints", type=int, default=10, help="committed build batches, one checkpoint each")
    parser.add_argument("--samples", type=int, default=2000, help="in-process proofs of each kind")
    parser.add_argument("--naive-samples", type=int, default=5, help="naive proofs of each kind")
    parser.add_argument("--http-samples", type=int, default=300, help="HTTP requests of each kind")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--skip-canonical", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    if args.events < args.checkpoints or args.checkpoints < 2:
        parser.error("--checkpoints must be at least 2 and at most --events")
    if args.postgres:
        name = f"riskapi_bench_vlog_{uuid.uuid4().hex[:8]}"
        url = create_postgres_database(args.postgres, name)
        try:
            run(url, True, args)
        finally:
            drop_postgres_database(args.postgres, name)
        return
    with tempfile.TemporaryDirectory(prefix="riskapi-bench-vlog-") as directory:
        run(f"sqlite:///{Path(directory) / 'bench.db'}", False, args)


if __name__ == "__main__":
    main()
