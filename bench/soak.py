"""Soak: sustained mixed load on a real server, SIGKILLed and restarted on a schedule, then a full reconciliation.

Every acknowledged (201) assessment must read back unchanged after all the kills; every stored assessment must
have its audit event; the audit chain must verify; no answer may be a 5xx other than 503. Figures are printed
(requests, acknowledgements, kills, latency percentiles); nothing here is a timed assert.

    .venv/bin/python bench/soak.py [--seconds 120] [--clients 16] [--kill-every 20] [--workers 2] [--only postgres]

PostgreSQL: RISKAPI_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) is used to
create a scratch database, dropped afterwards. Rate limiting is off for the run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth import service as auth_service  # noqa: E402
from app.auth.permissions import Role  # noqa: E402
from app.core.db import create_db_engine, make_sessionmaker  # noqa: E402
from app.rulesets.seed import seed_default_content  # noqa: E402
from tests.conftest import create_postgres_database, drop_postgres_database, make_settings, migrate  # noqa: E402
from tests.hardening.support import Server, assessment_body, embedded_tests, start_server  # noqa: E402

POSTGRES_ADMIN = os.environ.get("RISKAPI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass
class Figures:
    requests: int = 0
    cut_off: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def prepare(url: str) -> str:
    migrate(url)
    settings = make_settings(url)
    engine = create_db_engine(settings)
    session: Session = make_sessionmaker(engine)()
    with session.begin():
        seed_default_content(session)
        organisation = auth_service.create_organisation(session, f"soak-{uuid.uuid4().hex[:6]}", "Soak")
        key = auth_service.create_client(
            session, organisation.id, "soak", list(Role), secret_key=settings.secret_key
        ).api_key
    session.close()
    engine.dispose()
    return key


def client_loop(server: Server, key: str, figures: Figures, stop: threading.Event, worker: int) -> None:
    answers = [case["answers"] for case in embedded_tests()]
    rng = random.Random(worker)
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": f"soak-{worker}"}
    with httpx.Client(base_url=server.base, timeout=15, headers=headers) as http:
        while not stop.is_set():
            roll = rng.random()
            with figures.lock:
                known = list(figures.acknowledged)[-50:]
            started = time.perf_counter()
            try:
                if roll < 0.6 or not known:
                    body = assessment_body(f"soak-{worker}-{uuid.uuid4().hex[:8]}", rng.choice(answers))
                    response = http.post("/v1/assessments", json=body)
                elif roll < 0.9:
                    response = http.get(f"/v1/assessments/{rng.choice(known)}")
                else:
                    response = http.get("/v1/assessments", params={"limit": 20})
            except httpx.HTTPError:
                with figures.lock:
                    figures.cut_off += 1
                return
            elapsed = (time.perf_counter() - started) * 1000
            with figures.lock:
                figures.requests += 1
                figures.latencies_ms.append(elapsed)
                figures.statuses[response.status_code] = figures.statuses.get(response.status_code, 0) + 1
                if response.status_code == 201:
                    figures.acknowledged[response.json()["id"]] = response.json()


def stable(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k not in ("overrides", "entered_in_error")}


def reconcile(url: str, server: Server, key: str, figures: Figures) -> list[str]:
    problems: list[str] = []
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "soak-checker"}
    with httpx.Client(base_url=server.base, timeout=30, headers=headers) as http:
        for assessment_id, acknowledged in figures.acknowledged.items():
            read = http.get(f"/v1/assessments/{assessment_id}")
            if read.status_code != 200:
                problems.append(f"acknowledged {assessment_id} lost ({read.status_code})")
            elif stable(read.json()) != stable(acknowledged):
                problems.append(f"{assessment_id} changed after the kills")
        verified = http.get("/v1/audit/verify").json()
        if not verified.get("ok"):
            problems.append(f"audit chain does not verify: {verified}")
    engine = create_engine(url)
    with engine.connect() as conn:
        unaudited = conn.execute(
            text(
                "SELECT count(*) FROM assessments a WHERE NOT EXISTS (SELECT 1 FROM audit_events e "
                "WHERE e.resource_id = a.id AND e.action = 'assessment.create')"
            )
        ).scalar_one()
        stored = conn.execute(text("SELECT count(*) FROM assessments")).scalar_one()
    engine.dispose()
    if unaudited:
        problems.append(f"{unaudited} stored assessments without their audit event")
    print(f"  stored {stored}, acknowledged {len(figures.acknowledged)}, audit events {verified.get('events')}")
    return problems


def soak(backend: str, url: str, args: argparse.Namespace, log: Path) -> bool:
    key = prepare(url)
    figures = Figures()
    workers = 1 if backend == "sqlite" else args.workers
    kills = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        server = start_server(url, log, workers=workers)
        stop = threading.Event()
        with ThreadPoolExecutor(args.clients) as pool:
            futures = [pool.submit(client_loop, server, key, figures, stop, i) for i in range(args.clients)]
            time.sleep(min(args.kill_every, max(1.0, deadline - time.monotonic())))
            server.kill()
            kills += 1
            stop.set()
            for future in futures:
                future.result()
    server = start_server(url, log, workers=workers)
    try:
        problems = reconcile(url, server, key, figures)
    finally:
        server.stop()
    server_errors = sum(n for status, n in figures.statuses.items() if status >= 500 and status != 503)
    if server_errors:
        problems.append(f"{server_errors} 5xx answers")
    latencies = sorted(figures.latencies_ms) or [0.0]
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    print(
        f"SOAK {backend} ({workers} workers, {args.clients} clients, {args.seconds}s, rate limit off): "
        f"{figures.requests} requests answered, {figures.cut_off} cut off by {kills} SIGKILLs, "
        f"statuses {dict(sorted(figures.statuses.items()))}, {len(figures.acknowledged)} acknowledged, "
        f"lost {sum('lost' in p for p in problems)}, latency p50 {q[49]:.1f} ms p95 {q[94]:.1f} ms p99 {q[98]:.1f} ms"
    )
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return not problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--kill-every", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="riskapi-soak-") as tmp:
        log = Path(tmp) / "server.log"
        if args.only in (None, "sqlite"):
            ok &= soak("sqlite", f"sqlite:///{tmp}/soak.db", args, log)
        if args.only in (None, "postgres"):
            name = f"riskapi_soak_{uuid.uuid4().hex[:8]}"
            url = create_postgres_database(POSTGRES_ADMIN, name)
            try:
                ok &= soak("postgres", url, args, log)
            finally:
                drop_postgres_database(POSTGRES_ADMIN, name)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
