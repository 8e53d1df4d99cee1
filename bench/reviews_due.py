"""Reviews-due list: `GET /v1/assessments?review_by_before=<instant>` on N stored assessments of one organisation.

    .venv/bin/python bench/reviews_due.py [--sizes 10000,100000] [--only postgres|sqlite] [--requests 20]

Per database (PostgreSQL: a scratch database `riskapi_bench_due` on RISKAPI_BENCH_POSTGRES_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres, dropped afterwards; SQLite: a temporary file):
- `riskapi db upgrade`, `riskapi seed`, `riskapi org create` and `riskapi key create` (the app's own migrations,
  content and an assessor + supervisor key), then `riskapi serve` (1 worker, rate limit off);
- a few hundred real assessments, amendments and overrides through the API (valid rows, audited);
- copies of those rows bulk-inserted with SQLAlchemy Core up to each size, in chains of revisions (each row is
  amended with probability 0.3: ~30 % superseded), ~10 % of rows with one or two overrides (raise-only levels, the
  override's review date the earlier of the one in force and its own, `review_by_after_override`). Standing
  revisions are created uniformly over the past 730 days, earlier revisions 7-120 days before the next one; each
  row's review date is its created_at plus its level's interval (none for `low`). The copies have no audit event
  (`audit verify` would report them: this database is thrown away);
- PostgreSQL is ANALYZEd after seeding (autovacuum would do it); SQLite is left as the app leaves it (no ANALYZE).

Then, one client, sequential requests, in rounds (each case once per round, after one unmeasured warm-up round):
the due list's first page (limit 50) and a deep page (limit 50, the cursor of the middle of the due list, encoded
with the app's own `DUE.encode`; checked once against a cursor the API returned) for the instants now - 30 days,
now and now + 7 days, and the newest-first list's first page. Client-side latency, median and p95. For the largest
size on PostgreSQL, EXPLAIN (ANALYZE, BUFFERS) of the due statement exactly as the app sends it. --jit off turns
PostgreSQL's JIT compilation off for the scratch database (ALTER DATABASE; the app's own connection `options` would
override PGOPTIONS), to try that server setting without changing the app.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, event, exists, func, insert, select, text, union
from sqlalchemy.orm import Session, aliased

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.assessments import repository  # noqa: E402
from app.assessments.models import Assessment, AssessmentEnteredInError, AssessmentOverride  # noqa: E402
from app.assessments.service import ListFilters  # noqa: E402
from app.content import default_ruleset  # noqa: E402
from app.scoring.reviews import review_by_after_override  # noqa: E402
from tests.conftest import create_postgres_database, drop_postgres_database  # noqa: E402
from tests.hardening.support import assessment_body, embedded_tests  # noqa: E402
from tests.servers import Server, start_server  # noqa: E402

POSTGRES_ADMIN = os.environ.get("RISKAPI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "riskapi_bench_due"
ORG = "bench-due"
API_CREATES, API_AMENDS, API_OVERRIDES = 300, 60, 40
SUPERSEDED_P, OVERRIDDEN_P, TWO_OVERRIDES_P = 0.3, 0.1, 0.3
BATCH = 2000
PAGE = 50
LEVELS = ["low", "medium", "high", "immediate"]
REVIEW_DAYS = {level: p["review_within_days"] for level, p in default_ruleset()["level_policies"].items()}

_A = Assessment.__table__
_O = AssessmentOverride.__table__


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_cli(url: str, *args: str) -> str:
    env = {**os.environ, "RISKAPI_DATABASE_URL": url, "RISKAPI_ENVIRONMENT": "test", "RISKAPI_LOG_LEVEL": "WARNING"}
    done = subprocess.run([str(ROOT / ".venv/bin/riskapi"), *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"riskapi {shlex.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(url: str) -> str:
    """Migrates, seeds, creates the organisation and an assessor + supervisor key with the CLI; returns the key."""
    run_cli(url, "db", "upgrade")
    run_cli(url, "seed")
    run_cli(url, "org", "create", ORG, "Bench reviews due")
    roles = ["--role", "assessor", "--role", "supervisor"]
    issued = run_cli(url, "key", "create", "--org", ORG, "--name", "bench", *roles)
    match = re.search(r"^api key:\s+(\S+)$", issued, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no key in the output of `riskapi key create`:\n{issued}")
    return match.group(1)


def seed_through_api(http: httpx.Client) -> None:
    """Real assessments, amendments and overrides: the rows every copy is made from."""
    answers = [case["answers"] for case in embedded_tests()]
    created: list[dict[str, Any]] = []
    for i in range(API_CREATES):
        response = http.post("/v1/assessments", json=assessment_body(f"api-{i}", answers[i % len(answers)]))
        if response.status_code == 201:
            created.append(response.json())
    if len(created) < API_CREATES // 2:
        raise RuntimeError(f"only {len(created)} of {API_CREATES} creates succeeded")
    for i, shown in enumerate(created[:API_AMENDS]):
        body = {"answers": answers[(i + 7) % len(answers)]}
        response = http.post(f"/v1/assessments/{shown['id']}/revisions", json=body)
        response.raise_for_status()
    raisable = [c for c in created[API_AMENDS:] if c["level"] != "immediate"][:API_OVERRIDES]
    for shown in raisable:
        level = LEVELS[LEVELS.index(shown["level"]) + 1]
        body = {"level": level, "rationale": "Further disclosure since the assessment."}
        http.post(f"/v1/assessments/{shown['id']}/override", json=body).raise_for_status()


@dataclass
class Templates:
    organisation_id: str
    assessments: list[dict[str, Any]]
    override: dict[str, Any]

    @property
    def override_p(self) -> float:
        """The chance that a row whose level can be raised (not `immediate`) is overridden: ~10 % of all rows."""
        raisable = sum(row["computed_level"] != "immediate" for row in self.assessments) / len(self.assessments)
        return min(1.0, OVERRIDDEN_P / raisable)


def templates(engine: Engine) -> Templates:
    with engine.connect() as conn:
        organisation_id = conn.execute(text("SELECT id FROM organisations WHERE slug = :s"), {"s": ORG}).scalar_one()
        rows = [dict(r) for r in conn.execute(select(_A).where(_A.c.organisation_id == organisation_id)).mappings()]
        override = dict(conn.execute(select(_O).where(_O.c.organisation_id == organisation_id)).mappings().first())
    return Templates(organisation_id, rows, override)


def count(engine: Engine, organisation_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(_A.c.organisation_id == organisation_id)).scalar_one())


def top_up(engine: Engine, t: Templates, target: int, now: datetime, rng: random.Random) -> int:
    """Bulk-inserts copies of the template rows until the organisation holds `target` assessments; returns how many
    were inserted."""
    missing = target - count(engine, t.organisation_id)
    made = 0
    assessments: list[dict[str, Any]] = []
    overrides: list[dict[str, Any]] = []

    def flush(conn: Any) -> None:
        if assessments:
            conn.execute(insert(_A), assessments)
        if overrides:
            conn.execute(insert(_O), overrides)
        assessments.clear()
        overrides.clear()

    with engine.begin() as conn:
        while made < missing:
            length = 1
            while rng.random() < SUPERSEDED_P and made + length < missing:
                length += 1
            # the standing (last) revision over the past two years; each earlier one 7-120 days before the next
            moments = [now - timedelta(seconds=rng.uniform(0, 730 * 86400))]
            for _ in range(length - 1):
                moments.append(moments[-1] - timedelta(seconds=rng.uniform(7 * 86400, 120 * 86400)))
            subject = f"case-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
            previous: str | None = None
            for created_at in reversed(moments):
                template = rng.choice(t.assessments)
                level = template["computed_level"]
                days = REVIEW_DAYS[level]
                row = {
                    **template,
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "subject_ref": subject,
                    "created_at": created_at,
                    "review_by": created_at + timedelta(days=days) if days is not None else None,
                    "supersedes": previous,
                }
                assessments.append(row)
                previous = row["id"]
                if level != "immediate" and rng.random() < t.override_p:
                    overrides.extend(override_rows(t, row, rng, now))
            made += length
            if len(assessments) >= BATCH:
                flush(conn)
        flush(conn)
    return made


def override_rows(t: Templates, row: dict[str, Any], rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    out = []
    computed = row["computed_level"]
    level, in_force, at = computed, row["review_by"], row["created_at"]
    for _ in range(2 if rng.random() < TWO_OVERRIDES_P else 1):
        at = min(now, at + timedelta(seconds=rng.uniform(3600, 3 * 86400)))
        new_level = rng.choice(LEVELS[LEVELS.index(computed) + 1 :])
        in_force = review_by_after_override(in_force, at, REVIEW_DAYS[new_level])
        values = {k: v for k, v in t.override.items() if k != "id"}
        values |= {"assessment_id": row["id"], "level": new_level, "previous_level": level}
        out.append(values | {"created_at": at, "review_by": in_force})
        level = new_level
    return out


_Next = aliased(Assessment)


def due_conditions(organisation_id: str, before: datetime) -> list[Any]:
    """The due list's rows, as `repository.due_page` selects them (no other filter)."""
    return [
        Assessment.organisation_id == organisation_id,
        repository.effective_review_by() < before,
        ~exists().where(_Next.organisation_id == organisation_id, _Next.supersedes == Assessment.id),
        ~exists().where(
            AssessmentEnteredInError.organisation_id == organisation_id,
            AssessmentEnteredInError.assessment_id == Assessment.id,
        ),
    ]


