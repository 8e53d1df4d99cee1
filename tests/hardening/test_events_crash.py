"""Events out under crashes: SIGKILL the API and the worker under load, and prove that every committed change has
exactly one event, that every subscribed event reached the receiver at least once (each copy with the same
webhook-id and the same bytes, signed with the endpoint's secret), and that nothing acknowledged was lost. And a
receiver that is down (connection refused, then 503) for a while gets every delivery once it is up, by the retry
schedule.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session
from standardwebhooks import Webhook, WebhookVerificationError

from app.auth import service as auth_service
from app.auth.permissions import Role
from app.core.db import create_db_engine, make_sessionmaker, new_id
from app.rulesets.seed import seed_default_content
from app.webhooks import secrets
from app.webhooks.models import WebhookAttempt, WebhookEndpoint
from tests.conftest import make_settings
from tests.hardening.support import SOAK, assessment_body, embedded_tests
from tests.hardening.test_crash_consistency import crash_database  # noqa: F401  (the fixture: a fresh database)
from tests.servers import ROOT, Process, Server, free_port, start_server

pytestmark = pytest.mark.xdist_group("servers")

CHANGE_EVENTS = ["assessment.created", "assessment.revised", "assessment.overridden", "assessment.entered_in_error"]
CLIENTS = 6


# --- the receiver ------------------------------------------------------------------------------------------------


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    at: float
    status: int


@dataclass
class Receiver:
    """A webhook endpoint on loopback that keeps every request and answers `status` (204 unless told otherwise)."""

    port: int
    secret: str = ""
    status: int = 204
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    # hold(): the next delivery is kept unanswered until release(), so that the worker can be killed while it waits
    hold_next: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def hold(self) -> None:
        with self.lock:
            self.holding.clear()
            self.released.clear()
            self.hold_next = True

    def release(self) -> None:
        with self.lock:
            self.hold_next = False
        self.released.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/riskapi"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing was delivered
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    status = receiver.status
                    receiver.requests.append(Received(body, headers, time.time(), status))
                    held, receiver.hold_next = receiver.hold_next, False
                if held:
                    receiver.holding.set()
                    receiver.released.wait(10)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self) -> dict[str, list[Received]]:
        """The requests answered with a 2xx, by webhook-id."""
        by_id: dict[str, list[Received]] = {}
        with self.lock:
            for request in self.requests:
                if not 200 <= request.status < 300:
                    continue
                by_id.setdefault(request.headers.get("webhook-id", ""), []).append(request)
        return by_id


# --- the worker process ------------------------------------------------------------------------------------------


def worker_environment(database_url: str, **env: str) -> dict[str, str]:
    return {
        **os.environ,
        "RISKAPI_DATABASE_URL": database_url,
        "RISKAPI_ENVIRONMENT": "test",
        "RISKAPI_LOG_LEVEL": "INFO",
        "RISKAPI_WORKER_POLL_SECONDS": "0.2",
        "RISKAPI_WORKER_LEASE_SECONDS": "5",  # a killed worker's claims come free soon; one attempt takes at most 4 s
        "RISKAPI_WEBHOOK_CONNECT_TIMEOUT_SECONDS": "1",
        "RISKAPI_WEBHOOK_READ_TIMEOUT_SECONDS": "3",
        **env,
    }


WORKER_STARTED = '"event": "worker.started"'


def start_worker(database_url: str, log_path: Path, *, ready_timeout: float = 40, **env: str) -> Process:
    started_before = log_path.read_text(errors="replace").count(WORKER_STARTED) if log_path.exists() else 0
    handle = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=ROOT,
        env=worker_environment(database_url, **env),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a kill reaches it and nothing else
    )
    handle.close()
    worker = Process(process, log_path)
    deadline = time.monotonic() + ready_timeout
    while worker.log().count(WORKER_STARTED) <= started_before:  # it logs this once it works the queue
        if process.poll() is not None:
            raise AssertionError(f"riskapi worker exited with {process.returncode}:\n{worker.log()[-3000:]}")
        if time.monotonic() > deadline:
            worker.kill()
            raise AssertionError(f"riskapi worker did not start:\n{worker.log()[-3000:]}")
        time.sleep(0.05)
    return worker


# --- the organisation, its keys and its subscription -----------------------------------------------------------


def organisation_with_keys(url: str) -> tuple[str, dict[str, str]]:
    settings = make_settings(url)
    engine = create_db_engine(settings)
    session: Session = make_sessionmaker(engine)()
    with session.begin():
        seed_default_content(session)
        organisation = auth_service.create_organisation(session, f"events-{uuid.uuid4().hex[:6]}", "Events crash")
        keys = {
            name: auth_service.create_client(
                session, organisation.id, name, roles, secret_key=settings.secret_key
            ).api_key
            for name, roles in (
                ("supervisor", [Role.supervisor]),
                ("subscriber", [Role.admin, Role.supervisor]),  # assessment.* needs read_assessments as well
            )
        }
        organisation_id = organisation.id
    session.close()
    engine.dispose()
    return organisation_id, keys


def subscribe(url: str, organisation_id: str, receiver: Receiver) -> str:
    """An endpoint for `receiver`, subscribed to every change event, written as the subscriptions API writes it
    (the secret encrypted); the receiver keeps the secret to verify each delivery."""
    settings = make_settings(url)
    endpoint_id, secret = new_id(), secrets.new_secret()
    engine = create_db_engine(settings)
    with make_sessionmaker(engine).begin() as session:
        session.add(
            WebhookEndpoint(
                id=endpoint_id,
                organisation_id=organisation_id,
                url=receiver.url,
                event_types=CHANGE_EVENTS,
                min_levels=[],
                secret_ciphertext=secrets.encrypt(secret, endpoint_id=endpoint_id, settings=settings),
            )
        )
    engine.dispose()
    receiver.secret = secret
    return endpoint_id


# --- the load ----------------------------------------------------------------------------------------------------


@dataclass
class Ledger:
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> the 201 of a create or amend
    overridden: dict[str, int] = field(default_factory=dict)  # assessment id -> overrides acknowledged
    entered_in_error: set[str] = field(default_factory=set)
    statuses: dict[str, int] = field(default_factory=dict)
    cut_off: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self) -> int:
        with self.lock:
            return len(self.created) + sum(self.overridden.values()) + len(self.entered_in_error)


def drive(base: str, key: str, ledger: Ledger, stop: threading.Event, client: int) -> None:
    """Creates, amends, overrides and marks entered in error, on one chain of revisions at a time, until stopped or
    the server is gone."""
    # Answer sets valid for questionnaire version 1 (the body's) whatever the amendment follows: without "unknown"
    answer_sets = [case["answers"] for case in embedded_tests() if "unknown" not in case["answers"].values()]
    randomness = random.Random(client)
    headers = {"Authorization": f"Bearer {key}", "X-Acting-User": f"events-crash-{client}"}
    latest: str | None = None
    with httpx.Client(base_url=base, timeout=10, headers=headers) as http:
        while not stop.is_set():
            roll = randomness.random()
            answers = randomness.choice(answer_sets)
            if latest is None or roll < 0.35:
                kind, path = "create", "/v1/assessments"
                body = assessment_body(f"events-{client}-{uuid.uuid4().hex[:8]}", answers)
            elif roll < 0.65:
                kind, path, body = "amend", f"/v1/assessments/{latest}/revisions", {"answers": answers}
            elif roll < 0.9:
                kind, path = "override", f"/v1/assessments/{latest}/override"
                body = {"level": "immediate", "rationale": "Further disclosures since the assessment."}
            else:
                kind, path = "entered_in_error", f"/v1/assessments/{latest}/entered-in-error"
                body = {"reason": "Recorded against the wrong case."}
            try:
                response = http.post(path, json=body)
            except httpx.HTTPError:
                with ledger.lock:
                    ledger.cut_off += 1
                return  # the server is gone
            outcome = f"{kind} {response.status_code}"
            # 422: an override the rule set refuses (the level is immediate already); 503: the database was busy
            assert response.status_code in (201, 503) or outcome == "override 422", (outcome, response.text)
            with ledger.lock:
                ledger.statuses[outcome] = ledger.statuses.get(outcome, 0) + 1
                if outcome in ("create 201", "amend 201"):
                    ledger.created[response.json()["id"]] = response.json()
                elif outcome == "override 201" and latest is not None:
                    ledger.overridden[latest] = ledger.overridden.get(latest, 0) + 1
                elif outcome == "entered_in_error 201" and latest is not None:
                    ledger.entered_in_error.add(latest)
            if outcome in ("create 201", "amend 201"):
                latest = response.json()["id"]
            elif outcome == "entered_in_error 201":
                latest = None


def kill_mid_delivery(worker: Process, receiver: Receiver) -> None:
    """SIGKILL the worker while the receiver holds one of its deliveries unanswered (when one comes within 3 s): that
    delivery was received but not recorded as delivered, so it is sent again, a duplicate."""
    receiver.hold()
    receiver.holding.wait(3)
    worker.kill()
    receiver.release()


def load_with_kills(
    server: Server,
    start_new_worker: Callable[[], Process],
    workers: list[Future[Process]],
    receiver: Receiver,
    key: str,
    ledger: Ledger,
    acks: int,
) -> None:
    """Load until `acks` more changes are acknowledged, SIGKILLing the worker mid-delivery half way (a new one starts
    meanwhile, in the background, and outlives this round), then the API, mid-request."""
    stop = threading.Event()
    before = ledger.acknowledged()
    kill_at: int | None = before + acks // 2
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(drive, server.base, key, ledger, stop, i + 1000 * len(workers)) for i in range(CLIENTS)]
        deadline = time.monotonic() + 90
        while ledger.acknowledged() < before + acks or kill_at is not None:  # the worker is killed in every round
            assert time.monotonic() < deadline, f"no progress: {ledger.statuses}"
            assert not any(f.done() for f in futures), [f.exception() for f in futures if f.done()]
            if kill_at is not None and ledger.acknowledged() >= kill_at and workers[-1].done():
                kill_at = None
                kill_mid_delivery(workers[-1].result(), receiver)
                workers.append(STARTER.submit(start_new_worker))
            time.sleep(0.01)
        server.kill()  # SIGKILL while CLIENTS requests are in flight
        stop.set()
        for future in futures:
            future.result()


STARTER = ThreadPoolExecutor(2, thread_name_prefix="start")  # processes spend seconds importing the app


# --- checking the outcome ----------------------------------------------------------------------------------------


def database_rows(url: str, organisation_id: str) -> dict[str, list[Any]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        params = {"org": organisation_id}
        rows = {
            "assessments": list(
                conn.execute(text("SELECT id, supersedes FROM assessments WHERE organisation_id = :org"), params)
            ),
            "overrides": list(
                conn.execute(
                    text("SELECT assessment_id FROM assessment_overrides WHERE organisation_id = :org"), params
                )
            ),
            "entered_in_error": list(
                conn.execute(
                    text("SELECT assessment_id FROM assessment_entered_in_error WHERE organisation_id = :org"), params
                )
            ),
            "events": list(
                conn.execute(
                    text(
                        "SELECT id, type, assessment_id, sequence, fanned_out_at FROM events "
                        "WHERE organisation_id = :org ORDER BY sequence"
                    ),
                    params,
                )
            ),
            "pending": list(
                conn.execute(
                    text(
                        "SELECT id, status FROM webhook_deliveries "
                        "WHERE organisation_id = :org AND status <> 'delivered'"
                    ),
                    params,
                )
            ),
        }
    engine.dispose()
    return rows


def count(items: list[Any]) -> dict[Any, int]:
    counted: dict[Any, int] = {}
    for item in items:
        counted[item] = counted.get(item, 0) + 1
    return counted


def assert_one_event_per_committed_change(rows: dict[str, list[Any]]) -> None:
    events_by_type: dict[str, list[Any]] = {}
    for event in rows["events"]:
        events_by_type.setdefault(event.type, []).append(event.assessment_id)
    created = [a.id for a in rows["assessments"] if a.supersedes is None]
    revised = [a.id for a in rows["assessments"] if a.supersedes is not None]
    assert count(events_by_type.get("assessment.created", [])) == count(created), "creates and their events differ"
    assert count(events_by_type.get("assessment.revised", [])) == count(revised), "amendments and their events differ"
    assert count(events_by_type.get("assessment.overridden", [])) == count([o.assessment_id for o in rows["overrides"]])
    assert count(events_by_type.get("assessment.entered_in_error", [])) == count(
        [e.assessment_id for e in rows["entered_in_error"]]
    )
    assert set(events_by_type) <= set(CHANGE_EVENTS), f"events of no change: {set(events_by_type) - set(CHANGE_EVENTS)}"
    sequences = [event.sequence for event in rows["events"]]
    assert sequences == list(range(1, len(sequences) + 1)), "the organisation's sequence has a gap or a repeat"


def assert_delivered_at_least_once_with_one_id_and_body(receiver: Receiver, rows: dict[str, list[Any]]) -> int:
    """Returns the number of duplicate deliveries."""
    accepted = receiver.accepted()
    event_ids = {event.id for event in rows["events"] if event.type in CHANGE_EVENTS}
    missing = event_ids - set(accepted)
    assert not missing, f"{len(missing)} of {len(event_ids)} events never delivered"
    assert set(accepted) <= event_ids, f"deliveries of no event: {set(accepted) - event_ids}"
    verifier = Webhook(receiver.secret)
    duplicates = 0
    for webhook_id, copies in accepted.items():
        bodies = {copy.body for copy in copies}
        assert len(bodies) == 1, f"the copies of {webhook_id} differ: {sorted(bodies)}"
        envelope = json.loads(copies[0].body)
        assert envelope["id"] == webhook_id, "webhook-id is the event id"
        for copy in copies:
            try:
                verifier.verify(copy.body, copy.headers)
            except WebhookVerificationError as error:
                raise AssertionError(f"a delivery of {webhook_id} is not signed with the endpoint's secret") from error
        duplicates += len(copies) - 1
    return duplicates


def assert_nothing_acknowledged_lost(ledger: Ledger, rows: dict[str, list[Any]]) -> None:
    stored = {a.id for a in rows["assessments"]}
    assert set(ledger.created) <= stored, f"acknowledged assessments lost: {set(ledger.created) - stored}"
    overrides = count([o.assessment_id for o in rows["overrides"]])
    for assessment_id, acknowledged in ledger.overridden.items():
        assert overrides.get(assessment_id, 0) >= acknowledged, f"an acknowledged override of {assessment_id} is lost"
    marked = {e.assessment_id for e in rows["entered_in_error"]}
    assert ledger.entered_in_error <= marked, "an acknowledged entered-in-error mark is lost"


def delivery_states(url: str) -> list[Any]:
    """Each delivery's status and attempts, for a failure's message."""
    engine = create_engine(url)
    with engine.connect() as conn:
        states = list(conn.execute(text("SELECT event_id, status, attempts FROM webhook_deliveries")))
    engine.dispose()
    return states


def wait_until_drained(url: str, organisation_id: str, receiver: Receiver, worker: Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = database_rows(url, organisation_id)
        subscribed = {event.id for event in rows["events"] if event.type in CHANGE_EVENTS}
        fanned_out = all(e.fanned_out_at is not None for e in rows["events"])
        if fanned_out and not rows["pending"] and subscribed <= set(receiver.accepted()):
            return
        assert worker.process.poll() is None, f"the worker exited:\n{worker.log()[-3000:]}"
        assert time.monotonic() < deadline, (
            f"not drained after {timeout} s: {len(rows['pending'])} deliveries not delivered, "
            f"{len(subscribed - set(receiver.accepted()))} events not received; deliveries: {delivery_states(url)}; "
            f"received: {[(r.status, r.headers.get('webhook-id')) for r in receiver.requests]}\n{worker.log()[-3000:]}"
        )
        time.sleep(0.2)


# --- the tests ---------------------------------------------------------------------------------------------------


def test_sigkills_of_api_and_worker_lose_no_event_and_no_delivery(crash_database: str, tmp_path: Path) -> None:  # noqa: F811
    crash_and_verify(crash_database, tmp_path, rounds=2, acks_per_round=12)


@pytest.mark.slow
@pytest.mark.skipif(not SOAK, reason="a soak variant: run by `make soak`")
def test_soak_repeated_sigkills_of_api_and_worker(crash_database: str, tmp_path: Path) -> None:  # noqa: F811
    crash_and_verify(crash_database, tmp_path, rounds=8, acks_per_round=60)


def crash_and_verify(url: str, tmp_path: Path, *, rounds: int, acks_per_round: int) -> None:
    organisation_id, keys = organisation_with_keys(url)
    receiver = Receiver(free_port())
    receiver.start()
    subscribe(url, organisation_id, receiver)
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    workers: list[Future[Process]] = [STARTER.submit(start_worker, url, worker_log)]
    started = time.monotonic()
    try:
        ledger = Ledger()
        for _ in range(rounds):  # the worker outlives the API's crash; its own are in load_with_kills
            server = start_server(url, server_log)
            load_with_kills(
                server,
                lambda: start_worker(url, worker_log),
                workers,
                receiver,
                keys["supervisor"],
                ledger,
                acks_per_round,
            )
        kill_mid_delivery(workers[-1].result(), receiver)
        workers.append(STARTER.submit(start_worker, url, worker_log))  # left running until the queue drains
        wait_until_drained(url, organisation_id, receiver, workers[-1].result(), timeout=60 if not SOAK else 300)
        rows = database_rows(url, organisation_id)
        assert_one_event_per_committed_change(rows)
        assert_nothing_acknowledged_lost(ledger, rows)
        duplicates = assert_delivered_at_least_once_with_one_id_and_body(receiver, rows)
        assert duplicates >= 1, "no worker was killed mid-delivery: the duplicates' check checked nothing"
    finally:
        for starting in workers:
            with contextlib.suppress(Exception):  # one that failed to start has failed the test already
                starting.result().stop()
        receiver.stop()
    backend = url.split(":")[0]
    print(
        f"\nEVENTS CRASH FIGURES ({backend}): {rounds} API SIGKILLs, {len(workers) - 1} worker SIGKILLs, "
        f"{ledger.acknowledged()} changes acknowledged, {len(rows['events'])} events (one per committed change), "
        f"{len(receiver.accepted())} delivered, {duplicates} duplicate deliveries (same webhook-id and body), "
        f"{ledger.cut_off} requests cut off, statuses {ledger.statuses}, {time.monotonic() - started:.1f} s"
    )


RETRY_SCHEDULE = [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]


def test_a_receiver_down_then_up_gets_every_delivery_by_the_retry_schedule(
    crash_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = crash_database
    organisation_id, keys = organisation_with_keys(url)
    receiver = Receiver(free_port())  # not listening yet: connection refused
    endpoint_id = subscribe(url, organisation_id, receiver)
    starting_server = STARTER.submit(start_server, url, tmp_path / "server.log")
    worker = start_worker(
        url,
        tmp_path / "worker.log",
        RISKAPI_WEBHOOK_RETRY_SCHEDULE_SECONDS=",".join(str(delay) for delay in RETRY_SCHEDULE),
        RISKAPI_WEBHOOK_RETRY_JITTER="0",
        RISKAPI_WEBHOOK_DISABLE_AFTER_FAILURES="1000",
    )
    server = starting_server.result()
    try:
        with httpx.Client(base_url=server.base, timeout=10) as http:
            headers = {"Authorization": f"Bearer {keys['supervisor']}", "X-Acting-User": "events-outage"}
            answers = embedded_tests()[0]["answers"]
            created = []
            for n in range(4):
                response = http.post("/v1/assessments", json=assessment_body(f"outage-{n}", answers), headers=headers)
                assert response.status_code == 201, response.text
                created.append(response.json()["id"])
        time.sleep(1.6)  # refused connections: the first attempt and a retry fail (0.5 s, then 1 s apart)
        receiver.status = 503
        receiver.start()
        time.sleep(1.6)  # 503s: more retries fail
        receiver.status = 204
        up_at = time.time()
        wait_until_drained(url, organisation_id, receiver, worker, timeout=20)
        delivered_at = max(copy.at for copies in receiver.accepted().values() for copy in copies if copy.at >= up_at)
    finally:
        worker.stop()
        server.stop()
        receiver.stop()

    rows = database_rows(url, organisation_id)
    assert_one_event_per_committed_change(rows)
    assert {e.assessment_id for e in rows["events"]} == set(created)
    engine = create_engine(url)
    with engine.connect() as conn:
        attempts = list(
            conn.execute(
                select(
                    WebhookAttempt.event_id,
                    WebhookAttempt.attempted_at,
                    WebhookAttempt.outcome,
                    WebhookAttempt.status_code,
                )
                .where(WebhookAttempt.endpoint_id == endpoint_id)
                .order_by(WebhookAttempt.event_id, WebhookAttempt.attempted_at)
            )
        )
    engine.dispose()
    by_event: dict[str, list[Any]] = {}
    for attempt in attempts:
        by_event.setdefault(attempt.event_id, []).append(attempt)
    assert set(by_event) == {e.id for e in rows["events"]}
    for event_id, tried in by_event.items():
        outcomes = [attempt.outcome for attempt in tried]
        assert outcomes[-1] == "delivered", outcomes
        assert outcomes.count("delivered") == 1, outcomes
        assert "connect_error" in outcomes, f"{event_id}: the refused connections are not attempts: {outcomes}"
        assert "http_error" in outcomes, outcomes
        assert 503 in [a.status_code for a in tried], outcomes
        for number, (before, after) in enumerate(itertools.pairwise(tried)):
            gap = (after.attempted_at - before.attempted_at).total_seconds()
            assert gap >= RETRY_SCHEDULE[number] - 0.05, (
                f"{event_id}: retry {number + 1} after {gap:.2f} s, not by the schedule"
            )
    # Every delivery caught up within one step of the schedule (1 s), a poll and some slack, after the receiver was up.
    assert delivered_at - up_at < max(RETRY_SCHEDULE) + 2.5, (
        f"caught up {delivered_at - up_at:.1f} s after the receiver"
    )
    assert_delivered_at_least_once_with_one_id_and_body(receiver, rows)
    print(
        f"\nCATCH-UP FIGURES ({url.split(':')[0]}): {len(created)} events, {len(attempts)} attempts "
        f"({sum(1 for a in attempts if a.outcome != 'delivered')} failed), all delivered "
        f"{delivered_at - up_at:.1f} s after the receiver came up"
    )
