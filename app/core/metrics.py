"""Prometheus metrics with low-cardinality labels (route templates, never ids)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("riskapi_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "riskapi_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AUTH_FAILURES = Counter("riskapi_auth_failures_total", "Requests refused before an organisation was known", ["reason"])
ASSESSMENTS_CREATED = Counter("riskapi_assessments_created_total", "Assessments stored", ["level"])