def shape(engine: Engine, organisation_id: str, before: datetime) -> tuple[int, int, tuple[datetime, str] | None]:
    """Candidates (own or any override's review_by before the instant, superseded included), rows due, and the
    position of the middle row of the due list."""
    candidates = union(
        select(Assessment.id).where(Assessment.organisation_id == organisation_id, Assessment.review_by < before),
        select(AssessmentOverride.assessment_id).where(
            AssessmentOverride.organisation_id == organisation_id, AssessmentOverride.review_by < before
        ),
    ).subquery()
    review_by = repository.effective_review_by()
    with Session(engine) as session:
        n_candidates = session.execute(select(func.count()).select_from(candidates)).scalar_one()
        n_due = session.execute(select(func.count(Assessment.id)).where(*due_conditions(organisation_id, before)))
        due = int(n_due.scalar_one())
        middle = None
        if due:
            stmt = (
                select(review_by.label("r"), Assessment.id)
                .where(*due_conditions(organisation_id, before))
                .order_by(review_by, Assessment.id)
                .offset(due // 2)
                .limit(1)
            )
            row = session.execute(stmt).one()
            middle = (row.r, row.id)
    return int(n_candidates), due, middle


def deep_cursor(before: datetime, position: tuple[datetime, str]) -> str:
    return repository.DUE.encode(position, ListFilters(review_by_before=before).scope())


def check_cursor_encoding(http: httpx.Client, engine: Engine, organisation_id: str, before: datetime) -> None:
    """The cursor this bench builds is the one the API returns for the same position."""
    page = http.get("/v1/assessments", params={"review_by_before": iso(before), "limit": PAGE}).json()
    if page["next_cursor"] is None:
        return
    review_by = repository.effective_review_by()
    with Session(engine) as session:
        last = page["items"][-1]["id"]
        value = session.execute(select(review_by).where(Assessment.id == last)).scalar_one()
    if deep_cursor(before, (value, last)) != page["next_cursor"]:
        raise RuntimeError("the bench's cursor differs from the API's: the deep-page figures would be wrong")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(http: httpx.Client, cases: list[tuple[str, dict[str, str]]], requests: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {name: [] for name, _ in cases}
    for round_number in range(requests + 1):  # round 0 warms up
        for name, params in cases:
            started = time.perf_counter()
            response = http.get("/v1/assessments", params=params)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.status_code} {response.text[:500]}")
            if round_number:
                timings[name].append(elapsed)
    return timings


def explain(engine: Engine, organisation_id: str, before: datetime, after: tuple[datetime, str] | None) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement `repository.due_page` sends, captured as it is sent."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            repository.due_page(
                session,
                organisation_id,
                ListFilters(review_by_before=before).selection(),
                review_by_before=before,
                after=after,
                limit=PAGE,
            )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = next((s, p) for s, p in captured if "ORDER BY" in s)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        raw.rollback()
    finally:
        raw.close()
    return plan


