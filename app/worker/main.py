"""`riskapi worker`: the loop. Each round fans out new events, delivers the due deliveries, and now and then raises
the reviews that fell due and purges expired events, and every RISKAPI_CHECKPOINT_SECONDS extends each organisation's
Merkle tree and signs a checkpoint of it when it grew; between rounds it waits for NOTIFY (PostgreSQL) or polls
(SQLite), and wakes at the next scheduled retry. SIGTERM or SIGINT: the attempts in flight finish, then it exits."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from types import FrameType

import structlog

from app.core.config import Settings
from app.core.db import create_db_engine, make_sessionmaker, utcnow
from app.core.logging import configure_logging
from app.verifiable_log.keys import LogKeyError, LogKeys, load_log_keys
from app.worker import delivery, metrics, outbound
from app.worker.checkpoints import advance_all
from app.worker.delivery import Claimed
from app.worker.fanout import FANOUT_BATCH, fan_out
from app.worker.listener import Listener, Sleeper
from app.worker.matching import LevelOrders
from app.worker.outbound import Sent
from app.worker.retention import purge_expired
from app.worker.reviews import raise_due_reviews

log = structlog.get_logger("riskapi.worker")

# Deliveries sent at once (threads); a claim takes no more, so each leased delivery is sent at once and its lease
# (RISKAPI_WORKER_LEASE_SECONDS) need only outlast one attempt (connect + read timeouts).
DELIVERY_CONCURRENCY = 8
# While listening, the longest wait without a notification: a safety net only (a NOTIFY or the next retry's time
# ends the wait sooner).
LISTEN_IDLE_SECONDS = 30.0
PURGE_INTERVAL_SECONDS = 3600.0
QUEUE_MEASURE_SECONDS = 5.0


class Worker:
    """One worker: its own engine (and, on PostgreSQL, its own listening connection), HTTP client and threads."""

    def __init__(self, settings: Settings, *, listen_idle_seconds: float = LISTEN_IDLE_SECONDS) -> None:
        self.settings = settings
        self.log_keys: LogKeys = load_log_keys(settings)  # a bad key raises LogKeyError before anything starts
        self.stop = threading.Event()
        self.engine = create_db_engine(settings)
        self.sessions = make_sessionmaker(self.engine)
        self.levels = LevelOrders()
        self.client = outbound.make_client(settings)
        self.senders = ThreadPoolExecutor(DELIVERY_CONCURRENCY, thread_name_prefix="riskapi-webhook")
        self.rng = random.Random()  # noqa: S311 - retry jitter, not a secret
        self.listen_idle_seconds = listen_idle_seconds
        self.waiter: Listener | Sleeper = (
            Sleeper(self.stop)
            if settings.is_sqlite
            else Listener(settings.database_url, self.stop, settings.worker_poll_seconds)
        )
        self.outcomes: Counter[str] = Counter()  # attempts by outcome, for operators' logs and tests
        self._due_at = {"reviews": 0.0, "purge": 0.0, "queue": 0.0, "checkpoints": 0.0}
        self._closed = False

    # --- one round -----------------------------------------------------------------------------------------------

    def run_round(self) -> bool:
        """Fan out, deliver, and the periodic tasks; True when a batch was full (more work is waiting)."""
        with self.sessions() as session:
            fanned, _ = fan_out(session, self.levels, utcnow())
        with self.sessions() as session:
            claimed = delivery.claim(session, self.settings, utcnow(), DELIVERY_CONCURRENCY)
        if claimed:
            self._deliver(claimed)
        self._periodic()
        return fanned == FANOUT_BATCH or len(claimed) == DELIVERY_CONCURRENCY

    def _send(self, claimed: Claimed) -> tuple[datetime, Sent]:
        attempted_at = utcnow()
        if claimed.signing_secrets is None:
            return attempted_at, Sent("secret_unreadable", None, 0.0, reason="secret_unreadable")
        headers = delivery.signed_headers(claimed.event_id, attempted_at, claimed.body, claimed.signing_secrets)
        return attempted_at, outbound.post(self.client, claimed.url, claimed.body, headers, self.settings)

    def _deliver(self, claimed: list[Claimed]) -> None:
        """Send in parallel (no transaction open), record each attempt as it completes."""
        futures = {self.senders.submit(self._send, item): item for item in claimed}
        for future in as_completed(futures):
            attempted_at, sent = future.result()
            with self.sessions() as session:
                delivery.record(session, self.settings, futures[future], sent, attempted_at, utcnow(), self.rng)
            self.outcomes[sent.outcome] += 1

    def _periodic(self) -> None:
        clock = time.monotonic()
        if clock >= self._due_at["reviews"]:
            self._due_at["reviews"] = clock + self.settings.review_due_scan_seconds
            raised = raise_due_reviews(self.sessions, self.settings, utcnow())
            if raised:
                log.info("worker.reviews_due", events=raised)
        if clock >= self._due_at["purge"]:
            self._due_at["purge"] = clock + PURGE_INTERVAL_SECONDS
            purged = purge_expired(self.sessions, self.settings, utcnow())
            if purged:
                log.info("worker.events_purged", events=purged)
        if clock >= self._due_at["queue"]:
            self._due_at["queue"] = clock + QUEUE_MEASURE_SECONDS
            with self.sessions() as session, session.begin():
                metrics.measure_queue(session)
        if clock >= self._due_at["checkpoints"]:
            checkpoints = advance_all(self.sessions, self.log_keys, utcnow())
            # A tree still behind its events is extended again at once rather than after the interval.
            self._due_at["checkpoints"] = clock + (0.0 if checkpoints.behind else self.settings.checkpoint_seconds)

    # --- the loop ------------------------------------------------------------------------------------------------

    def _idle_timeout(self) -> float:
        longest = self.listen_idle_seconds if self.waiter.listening else self.settings.worker_poll_seconds
        with self.sessions() as session:
            due = delivery.next_due(session, utcnow())
        if due is not None:
            longest = min(longest, (due - utcnow()).total_seconds())
        periodic = min(self._due_at.values()) - time.monotonic()
        return max(0.0, min(longest, periodic))

    def run(self) -> None:
        """Rounds until `stop` is set; a failing round (the database away) is logged and retried after a poll."""
        log.info("worker.started", database="sqlite" if self.settings.is_sqlite else "postgresql")
        if not self.log_keys.signers:
            log.warning("worker.checkpoints_unsigned", reason="no checkpoint signing key is configured")
        try:
            while not self.stop.is_set():
                try:
                    if self.run_round():
                        continue
                    timeout = self._idle_timeout()
                except Exception as exc:  # the loop outlives a database outage; the error names no data
                    log.error("worker.round_failed", error=type(exc).__name__)
                    self.stop.wait(self.settings.worker_poll_seconds)
                    continue
                self.waiter.wait(timeout)
        finally:
            self.close()
            log.info("worker.stopped")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.senders.shutdown(wait=True)
        self.waiter.close()
        self.client.close()
        self.engine.dispose()


def run(settings: Settings) -> None:
    """The `riskapi worker` process: logging, metrics, signal handlers, then the loop."""
    configure_logging(settings.log_level)
    try:
        worker = Worker(settings)
    except LogKeyError as error:  # names the setting or file and line, never the key
        log.error("worker.bad_log_signing_key", problem=str(error))
        raise SystemExit(f"riskapi worker: the checkpoint signing key is unusable: {error}") from None
    if settings.worker_metrics_port is not None:
        metrics.serve(settings.worker_metrics_port)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker.stopping", signal=signal.Signals(signum).name)
        worker.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()
