"""Retention (expired events go with their deliveries and attempts), the queue-depth metric, and `riskapi worker`
as a process: it starts, delivers, and exits cleanly on SIGTERM."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import utcnow
from app.events.models import Event
from app.webhooks.models import WebhookAttempt, WebhookDelivery
from app.worker import metrics
from app.worker.delivery import next_retry_delay
from app.worker.main import Worker
from tests.conftest import make_settings
from tests.servers import free_port
from tests.worker.conftest import Receiver, add_endpoint, emit_assessment_event, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_expired_events_are_purged_with_their_deliveries_and_attempts(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    make_worker: Callable[..., Worker],
) -> None:
    add_endpoint(sessions, settings, organisation_id, receiver.url)
    old = utcnow() - timedelta(days=settings.event_retention_days, hours=1)
    expired = emit_assessment_event(sessions, settings, organisation_id, occurred_at=old)
    kept = emit_assessment_event(sessions, settings, organisation_id)
    make_worker(settings).run_round()  # fan-out, delivery, then (at a worker's first round) the purge
    assert len(receiver.received) == 2
    with sessions() as session:
        assert list(session.scalars(select(Event.id))) == [kept.id]
        assert {d.event_id for d in session.scalars(select(WebhookDelivery))} == {kept.id}
        assert {a.event_id for a in session.scalars(select(WebhookAttempt))} == {kept.id}
    assert expired.id != kept.id


def test_queue_depth_is_measured(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    make_worker: Callable[..., Worker],
) -> None:
    add_endpoint(sessions, settings, organisation_id, "http://127.0.0.1:9/closed")
    for _ in range(3):
        emit_assessment_event(sessions, settings, organisation_id)
    worker = make_worker(settings)
    worker.run_round()  # fans out, tries (connection refused: each retried later)
    worker._due_at["queue"] = 0.0
    worker.run_round()
    assert REGISTRY.get_sample_value("riskapi_webhook_queue_depth", {"kind": "deliveries"}) == 3
    assert REGISTRY.get_sample_value("riskapi_webhook_queue_depth", {"kind": "events"}) == 0
    failures = REGISTRY.get_sample_value("riskapi_webhook_delivery_failures_total", {"reason": "connect_error"})
    assert failures is not None
    assert failures >= 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the wake-up on PostgreSQL: test_postgres.py
def test_the_worker_command_delivers_and_stops_on_sigterm(
    settings: Settings,
    sessions: sessionmaker[Session],
    organisation_id: str,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    add_endpoint(sessions, settings, organisation_id, receiver.url)
    env = {
        **os.environ,
        "RISKAPI_ENVIRONMENT": "test",
        "RISKAPI_DATABASE_URL": settings.database_url,
        "RISKAPI_WORKER_POLL_SECONDS": "0.1",
        "RISKAPI_LOG_LEVEL": "INFO",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.worker"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    started = time.monotonic()
    try:
        emit_assessment_event(sessions, settings, organisation_id)
        wait_for(lambda: len(receiver.received) == 1, timeout=20, message="the delivery")
        delivered = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    print(f"delivered after {delivered - started:.2f} s, stopped {time.monotonic() - delivered:.2f} s later")
    output = log_path.read_text()
    assert '"worker.stopping"' in output
    assert '"worker.stopped"' in output
    assert "sekrit-token" not in output


def test_riskapi_worker_is_a_command() -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    result = CliRunner().invoke(cli, ["worker", "--help"])
    assert result.exit_code == 0
    assert "SIGTERM" in result.output


def test_retry_delays_follow_the_schedule_with_jitter_then_a_dead_letter() -> None:
    settings = make_settings(
        "sqlite:///var/unused.db", webhook_retry_schedule_seconds="10,100", webhook_retry_jitter=0.2
    )
    rng = random.Random(7)
    first = [next_retry_delay(settings, 1, rng) for _ in range(200)]
    second = [next_retry_delay(settings, 2, rng) for _ in range(200)]
    assert all(d is not None and 8 <= d <= 12 for d in first)
    assert all(d is not None and 80 <= d <= 120 for d in second)
    assert len({round(d or 0, 3) for d in first}) > 100  # jittered, not a fixed delay
    assert next_retry_delay(settings, 3, rng) is None  # after the last delay: dead


def test_the_worker_serves_its_metrics() -> None:
    port = free_port()
    metrics.serve(port)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for name in (
        "riskapi_webhook_queue_depth",
        "riskapi_webhook_delivery_latency_seconds",
        "riskapi_webhook_delivery_failures_total",
    ):
        assert name in text
