"""`riskapi serve` builds the application, then freezes what exists and raises the young-generation threshold, in
each worker process; building or starting an application elsewhere (tests, tools) leaves the collector alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from app import cli
from app.core.gc_tuning import YOUNG_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, gc, json
from app.core.config import Settings
from app.main import create_app

def figures():
    return {"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()[0]}

async def start(app):
    async with app.router.lifespan_context(app):
        return figures()

before = figures()
started = asyncio.run(start(create_app(Settings())))  # the database and environment from the environment
from app.cli import served_app
served = served_app()
print(json.dumps({"before": before, "started": started, "served": figures()}))
"""


def test_the_served_app_is_tuned_and_create_app_alone_is_not(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "RISKAPI_DATABASE_URL": f"sqlite:///{tmp_path / 'gc.db'}",
        "RISKAPI_ENVIRONMENT": "test",
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    default = {"frozen": 0, "threshold": 700}  # a fresh interpreter: nothing frozen, CPython's default threshold
    assert figures["before"] == default
    assert figures["started"] == default  # create_app and its lifespan leave the collector alone
    assert figures["served"]["frozen"] > 10_000  # the imports, routes and engines
    assert figures["served"]["threshold"] == YOUNG_THRESHOLD


def test_serve_runs_the_tuned_factory_in_each_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: dict[str, Any] = {}

    def fake_run(app: str, **options: Any) -> None:
        ran.update(options, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    result = CliRunner().invoke(cli.cli, ["serve", "--workers", "3"])
    assert result.exit_code == 0, result.output
    assert ran["app"] == "app.cli:served_app"
    assert ran["factory"] is True
    assert ran["workers"] == 3
