"""Outbound safety: the address is checked at connect time (DNS rebinding), refused ranges unless allowlisted,
IPv4-mapped addresses judged by what they map, https only in production, no redirects, a capped response read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.core.config import Environment, Settings
from app.verifiable_log.keys import new_signer_key
from app.worker import outbound
from tests.conftest import make_settings

PRODUCTION = {
    "environment": Environment.production,
    "secret_key": "a-production-secret-key-of-at-least-32-characters",
    "public_base_url": "https://riskapi.example.org",
    "log_signing_key": new_signer_key("riskapi-test-log"),
    "webhook_connect_timeout_seconds": 0.5,
    "webhook_read_timeout_seconds": 2.0,
}
HUGE_BODY_BYTES = 64 * 1024 * 1024


def production(**overrides: Any) -> Settings:
    return make_settings("sqlite:///var/unused.db", **{**PRODUCTION, **overrides})


def development(**overrides: Any) -> Settings:
    return make_settings("sqlite:///var/unused.db", **overrides)


@pytest.fixture
def local_server() -> Iterator[tuple[int, dict[str, Any]]]:
    """A server on 127.0.0.1: /ok answers 200, /redirect 302 to /target, /huge streams 64 MiB."""
    seen: dict[str, Any] = {"paths": [], "huge_bytes_written": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            seen["paths"].append(self.path)
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("location", "/target")
                self.send_header("content-length", "0")
                self.end_headers()
            elif self.path == "/huge":
                self.send_response(200)
                self.send_header("content-length", str(HUGE_BODY_BYTES))
                self.end_headers()
                chunk = b"x" * 65536
                try:
                    for _ in range(HUGE_BODY_BYTES // len(chunk)):
                        self.wfile.write(chunk)
                        seen["huge_bytes_written"] += len(chunk)
                except OSError:
                    pass
            else:
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1]), seen
    server.shutdown()
    server.server_close()


def _post(settings: Settings, url: str) -> outbound.Sent:
    with outbound.make_client(settings) as client:
        return outbound.post(client, url, b"{}", {"content-type": "application/json"}, settings)


def _resolving_to(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> list[str]:
    """Replace DNS: each lookup takes the next answer (the last repeats); returns the hosts looked up."""
    looked_up: list[str] = []
    queue = list(answers)

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(outbound, "resolve", resolve)
    return looked_up


def test_production_refuses_a_host_resolving_to_loopback_at_connect_time(
    monkeypatch: pytest.MonkeyPatch, local_server: tuple[int, dict[str, Any]]
) -> None:
    port, seen = local_server
    looked_up = _resolving_to(monkeypatch, ["127.0.0.1"])
    sent = _post(production(), f"https://hooks.example.org:{port}/ok")
    assert sent.outcome == "refused_address"
    assert "loopback" in (sent.detail or "")
    assert looked_up == ["hooks.example.org"]
    assert seen["paths"] == []


def test_dns_rebinding_public_then_private_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name resolves to a public address at one lookup (a check at subscription time would pass) and to a private
    one at the next: the connection uses the lookup it checked, so the private one is never reached."""
    looked_up = _resolving_to(monkeypatch, ["93.184.216.34"], ["10.0.0.5"])
    assert outbound.resolve("rebind.example.org", 443) == ["93.184.216.34"]  # what an earlier check saw
    sent = _post(production(), "https://rebind.example.org/hook")
    assert sent.outcome == "refused_address"
    assert "private" in (sent.detail or "")
    assert len(looked_up) == 2


def test_a_mapped_loopback_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, local_server: tuple[int, dict[str, Any]]
) -> None:
    port, seen = local_server
    _resolving_to(monkeypatch, ["::ffff:127.0.0.1"])
    sent = _post(production(), f"https://mapped.example.org:{port}/ok")
    assert sent.outcome == "refused_address"
    assert "mapped" in (sent.detail or "")
    assert seen["paths"] == []


def test_an_allowlisted_host_may_resolve_to_loopback(
    monkeypatch: pytest.MonkeyPatch, local_server: tuple[int, dict[str, Any]]
) -> None:
    port, _seen = local_server
    _resolving_to(monkeypatch, ["127.0.0.1"])
    settings = production(webhook_outbound_allowlist="hooks.trust.internal")
    # production sends https only; the TLS handshake with this plain-http server fails after the address passed
    sent = _post(settings, f"https://hooks.trust.internal:{port}/ok")
    assert sent.outcome in ("tls_error", "connect_error")
    assert sent.outcome != "refused_address"
    allowed_network = production(webhook_outbound_allowlist="127.0.0.0/8")
    assert _post(allowed_network, f"https://hooks.example.org:{port}/ok").outcome != "refused_address"


def test_production_sends_https_only(local_server: tuple[int, dict[str, Any]]) -> None:
    port, seen = local_server
    sent = _post(production(webhook_outbound_allowlist="127.0.0.1"), f"http://127.0.0.1:{port}/ok")
    assert sent.outcome == "refused_address"
    assert "scheme" in (sent.detail or "")
    assert seen["paths"] == []
    assert _post(development(), f"http://127.0.0.1:{port}/ok").outcome == "delivered"


def test_redirects_are_not_followed(local_server: tuple[int, dict[str, Any]]) -> None:
    port, seen = local_server
    sent = _post(development(), f"http://127.0.0.1:{port}/redirect")
    assert (sent.outcome, sent.status_code) == ("http_error", 302)
    assert seen["paths"] == ["/redirect"]


def test_a_huge_response_is_not_read_past_the_cap(local_server: tuple[int, dict[str, Any]]) -> None:
    port, seen = local_server
    settings = development(webhook_response_cap_bytes=4096)
    sent = _post(settings, f"http://127.0.0.1:{port}/huge")
    assert (sent.outcome, sent.status_code) == ("delivered", 200)
    assert sent.bytes_read <= 4096 + 65536
    assert seen["huge_bytes_written"] < HUGE_BODY_BYTES


def test_a_closed_port_is_a_connect_error() -> None:
    sent = _post(development(), "http://127.0.0.1:9/ok")
    assert sent.outcome == "connect_error"


def test_an_unusable_url_is_a_failed_attempt_not_a_crash() -> None:
    assert _post(development(), "http://[::1/broken").outcome == "connect_error"
    assert "scheme" in (_post(development(), "ftp://127.0.0.1/x").detail or "")
