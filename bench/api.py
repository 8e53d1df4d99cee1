"""Write-path benchmark: riskapi's full `POST /v1/assessments` against a baseline FastAPI app, alternating.

Both run as uvicorn subprocesses (1 and 2 workers) on PostgreSQL and on SQLite; a separate load process on
127.0.0.1 drives each at 8 and 64 concurrent clients for a bounded time, with an Idempotency-Key per request:
wrk (Debian package `wrk`, one thread, bench/api_load.lua) when it is installed, else bench/api_load.py
(asyncio + httpx), which itself saturates a core at 64 clients, so that those figures then measure the load
generator more than the servers. Rate limiting is OFF (RISKAPI_RATE_LIMIT_PER_MINUTE=0) for both.

    .venv/bin/python bench/api.py [--seconds 10] [--rounds 2] [--only postgres|sqlite] [--workers 1,2]

PostgreSQL: RISKAPI_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres), used
to create two scratch databases that are dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth import service as auth_service  # noqa: E402
from app.auth.permissions import Role  # noqa: E402
from app.content import default_documents  # noqa: E402
from app.core.config import Environment, Settings  # noqa: E402
from app.core.db import create_db_engine  # noqa: E402
from app.rulesets.seed import seed_default_content  # noqa: E402

ANSWERS_FROM = "V7 nine-year-old"


def body() -> bytes:
    tests = next(doc for kind, doc in default_documents() if kind == "ruleset")["tests"]
    answers = next(t["answers"] for t in tests if t["name"].startswith(ANSWERS_FROM))
    return json.dumps(
        {
            "questionnaire": {"key": "online-exposure", "version": 1},
            "ruleset": {"key": "online-harm-england", "version": 1},
            "subject_ref": "bench-case",
            "answers": answers,
        }
    ).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def env_for(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "RISKAPI_DATABASE_URL": url,
        "RISKAPI_RATE_LIMIT_PER_MINUTE": "0",
        "RISKAPI_LOG_LEVEL": "WARNING",
        "RISKAPI_ENVIRONMENT": "test",
        "PYTHONPATH": str(ROOT),
    }


def prepare_riskapi(url: str) -> str:
    """Migrate, seed and issue an assessor key; returns the key."""
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env_for(url),
        check=True,
        capture_output=True,
    )
    settings = Settings(database_url=url, environment=Environment.test)
    engine = create_db_engine(settings)
    with Session(engine) as session, session.begin():
        seed_default_content(session)
        org = auth_service.create_organisation(session, "bench", "Bench")
        key = auth_service.create_client(
            session, org.id, "bench", [Role.assessor], secret_key=settings.secret_key
        ).api_key
    engine.dispose()
    return key


@contextmanager
def serve(app: str, url: str, workers: int) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env_for(url),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{app} did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


WRK = shutil.which("wrk")


def load(base: str, key: str, concurrency: int, seconds: float, body_file: str) -> dict[str, Any]:
    """requests/s of 201s, p50 and p99 in ms, errors: wrk (C, one thread) when installed, else the httpx client."""
    if WRK is None:
        command = [sys.executable, str(ROOT / "bench" / "api_load.py"), base, key, str(concurrency), str(seconds)]
        out = subprocess.run([*command, body_file], capture_output=True, text=True, check=True, cwd=ROOT).stdout
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result
    script = str(ROOT / "bench" / "api_load.lua")

    def wrk(duration: float) -> dict[str, Any]:
        timing = [f"-d{max(1, round(duration))}s", "--timeout", "30s"]
        command = [WRK, "-t1", f"-c{concurrency}", *timing, "-s", script, base]
        out = subprocess.run([*command, "--", body_file, key], capture_output=True, text=True, check=True).stdout
        figures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return figures

    wrk(1)  # warm-up, not counted
    figures = wrk(seconds)
    ok = figures["requests"] - figures["errors"]
    return {
        "rps": ok / (figures["duration_us"] / 1e6),
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "ok": ok,
        "errors": figures["errors"],
    }


@contextmanager
def databases(kind: str, admin_url: str) -> Iterator[tuple[str, str]]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/riskapi.db", f"sqlite:///{tmp}/baseline.db"
        return
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names = ("riskapi_bench", "riskapi_bench_baseline")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        base = make_url(admin_url)
        yield tuple(base.set(database=n).render_as_string(hide_password=False) for n in names)  # type: ignore[misc]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of baseline and riskapi per cell")
    parser.add_argument("--only", choices=["postgres", "sqlite"])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--concurrency", default="8,64")
    args = parser.parse_args()
    admin_url = os.environ.get("RISKAPI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    kinds = [args.only] if args.only else ["postgres", "sqlite"]
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        handle.write(body())
        body_file = handle.name
    print(
        "rate limiting OFF (RISKAPI_RATE_LIMIT_PER_MINUTE=0); Idempotency-Key per request; "
        f"{args.seconds:.0f}s per run after 1s warm-up, {args.rounds} alternating rounds, median reported; "
        f"load generator: {'wrk' if WRK else 'httpx (install wrk for figures not bound by the load generator)'}"
    )
    print(
        f"{'db':8} {'wrk':>3} {'conc':>4} | {'baseline rps':>12} {'p50':>7} {'p99':>7} | {'riskapi rps':>11} "
        f"{'p50':>7} {'p99':>7} | {'rps ratio':>9} {'p99 ratio':>9}"
    )
    rows = []
    for kind in kinds:
        for workers in [int(w) for w in args.workers.split(",")]:
            with databases(kind, admin_url) as (riskapi_url, baseline_url):
                key = prepare_riskapi(riskapi_url)
                with (
                    serve("bench.baseline_app:create_app", baseline_url, workers) as baseline,
                    serve("app.cli:served_app", riskapi_url, workers) as riskapi,
                ):
                    for concurrency in [int(c) for c in args.concurrency.split(",")]:
                        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "riskapi": []}
                        for _ in range(args.rounds):
                            runs["baseline"].append(load(baseline, "", concurrency, args.seconds, body_file))
                            runs["riskapi"].append(load(riskapi, key, concurrency, args.seconds, body_file))
                        med = {
                            name: {m: statistics.median(r[m] for r in results) for m in ("rps", "p50_ms", "p99_ms")}
                            | {"errors": sum(r["errors"] for r in results)}
                            for name, results in runs.items()
                        }
                        b, r = med["baseline"], med["riskapi"]
                        row = {
                            "db": kind,
                            "workers": workers,
                            "concurrency": concurrency,
                            "baseline": b,
                            "riskapi": r,
                            "rps_ratio": r["rps"] / b["rps"],
                            "p99_ratio": r["p99_ms"] / b["p99_ms"],
                        }
                        rows.append(row)
                        print(
                            f"{kind:8} {workers:>3} {concurrency:>4} | {b['rps']:>12.0f} {b['p50_ms']:>7.1f} "
                            f"{b['p99_ms']:>7.1f} | {r['rps']:>11.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} | "
                            f"{row['rps_ratio']:>8.2f}x {row['p99_ratio']:>8.2f}x"
                            + (f"  errors b={b['errors']} r={r['errors']}" if b["errors"] or r["errors"] else ""),
                            flush=True,
                        )
    os.unlink(body_file)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
