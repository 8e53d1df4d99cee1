"""Write-path benchmark: riskapi's full `POST /v1/assessments` against a baseline FastAPI app, and against another
commit of riskapi, alternating in one run.

    .venv/bin/python bench/api.py [--against REF] [--seconds 10] [--rounds N] [--only postgres|sqlite]
                                  [--workers 1,2] [--concurrency 8,64] [--rate-limit on,off] [--json PATH]
                                  [--events-worker paused|running]

Apps, each a server of its own on 127.0.0.1 with a database of its own:
- baseline: bench/baseline_app.py (sync endpoint, one ORM insert, no scoring, audit, idempotency or auth);
- REF and REF-bis (with --against): the commit REF, checked out in a git worktree with a venv of its own (both
  cached under var/bench-worktrees/<sha>, so a second run starts at once). REF-bis is a second server of the same
  REF: the A/A control, whose ratio to REF across rounds is the run's noise floor;
- current: this working tree, as it is on disk.
Each riskapi side migrates, seeds and issues its key through its own `riskapi` CLI (its own interpreter and code,
so REF's schema and content are REF's) and is served by its own `riskapi serve`.

For each database, worker count, rate-limit mode and client count, every round loads each app in turn for
--seconds after a 1 s warm-up (the order changes per round so that each app follows every other equally often);
medians over rounds are reported. Rate limiting ON is the default setting with a limit no run can reach (no 429
is expected: they are counted), OFF is RISKAPI_RATE_LIMIT_PER_MINUTE=0. Load: wrk (Debian package `wrk`, one
thread, bench/api_load.lua) when installed, else bench/api_load.py (asyncio + httpx), which saturates a core at
64 clients, so that its figures measure the load generator more than the servers. req/s counts 201 responses
only; every other status is counted per app.

Events (issue 18): every create writes one event to the outbox in its transaction. With --events-worker paused
(the default) no `riskapi worker` runs, so the figures are those of the outbox write alone. With running, the
current tree's worker (`riskapi worker`, its own process) delivers every event to a receiver in this process on
127.0.0.1, subscribed to every event type; after each load of the current app the bench waits until the outbox is
drained (every event fanned out, every delivery delivered) before the next load, and prints, per cell: deliveries,
the worker's CPU seconds per delivery (utime + stime from /proc/<pid>/stat, from the start of the load to the
drain), and the delivery latency from the event's `timestamp` (taken in the create's transaction, just before its
COMMIT) to the receiver's 2xx (first delivery of each event), p50 and p99: under the load (a saturating load
queues events faster than one worker on the same cores delivers them, so this is mostly queueing), and paced (after
each drain, 20 creates 0.1 s apart, one at a time: the latency of an idle worker).

Output: a markdown table, also written as JSON under var/bench/ (or to --json), beside each server's log.
PostgreSQL: RISKAPI_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres), used to
create one scratch database per app, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.content import default_documents  # noqa: E402

ANSWERS_FROM = "V7 nine-year-old"
RATE_LIMIT_SETTING = "RISKAPI_RATE_LIMIT_PER_MINUTE"
RATE_LIMIT_UNREACHABLE = 1_000_000_000  # per minute: rate limiting runs (counts every request), never refuses
RATE_LIMIT_MODES = {"on": RATE_LIMIT_UNREACHABLE, "off": 0}
WORKTREES = ROOT / "var" / "bench-worktrees"
RESULTS = ROOT / "var" / "bench"
UV_VERSION = "0.13.8"  # the Makefile's
WRK = shutil.which("wrk")

BASELINE, REF, REF_BIS, CURRENT = "baseline", "ref", "ref_bis", "current"
TITLES = {BASELINE: "baseline", REF: "REF", REF_BIS: "REF-bis", CURRENT: "current"}


@dataclass(frozen=True)
class Tree:
    """A riskapi source tree and the interpreter of the venv it is installed in."""

    root: Path
    python: Path

    @property
    def riskapi(self) -> Path:
        return self.python.parent / "riskapi"


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


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def run_logged(command: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Runs a set-up command; on failure raises with its output, which is otherwise kept quiet."""
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(str(p) for p in command)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def build_ref(ref: str) -> tuple[str, Tree]:
    """REF's full sha and its tree: a detached git worktree plus a venv built the Makefile's way (uv from the uv
    cache, the tree's own requirements.lock, then the tree itself editable), both kept for the next run."""
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    home = WORKTREES / sha
    tree, venv = home / "tree", home / "venv"
    stamp = venv / ".installed"
    if not (tree / ".git").exists():
        git("worktree", "prune")  # forget a worktree whose directory was removed (`make clean`)
        home.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "--detach", str(tree), sha)
    if not stamp.exists():
        print(f"building a venv for {ref} ({sha[:10]}) in {venv.relative_to(ROOT)}", file=sys.stderr, flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        run_logged([os.environ.get("PYTHON", "python3"), "-m", "venv", venv])
        python = venv / "bin" / "python"
        uv = Path(sys.executable).parent / "uv"
        if not uv.exists():
            run_logged([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"uv=={UV_VERSION}"])
            uv = venv / "bin" / "uv"
        run_logged([uv, "pip", "install", "--quiet", "--python", python, "-r", tree / "requirements.lock"])
        run_logged([uv, "pip", "install", "--quiet", "--python", python, "--no-deps", "-e", tree])
        stamp.touch()
    return sha, Tree(tree, venv / "bin" / "python")


def describe_current() -> str:
    dirty = " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{git('rev-parse', '--short=10', 'HEAD')}{dirty}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def env_for(root: Path, url: str, rate_limit: int) -> dict[str, str]:
    return {
        **os.environ,
        "RISKAPI_DATABASE_URL": url,
        RATE_LIMIT_SETTING: str(rate_limit),
        "RISKAPI_LOG_LEVEL": "WARNING",
        "RISKAPI_ENVIRONMENT": "test",
        "PYTHONPATH": str(root),
    }


def prepare_riskapi(tree: Tree, url: str) -> str:
    """Migrates, seeds and issues an assessor key with the tree's own CLI; returns the key."""
    env = env_for(tree.root, url, 0)
    for command in (["db", "upgrade"], ["seed"], ["org", "create", "bench", "Bench"]):
        run_logged([tree.riskapi, *command], cwd=tree.root, env=env)
    return issue_key(tree, url, "bench", ["assessor"])


def issue_key(tree: Tree, url: str, name: str, roles: list[str]) -> str:
    key_command = ["key", "create", "--org", "bench", "--name", name]
    for role in roles:
        key_command += ["--role", role]
    issued = run_logged([tree.riskapi, *key_command], cwd=tree.root, env=env_for(tree.root, url, 0)).stdout
    match = re.search(r"^api key:\s+(\S+)$", issued, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no key in the output of `riskapi key create`:\n{issued}")
    return match.group(1)


class Server:
    """One app under uvicorn on a free port; its output goes to a log file, shown if it fails to start."""

    def __init__(self, command: list[str | Path], root: Path, env: dict[str, str], log: IO[bytes]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [str(part) for part in command] + ["--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.log.flush()
                self.log.seek(0)
                raise RuntimeError(f"server did not start:\n{self.log.read().decode(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Receiver:
    """A webhook endpoint in this process: answers 204 at once and keeps, per event id, when its first delivery
    arrived and the event's own `timestamp`."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[float, float]] = {}  # event id -> (arrived, event timestamp), epoch seconds
        self.assessments: dict[str, str] = {}  # assessment id -> the id of its first event delivered
        self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                arrived = time.time()
                event = json.loads(body)
                stamped = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
                with receiver.lock:
                    receiver.requests += 1
                    receiver.first.setdefault(event["id"], (arrived, stamped))
                    receiver.assessments.setdefault(event["data"].get("assessment_id", ""), event["id"])
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/riskapi-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def latencies_since(self, start: float) -> list[float]:
        """Seconds from each event's timestamp to its first delivery, for the events stamped from `start` on."""
        with self.lock:
            return [arrived - stamped for arrived, stamped in self.first.values() if stamped >= start]

    def latencies_of(self, assessment_ids: list[str]) -> list[float]:
        """Seconds from the timestamp of each assessment's first event to its first delivery."""
        with self.lock:
            firsts = [self.first[self.assessments[a]] for a in assessment_ids if a in self.assessments]
        return [arrived - stamped for arrived, stamped in firsts]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


EVERY_EVENT_TYPE = [
    "assessment.created",
    "assessment.revised",
    "assessment.overridden",
    "assessment.entered_in_error",
    "assessment.review_due",
    "ruleset.published",
    "organisation.current_ruleset_changed",
    "webhook.endpoint_disabled",
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PACED_CREATES, PACED_GAP_SECONDS = 20, 0.1
WORKER_MODES = {
    "paused": "no riskapi worker: the outbox write only",
    "running": "the current tree's worker delivers to a local receiver; each load of current waits for the drain",
}


class EventsWorker:
    """The current tree's `riskapi worker` for one database, with a subscription to `receiver`."""

    def __init__(self, tree: Tree, url: str, server: Server, receiver: Receiver, env: dict[str, str], log: IO[bytes]):
        subscriber = issue_key(tree, url, f"bench-subscriber-{time.monotonic_ns()}", ["admin", "assessor"])
        response = httpx.post(
            f"{server.base}/v1/webhooks",
            json={"url": receiver.url, "event_types": EVERY_EVENT_TYPE},
            headers={"Authorization": f"Bearer {subscriber}", "X-Acting-User": "bench"},
            timeout=30,
        )
        if response.status_code != 201:
            raise RuntimeError(f"could not subscribe the bench's receiver: {response.status_code} {response.text}")
        self.url = url
        self.process = subprocess.Popen(
            [str(tree.riskapi), "worker"], cwd=tree.root, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.engine = create_engine(url, poolclass=NullPool)

    def cpu_seconds(self) -> float:
        """utime + stime of the worker process (all its threads) so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def backlog(self) -> int:
        """Events not fanned out yet plus deliveries not delivered."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM events WHERE fanned_out_at IS NULL) + "
                        "(SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')"
                    )
                ).scalar_one()
            )

    def wait_drained(self, timeout: float = 600) -> tuple[float, int]:
        """Seconds until the backlog was empty (or the timeout), and the backlog left."""
        started = time.monotonic()
        while (left := self.backlog()) and time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"riskapi worker exited with {self.process.returncode}")
            time.sleep(0.2)
        return time.monotonic() - started, left

    def paced(self, base: str, key: str, body_file: str, receiver: Receiver) -> list[float]:
        """PACED_CREATES creates one after another, PACED_GAP_SECONDS apart, with the worker idle: the delivery
        latency of each (seconds) once all are delivered, without the queueing of a saturating load."""
        headers = {"Authorization": f"Bearer {key}", "X-Acting-User": "bench", "Content-Type": "application/json"}
        content = Path(body_file).read_bytes()
        created = []
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            for _ in range(PACED_CREATES):
                response = http.post("/v1/assessments", content=content)
                if response.status_code != 201:
                    raise RuntimeError("a paced create was not a 201")
                created.append(response.json()["id"])
                time.sleep(PACED_GAP_SECONDS)
        self.wait_drained()
        return receiver.latencies_of(created)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.engine.dispose()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))] if ordered else float("nan")


