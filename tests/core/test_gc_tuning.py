"""The application's start-up freezes what exists then and raises the young-generation threshold, once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.core.gc_tuning import YOUNG_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, gc, json
from app.core.config import Settings
from app.main import create_app

before = (gc.get_freeze_count(), gc.get_threshold()[0])
app = create_app(Settings(database_url="sqlite:///{db}", environment="test"))

async def start_twice():
    async with app.router.lifespan_context(app):
        started = gc.get_freeze_count()
        garbage_to_be = [[] for _ in range(1000)]
    async with create_app(Settings(database_url="sqlite:///{db}", environment="test")).router.lifespan_context(app):
        again = gc.get_freeze_count()
    return started, again

started, again = asyncio.run(start_twice())
print(json.dumps({{"before": before, "started": started, "again": again, "threshold": gc.get_threshold()[0]}}))
"""


def test_startup_freezes_once_and_raises_the_young_threshold(tmp_path: Path) -> None:
    script = SCRIPT.format(db=tmp_path / "gc.db")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["before"] == [0, 700]  # a fresh interpreter: nothing frozen, CPython's default threshold
    assert figures["started"] > 10_000  # the imports, routes and engines
    # a second application in the same process freezes nothing more (frozen objects may still be freed)
    assert figures["again"] <= figures["started"]
    assert figures["threshold"] == YOUNG_THRESHOLD
