"""Running `riskapi audit monitor` in the tests: its core through the ASGI app in process (any database), and the
real command against a real server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.verifiable_log.monitor import Report, run
from tests.servers import ROOT

BASE = "http://testserver"


def through(app: FastAPI) -> httpx.MockTransport:
    """A transport for a synchronous client (the monitor's) that hands each request to `app` in this process, on an
    event loop of its own (call it from synchronous tests)."""

    async def answer(request: httpx.Request) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            answered = await http.send(request)
            return httpx.Response(answered.status_code, headers=answered.headers, content=await answered.aread())

    return httpx.MockTransport(lambda request: asyncio.run(answer(request)))


def save_keys(app: FastAPI, path: Path) -> Path:
    """The keys document as a monitor pins it: fetched once, saved as is."""
    with httpx.Client(transport=through(app), base_url=BASE) as http:
        response = http.get("/v1/audit/keys")
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    return path


def monitor_in_process(app: FastAPI, slug: str, state: Path, keys: Path, api_key: str | None) -> Report:
    return run(BASE, slug, state, keys, api_key, transport=through(app))


def monitor_command(url: str, slug: str, state: Path, keys: Path, api_key: str) -> subprocess.CompletedProcess[str]:
    """`riskapi audit monitor` as an operator runs it, in its own process."""
    options = ["--url", url, "--org", slug, "--state", str(state), "--keys", str(keys)]
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "audit", "monitor", *options],
        cwd=ROOT,
        env={**os.environ, "RISKAPI_MONITOR_KEY": api_key},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
