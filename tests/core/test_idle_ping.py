"""PostgreSQL pools ping a connection only after it sat idle (app/core/db.py `_ping_when_idle`): one the server
closed meanwhile is replaced before a request sees it; one in constant use is not pinged."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.core import db
from app.core.config import Environment, Settings
from tests.conftest import require_postgres


def settings() -> Settings:
    return Settings(database_url=require_postgres(), environment=Environment.test, db_pool_size=1)


def terminate(pid: int) -> None:
    admin = create_engine(require_postgres())
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


@pytest.mark.parametrize("idle_threshold", [0.0, 3600.0], ids=["idle-connection-pinged", "recent-connection-not"])
def test_a_connection_the_server_closed_is_replaced_after_idling(
    idle_threshold: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", idle_threshold)
    engine = db.create_db_engine(settings())
    try:
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        terminate(pid)
        if idle_threshold == 0.0:
            with engine.connect() as connection:
                assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        else:  # not pinged: the request that meets the closed connection fails (a 503 in the API) ...
            with pytest.raises(OperationalError), engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            with engine.connect() as connection:  # ... and the pool has recycled it for the next one
                assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
