"""Writes to one endpoint racing each other on PostgreSQL (READ COMMITTED): the second waits for the first's commit
and builds on it, rather than overwriting it or failing. Each test holds the first write's transaction open, starts
the second in a thread, checks that it waits, then commits the first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.main import create_app
from app.webhooks import secrets, service
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import WebhookCreate
from tests.conftest import make_settings, make_tenant, truncate_all
from tests.webhooks.conftest import store_event

pytestmark = pytest.mark.postgres
WAIT_SECONDS = 0.5


@pytest.fixture
def pg_app(postgres_worker_url: str) -> Iterator[FastAPI]:
    app = create_app(make_settings(postgres_worker_url))
    yield app
    app.state.engine.dispose()
    engine = create_engine(postgres_worker_url)
    truncate_all(engine)
    engine.dispose()


def admin_caller(app: FastAPI) -> Caller:
    tenant = make_tenant(app)
    return Caller(tenant.organisation_id, "client", "key", frozenset(Role), acting_user="user-1")


def second_waits_for_first(app: FastAPI, first: Callable[[Session], Any], second: Callable[[Session], Any]) -> tuple:
    """Run `first` in an open transaction, then `second` in a thread; `second` must wait until `first` commits."""
    results: dict[str, Any] = {}

    def run_second() -> None:
        with app.state.sessionmaker.begin() as session:
            results["second"] = second(session)

    with app.state.sessionmaker() as session:
        session.begin()
        results["first"] = first(session)
        thread = threading.Thread(target=run_second)
        thread.start()
        time.sleep(WAIT_SECONDS)
        waited = thread.is_alive()
        session.commit()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert waited, "the second write did not wait for the first"
    return results["first"], results["second"]


def test_two_rotations_at_once_leave_both_issued_secrets_signing(pg_app: FastAPI) -> None:
    caller, settings = admin_caller(pg_app), pg_app.state.settings
    with pg_app.state.sessionmaker.begin() as session:
        body = WebhookCreate(url="https://cms.example.org/hook", event_types=["ruleset.published"])  # type: ignore[list-item]
        endpoint_id = service.create_endpoint(session, caller, body, settings=settings).id

    def rotate(session: Session) -> str:
        return service.rotate_secret(session, caller, endpoint_id, settings=settings).secret

    first, second = second_waits_for_first(pg_app, rotate, rotate)
    with pg_app.state.sessionmaker() as session:
        row = session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        assert row.previous_secret_ciphertext is not None
        current = secrets.decrypt(row.secret_ciphertext, endpoint_id=row.id, settings=settings)
        previous = secrets.decrypt(
            row.previous_secret_ciphertext, endpoint_id=row.id, slot="previous", settings=settings
        )
    assert (current, previous) == (second, first)  # the first rotation's secret was not lost


def test_two_redeliveries_of_an_undelivered_event_make_one_delivery(pg_app: FastAPI) -> None:
    caller, settings = admin_caller(pg_app), pg_app.state.settings
    with pg_app.state.sessionmaker.begin() as session:
        body = WebhookCreate(url="https://cms.example.org/hook", event_types=["assessment.created"])  # type: ignore[list-item]
        endpoint_id = service.create_endpoint(session, caller, body, settings=settings).id
    event_id = store_event(pg_app, caller.organisation_id)

    def redeliver(session: Session) -> str:
        return service.redeliver(session, caller, endpoint_id, event_id).id

    first, second = second_waits_for_first(pg_app, redeliver, redeliver)
    assert first == second
    with pg_app.state.sessionmaker() as session:
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)).all()
    assert [(row.id, row.status, row.attempts) for row in rows] == [(first, "pending", 0)]