@contextmanager
def database(kind: str, scratch: Path, jit: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{scratch / 'due.db'}"
        return
    url = create_postgres_database(POSTGRES_ADMIN, PG_DATABASE)
    try:
        if jit == "off":
            admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{PG_DATABASE}" SET jit = off'))
            admin.dispose()
        yield url
    finally:
        drop_postgres_database(POSTGRES_ADMIN, PG_DATABASE)


def bench(kind: str, sizes: list[int], requests: int, jit: str, scratch: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rng = random.Random(16)
    with database(kind, scratch, jit) as url:
        key = prepare(url)
        server: Server = start_server(url, scratch / f"{kind}-server.log", RISKAPI_LOG_LEVEL="WARNING")
        engine = create_engine(url)
        headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "bench"}
        try:
            with httpx.Client(base_url=server.base, headers=headers, timeout=120) as http:
                seed_through_api(http)
                t = templates(engine)
                now = datetime.now(UTC).replace(microsecond=0)
                instants = {"now-30d": now - timedelta(days=30), "now": now, "now+7d": now + timedelta(days=7)}
                for size in sizes:
                    started = time.perf_counter()
                    inserted = top_up(engine, t, size, now, rng)
                    if kind == "postgres":
                        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                            conn.execute(text("VACUUM ANALYZE"))
                    seeded = time.perf_counter() - started
                    with engine.connect() as conn:
                        superseded = conn.execute(text("SELECT count(*) FROM assessments WHERE supersedes IS NOT NULL"))
                        n_superseded = superseded.scalar_one()
                        n_overridden = conn.execute(
                            text("SELECT count(DISTINCT assessment_id) FROM assessment_overrides")
                        ).scalar_one()
                    print(
                        f"{kind} N={size}: inserted {inserted} copies in {seeded:.1f} s; superseded "
                        f"{n_superseded / size:.1%}, with overrides {n_overridden / size:.1%}",
                        flush=True,
                    )
                    cases: list[tuple[str, dict[str, str]]] = [("newest first, page 1", {"limit": str(PAGE)})]
                    shapes: dict[str, tuple[int, int]] = {}
                    for label, before in instants.items():
                        n_candidates, due, middle = shape(engine, t.organisation_id, before)
                        shapes[label] = (n_candidates, due)
                        params = {"review_by_before": iso(before), "limit": str(PAGE)}
                        cases.append((f"due {label}, page 1", params))
                        if middle is not None:
                            cases.append((f"due {label}, deep", params | {"cursor": deep_cursor(before, middle)}))
                    if size == sizes[0]:
                        check_cursor_encoding(http, engine, t.organisation_id, now)
                    timings = measure(http, cases, requests)
                    for name, values in timings.items():
                        label = name.split(" ")[1].rstrip(",") if name.startswith("due") else None
                        n_candidates, due = shapes[label] if label else (None, None)
                        rows.append(
                            {
                                "db": kind,
                                "n": size,
                                "case": name,
                                "candidates": n_candidates,
                                "due": due,
                                "median": statistics.median(values),
                                "p95": percentile(values, 0.95),
                                "min": min(values),
                                "max": max(values),
                            }
                        )
                        print(table_row(rows[-1]), flush=True)
                if kind == "postgres":
                    _, _, middle = shape(engine, t.organisation_id, now)
                    for title, after in (("page 1", None), ("deep page", middle)):
                        print(f"\nEXPLAIN (ANALYZE, BUFFERS), PostgreSQL, N={sizes[-1]}, due now, {title}:")
                        print(explain(engine, t.organisation_id, now, after), flush=True)
        finally:
            server.stop()
            engine.dispose()
    return rows


HEADER = "| db | N | request | candidates | due | median ms | p95 ms | min-max ms |\n|---|---|---|---|---|---|---|---|"


def table_row(row: dict[str, Any]) -> str:
    db = "PostgreSQL" if row["db"] == "postgres" else "SQLite"
    counts = ["-", "-"] if row["due"] is None else [f"{row['candidates']:,}", f"{row['due']:,}"]
    return (
        f"| {db} | {row['n']:,} | {row['case']} | {' | '.join(counts)} | {row['median']:.1f} | {row['p95']:.1f} | "
        f"{row['min']:.1f}-{row['max']:.1f} |"
    )


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="assessments in the organisation, ascending")
    parser.add_argument("--only", choices=["postgres", "sqlite"])
    parser.add_argument("--requests", type=int, default=20, help="measured requests per case")
    parser.add_argument(
        "--jit", choices=["on", "off"], default="on", help="PostgreSQL: off = ALTER DATABASE ... SET jit = off"
    )
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    kinds = [args.only] if args.only else ["postgres", "sqlite"]
    print(f"`{shlex.join(['.venv/bin/python', 'bench/reviews_due.py', *sys.argv[1:]])}`")
    print(f"before: {uptime()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="riskapi-bench-due-") as scratch:
        for kind in kinds:
            rows += bench(kind, sizes, args.requests, args.jit, Path(scratch))
    print(f"\nafter: {uptime()}\n\n{HEADER}")
    for row in rows:
        print(table_row(row))


if __name__ == "__main__":
    main()
