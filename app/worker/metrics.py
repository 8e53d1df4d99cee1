"""The worker's Prometheus metrics, served on its own /metrics (RISKAPI_WORKER_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.events.models import Event
from app.webhooks.models import WebhookDelivery

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 86400.0)

QUEUE_DEPTH = Gauge(
    "riskapi_webhook_queue_depth", "Work waiting: pending deliveries and events not fanned out", ["kind"]
)
DELIVERY_LATENCY = Histogram(
    "riskapi_webhook_delivery_latency_seconds",
    "From the commit of an event to the receiver's 2xx (retries included)",
    buckets=LATENCY_BUCKETS,
)
ATTEMPT_LATENCY = Histogram(
    "riskapi_webhook_attempt_duration_seconds",
    "One HTTP attempt, connect to response",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
FAILURES = Counter("riskapi_webhook_delivery_failures_total", "Failed delivery attempts", ["reason"])
DEAD = Counter("riskapi_webhook_dead_letters_total", "Deliveries given up after their last retry")
ENDPOINTS_DISABLED = Counter("riskapi_webhook_endpoints_disabled_total", "Endpoints disabled after failing")


def serve(port: int) -> None:
    start_http_server(port)


def measure_queue(session: Session) -> None:
    pending = session.execute(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "pending")
    ).scalar_one()
    waiting = session.execute(select(func.count()).select_from(Event).where(Event.fanned_out_at.is_(None))).scalar_one()
    QUEUE_DEPTH.labels("deliveries").set(pending)
    QUEUE_DEPTH.labels("events").set(waiting)
