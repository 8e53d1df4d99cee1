"""Real uvicorn servers for end-to-end tests (crash consistency, scale-out, concurrency, browser)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    """A process of ours started in its own process group (a server, a worker), and where its output goes."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no rollback: what a power cut or the OOM killer does."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


@dataclass
class Server(Process):
    base: str


def start_server(
    database_url: str, log_path: Path, *, workers: int = 1, ready_timeout: float = 40, **env: str
) -> Server:
    port = free_port()
    environment = {
        **os.environ,
        "RISKAPI_DATABASE_URL": database_url,
        "RISKAPI_ENVIRONMENT": "test",
        "RISKAPI_LOG_LEVEL": "INFO",
        "RISKAPI_RATE_LIMIT_PER_MINUTE": "0",
        **env,
    }
    handle = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=environment,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a kill reaches every worker and nothing else
    )
    handle.close()
    server = Server(process, log_path, base=f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.base}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise AssertionError(f"server did not become ready:\n{server.log()[-3000:]}")