def worker_figures(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    deliveries = sum(r["deliveries"] for r in rounds)
    latencies = [latency for r in rounds for latency in r.pop("latencies")]
    paced = [latency for r in rounds for latency in r.pop("paced_latencies")]
    return {
        "paced_latency_p50_ms": 1000 * percentile(paced, 0.50),
        "paced_latency_p99_ms": 1000 * percentile(paced, 0.99),
        "paced_deliveries": len(paced),
        "deliveries": deliveries,
        "cpu_seconds": sum(r["cpu_seconds"] for r in rounds),
        "cpu_ms_per_delivery": 1000 * sum(r["cpu_seconds"] for r in rounds) / deliveries if deliveries else None,
        "latency_p50_ms": 1000 * percentile(latencies, 0.50),
        "latency_p99_ms": 1000 * percentile(latencies, 0.99),
        "latency_max_ms": 1000 * max(latencies, default=float("nan")),
        "drain_seconds_max": max(r["drain_seconds"] for r in rounds),
        "backlog_left": sum(r["backlog_left"] for r in rounds),
        "rounds": rounds,
    }


def worker_line(cell: dict[str, Any]) -> str:
    w = cell["worker"]
    per_delivery = "n/a" if w["cpu_ms_per_delivery"] is None else f"{w['cpu_ms_per_delivery']:.2f} ms"
    left = f", {w['backlog_left']} NOT DRAINED" if w["backlog_left"] else ""
    return (
        f"worker running ({cell['db']}, {cell['workers']} server worker(s), {cell['clients']} clients, rate limit "
        f"{cell['rate_limit']}): {w['deliveries']} deliveries, worker CPU {per_delivery} per delivery, delivery "
        f"latency from the event's timestamp to the receiver under this load p50 {w['latency_p50_ms']:.0f} ms / "
        f"p99 {w['latency_p99_ms']:.0f} ms (max {w['latency_max_ms']:.0f} ms), drained at most "
        f"{w['drain_seconds_max']:.1f} s after a load{left}; paced ({w['paced_deliveries']} creates "
        f"{PACED_GAP_SECONDS:g} s apart after each drain) p50 {w['paced_latency_p50_ms']:.0f} ms / p99 "
        f"{w['paced_latency_p99_ms']:.0f} ms"
    )


def balanced_orders(count: int) -> list[list[int]]:
    """Orders of the apps, one per round, in which each app follows every other app equally often (a Williams
    design). A load leaves work behind (dirty pages to write back, a checkpoint, a busy database server) that
    slows whichever app comes next, so a fixed rotation would always hand the same app the baseline's light
    leftovers and the others riskapi's heavier ones."""
    first, low, high = [0], 1, count - 1
    while low <= high:
        first.append(low)
        low += 1
        if low <= high:
            first.append(high)
            high -= 1
    orders = [[(index + shift) % count for index in first] for shift in range(count)]
    return orders if count % 2 == 0 else orders + [order[::-1] for order in orders]


def load(base: str, key: str, concurrency: int, seconds: float, body_file: str) -> dict[str, Any]:
    """req/s of 201s, p50 and p99 in ms, socket errors and the count of each status: wrk (C, one thread) when
    installed, else the httpx client."""
    if WRK is None:
        command = [sys.executable, str(ROOT / "bench" / "api_load.py"), base, key, str(concurrency), str(seconds)]
        out = subprocess.run([*command, body_file], capture_output=True, text=True, check=True, cwd=ROOT).stdout
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        statuses = {int(status): count for status, count in result["statuses"].items()}
        return {
            "rps": result["rps"],
            "p50_ms": result["p50_ms"],
            "p99_ms": result["p99_ms"],
            "socket_errors": statuses.pop(0, 0),
            "statuses": statuses,
        }
    script = str(ROOT / "bench" / "api_load.lua")

    def wrk(duration: float) -> dict[str, Any]:
        timing = [f"-d{max(1, round(duration))}s", "--timeout", "30s"]
        command = [WRK, "-t1", f"-c{concurrency}", *timing, "-s", script, base]
        out = subprocess.run([*command, "--", body_file, key], capture_output=True, text=True, check=True).stdout
        figures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return figures

    wrk(1)  # warm-up, not counted
    figures = wrk(seconds)
    statuses = {int(status): count for status, count in figures["statuses"].items()}
    return {
        "rps": statuses.get(201, 0) / (figures["duration_us"] / 1e6),
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "socket_errors": figures["socket_errors"],
        "statuses": statuses,
    }


@contextmanager
def databases(kind: str, admin_url: str, sides: list[str], scratch: Path) -> Iterator[dict[str, str]]:
    """One empty database per app. On PostgreSQL the names carry this process's id, so that benches run side by
    side on one server do not drop each other's databases."""
    if kind == "sqlite":
        yield {side: f"sqlite:///{scratch}/{side}-{time.monotonic_ns()}.db" for side in sides}
        return
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names = {side: f"riskapi_bench_{os.getpid()}_{side}" for side in sides}
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        base = make_url(admin_url)
        yield {side: base.set(database=name).render_as_string(hide_password=False) for side, name in names.items()}
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_connections(admin_url: str, urls: dict[str, str]) -> dict[str, int]:
    """Connections open to each app's database, and to the whole server with its limit: the apps' pools keep
    theirs open between loads, and a server that runs out answers `too many clients` (a 503 in the table)."""
    names = {side: make_url(url).database for side, url in urls.items()}
    admin = create_engine(admin_url, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            rows = conn.execute(text("SELECT datname, count(*) FROM pg_stat_activity GROUP BY datname")).all()
            limit = int(conn.execute(text("SHOW max_connections")).scalar_one())
    finally:
        admin.dispose()
    counts = {str(name): int(count) for name, count in rows}
    return {side: counts.get(str(name), 0) for side, name in names.items()} | {
        "server": sum(counts.values()),
        "max_connections": limit,
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        **{m: statistics.median(r[m] for r in results) for m in ("rps", "p50_ms", "p99_ms")},
        "non_201": sum(count for status, count in statuses.items() if status != 201),
        "status_429": statuses.get(429, 0),
        "socket_errors": sum(r["socket_errors"] for r in results),
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "rounds": results,
    }


def ratios(cell: dict[str, Any]) -> dict[str, Any]:
    apps = cell["apps"]
    out: dict[str, Any] = {}
    if CURRENT in apps and BASELINE in apps:
        out["current_vs_baseline_rps"] = apps[CURRENT]["rps"] / apps[BASELINE]["rps"]
    if REF in apps:
        out["current_vs_ref_rps"] = apps[CURRENT]["rps"] / apps[REF]["rps"]
        out["current_vs_ref_p99"] = apps[CURRENT]["p99_ms"] / apps[REF]["p99_ms"]
        pairs = list(zip(apps[REF]["rounds"], apps[REF_BIS]["rounds"], strict=True))
        aa_rps = [bis["rps"] / ref["rps"] for ref, bis in pairs]
        aa_p99 = [bis["p99_ms"] / ref["p99_ms"] for ref, bis in pairs]
        out["aa_rps_spread"] = [min(aa_rps), max(aa_rps)]
        out["aa_p99_spread"] = [min(aa_p99), max(aa_p99)]
        out["aa_rps_median"] = apps[REF_BIS]["rps"] / apps[REF]["rps"]
    return out


def table_header(sides: list[str]) -> str:
    columns = ["db", "workers", "clients", "rate limit"]
    columns += [f"{TITLES[side]} req/s (p50 / p99 ms)" for side in sides]
    if REF in sides:
        columns += ["current/REF req/s", "current/REF p99", "A/A req/s (min-max)", "A/A p99 (min-max)"]
    columns += ["current/baseline req/s", "non-201 (" + " / ".join(TITLES[side] for side in sides) + ")"]
    return "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)


def table_row(cell: dict[str, Any], sides: list[str]) -> str:
    apps, r = cell["apps"], cell["ratios"]
    values = [cell["db"], str(cell["workers"]), str(cell["clients"]), cell["rate_limit"]]
    values += [f"{apps[s]['rps']:.0f} ({apps[s]['p50_ms']:.1f} / {apps[s]['p99_ms']:.1f})" for s in sides]
    if REF in sides:
        values += [
            f"{r['current_vs_ref_rps']:.2f}x",
            f"{r['current_vs_ref_p99']:.2f}x",
            "{:.2f}-{:.2f}x".format(*r["aa_rps_spread"]),
            "{:.2f}-{:.2f}x".format(*r["aa_p99_spread"]),
        ]
    values.append(f"{r['current_vs_baseline_rps']:.2f}x")
    values.append(" / ".join(_non_201(apps[side]) for side in sides))
    return "| " + " | ".join(values) + " |"


def _non_201(app: dict[str, Any]) -> str:
    others = {status: count for status, count in app["statuses"].items() if status != "201"}
    if app["socket_errors"]:
        others["socket"] = app["socket_errors"]
    return ", ".join(f"{count}x{status}" for status, count in others.items()) or "0"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="REF", help="a git ref or commit to compare the working tree with")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, help="alternations per cell (default 5 with --against, else 2)")
    parser.add_argument("--only", choices=["postgres", "sqlite"])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--concurrency", default="8,64")
    parser.add_argument("--rate-limit", default="on,off", help="on, off or on,off")
    parser.add_argument("--json", type=Path, help="where to write the results (default var/bench/api-<time>.json)")
    parser.add_argument(
        "--events-worker",
        choices=["paused", "running"],
        default="paused",
        help="paused: no riskapi worker (the outbox write only); running: the current tree's worker delivers every "
        "event to a local receiver, and its CPU per delivery and the delivery latency are printed",
    )
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.against else 2)
    modes = [mode.strip() for mode in args.rate_limit.split(",")]
    if not set(modes) <= RATE_LIMIT_MODES.keys():
        parser.error("--rate-limit takes on, off or on,off")
    admin_url = os.environ.get("RISKAPI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    kinds = [args.only] if args.only else ["postgres", "sqlite"]
    current = Tree(ROOT, Path(sys.executable))
    trees = {CURRENT: current}
    ref_sha = None
    if args.against:
        ref_sha, ref_tree = build_ref(args.against)
        trees = {REF: ref_tree, REF_BIS: ref_tree, CURRENT: current}
    sides = [BASELINE, *trees]
    command_line = shlex.join([".venv/bin/python", "bench/api.py", *sys.argv[1:]])
    started = datetime.now(UTC)
    logs = RESULTS / f"api-{started:%Y%m%d-%H%M%S}-logs"  # kept: a non-201 is explained there
    logs.mkdir(parents=True)
    report: dict[str, Any] = {
        "command": command_line,
        "started": started.isoformat(timespec="seconds"),
        "current": describe_current(),
        "ref": {"name": args.against, "sha": ref_sha} if args.against else None,
        "seconds": args.seconds,
        "rounds": rounds,
        "load_generator": "wrk" if WRK else "httpx",
        "rate_limit": {mode: {RATE_LIMIT_SETTING: value} for mode, value in RATE_LIMIT_MODES.items()},
        "events_worker": args.events_worker,
        "load_average_before": load_average(),
        "server_logs": str(logs),
        "cells": [],
    }
    print(f"`{command_line}`\n")
    print(
        f"current: {report['current']}" + (f"; REF: {args.against} = {ref_sha}" if ref_sha else "") + "; "
        f"{args.seconds:g} s per load after a 1 s warm-up, {rounds} rounds (balanced app orders), medians; "
        f"load generator: {'wrk' if WRK else 'httpx (install wrk for figures not bound by the load generator)'}; "
        f"rate limit on = {RATE_LIMIT_SETTING}={RATE_LIMIT_UNREACHABLE}, off = 0; "
        f"events worker: {args.events_worker} ({WORKER_MODES[args.events_worker]}); "
        f"load average before: {report['load_average_before']}\n"
    )
    print(table_header(sides), flush=True)
    with tempfile.TemporaryDirectory(prefix="riskapi-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        body_file = scratch / "body.json"
        body_file.write_bytes(body())
        for kind in kinds:
            for workers in [int(w) for w in args.workers.split(",")]:
                with databases(kind, admin_url, sides, scratch) as urls:
                    with ThreadPoolExecutor() as pool:  # each CLI call spends seconds importing the app
                        issued = {side: pool.submit(prepare_riskapi, tree, urls[side]) for side, tree in trees.items()}
                        keys = {side: future.result() for side, future in issued.items()}
                    keys[BASELINE] = ""
                    for mode in modes:
                        report["cells"] += run_cells(
                            kind, workers, mode, args, rounds, trees, urls, keys, logs, str(body_file), admin_url
                        )
    report["load_average_after"] = load_average()
    print(f"\nload average after: {report['load_average_after']}")
    for cell in report["cells"]:
        if "postgres_connections" in cell:
            held = cell["postgres_connections"]
            print(
                f"PostgreSQL connections after {cell['workers']} worker(s), {cell['clients']} clients, rate limit "
                f"{cell['rate_limit']}: "
                + ", ".join(f"{TITLES[side]} {held[side]}" for side in TITLES if side in held)
                + f"; server {held['server']} of max_connections {held['max_connections']}"
            )
    out = args.json or RESULTS / f"api-{started:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {out}\nserver logs: {logs}")


def run_cells(
    kind: str,
    workers: int,
    mode: str,
    args: argparse.Namespace,
    rounds: int,
    trees: dict[str, Tree],
    urls: dict[str, str],
    keys: dict[str, str],
    logs: Path,
    body_file: str,
    admin_url: str,
) -> list[dict[str, Any]]:
    """Serves every app with the mode's rate limit and loads them in turn, round after round, per client count."""
    sides = [BASELINE, *trees]
    rate_limit = RATE_LIMIT_MODES[mode]
    cells = []
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for side in sides:
            log = stack.enter_context(open(logs / f"{side}-{kind}-{workers}-{mode}.log", "w+b"))
            if side == BASELINE:
                command: list[str | Path] = [sys.executable, "-m", "uvicorn", "bench.baseline_app:create_app"]
                command += ["--factory", "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
                root = ROOT
            else:
                command, root = [trees[side].riskapi, "serve", "--workers", str(workers)], trees[side].root
            servers[side] = Server(command, root, env_for(root, urls[side], rate_limit), log)
            stack.callback(servers[side].stop)
        for server in servers.values():
            server.wait_ready()
        events_worker = None
        if args.events_worker == "running":
            receiver = Receiver()
            stack.callback(receiver.stop)
            log = stack.enter_context(open(logs / f"worker-{kind}-{workers}-{mode}.log", "w+b"))
            env = env_for(ROOT, urls[CURRENT], rate_limit)
            events_worker = EventsWorker(trees[CURRENT], urls[CURRENT], servers[CURRENT], receiver, env, log)
            stack.callback(events_worker.stop)
            events_worker.wait_drained()
        for clients in [int(c) for c in args.concurrency.split(",")]:
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            worker_rounds: list[dict[str, Any]] = []
            orders = balanced_orders(len(sides))
            for round_number in range(rounds):
                for index in orders[round_number % len(orders)]:
                    side = sides[index]
                    if side == CURRENT and events_worker is not None:
                        started, cpu_before, delivered_before = (
                            time.time(),
                            events_worker.cpu_seconds(),
                            len(receiver.first),
                        )
                    runs[side].append(load(servers[side].base, keys[side], clients, args.seconds, body_file))
                    if side == CURRENT and events_worker is not None:
                        drain_seconds, left = events_worker.wait_drained()
                        worker_rounds.append(
                            {
                                "deliveries": len(receiver.first) - delivered_before,
                                "cpu_seconds": events_worker.cpu_seconds() - cpu_before,
                                "drain_seconds": drain_seconds,
                                "backlog_left": left,
                                "latencies": receiver.latencies_since(started),
                                "paced_latencies": events_worker.paced(
                                    servers[side].base, keys[side], body_file, receiver
                                ),
                            }
                        )
            cell: dict[str, Any] = {
                "db": kind,
                "workers": workers,
                "clients": clients,
                "rate_limit": mode,
                "apps": {side: summarise(results) for side, results in runs.items()},
            }
            if worker_rounds:
                cell["worker"] = worker_figures(worker_rounds)
            if kind == "postgres":
                cell["postgres_connections"] = postgres_connections(admin_url, urls)
            cell["ratios"] = ratios(cell)
            cells.append(cell)
            print(table_row(cell, sides), flush=True)
            if "worker" in cell:
                print(worker_line(cell), flush=True)
    return cells


if __name__ == "__main__":
    main()
