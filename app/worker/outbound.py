"""Outbound HTTP for webhooks: the address is checked when the connection is made, not before.

The network backend resolves the host itself, drops every address `addresses.refused_reason` refuses (unless the host
is allowlisted) and connects to a checked address, so a name that resolves to a public address for one lookup and
to a private one for the next (DNS rebinding) cannot reach the private one. TLS still verifies the host name: the
handshake is made by httpcore with the URL's host as the server name. Redirects are not followed, proxies from the
environment are not used, and the response body is read up to a cap and discarded. URLs are never logged."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from app.core.config import Environment, Settings
from app.worker.addresses import allowlisted, refused_reason

USER_AGENT = "riskapi-webhooks"


def _quiet_http_loggers() -> None:
    """httpx logs every request's URL at INFO and httpcore its host at DEBUG: a webhook URL may carry a token."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class RefusedAddress(Exception):
    """The URL's scheme or every address its host resolved to is refused; the reason names the category."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses (a literal address resolves to itself). Tests replace this to simulate DNS."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedNetworkBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend behind the address check."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            found = resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"name resolution failed: {type(exc).__name__}") from exc
        if allowlisted(host, self._settings):
            usable = found
        else:
            reasons = {address: refused_reason(ipaddress.ip_address(address), self._settings) for address in found}
            usable = [address for address, reason in reasons.items() if reason is None]
            if not usable:
                raise RefusedAddress(next(iter(reasons.values()), None) or "no address")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in usable:
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise RefusedAddress("a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class CheckedTransport(httpx.HTTPTransport):
    """httpx's transport with the checked backend in its connection pool (httpx takes no backend argument, so the
    pool it builds is replaced by an equal one that has it)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(trust_env=False, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=32,
            max_keepalive_connections=16,
            keepalive_expiry=30.0,
            network_backend=CheckedNetworkBackend(settings),
        )


def make_client(settings: Settings) -> httpx.Client:
    _quiet_http_loggers()
    timeout = httpx.Timeout(
        settings.webhook_read_timeout_seconds,
        connect=settings.webhook_connect_timeout_seconds,
        pool=settings.webhook_connect_timeout_seconds,
    )
    return httpx.Client(
        transport=CheckedTransport(settings),
        follow_redirects=False,
        timeout=timeout,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )


@dataclass(frozen=True)
class Sent:
    """What one attempt came to: outcome (delivered, http_error, timeout, connect_error, refused_address,
    tls_error), the status code when there was a response, the latency, and the response bytes read."""

    outcome: str
    status_code: int | None
    latency_seconds: float
    bytes_read: int = 0
    reason: str | None = None
    detail: str | None = None  # why an address was refused (no URL, no host name)

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"

    @property
    def latency_ms(self) -> int:
        return round(self.latency_seconds * 1000)


def _caused_by_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _scheme_refused(url: str, settings: Settings) -> bool:
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        return False  # httpx refuses it in turn: an invalid_url failure
    if settings.environment is Environment.production:
        return scheme != "https"
    return scheme not in ("http", "https")


def _read_capped(response: httpx.Response, cap: int, deadline: float) -> int:
    read = 0
    if cap <= 0:
        return 0
    for chunk in response.iter_raw():
        read += len(chunk)
        if read >= cap or time.monotonic() >= deadline:
            break
    return read


def post(client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str], settings: Settings) -> Sent:
    """POST the body; never raises for a network failure (the outcome says what happened)."""
    started = time.monotonic()
    if _scheme_refused(url, settings):
        return Sent("refused_address", None, 0.0, detail="a scheme other than https")
    deadline = started + settings.webhook_connect_timeout_seconds + settings.webhook_read_timeout_seconds
    try:
        with client.stream("POST", url, content=body, headers=dict(headers)) as response:
            status = response.status_code
            try:
                read = _read_capped(response, settings.webhook_response_cap_bytes, deadline)
            except httpx.TransportError:  # the status is the answer; the body is only drained
                read = 0
    except RefusedAddress as exc:
        return Sent("refused_address", None, time.monotonic() - started, detail=exc.reason)
    except httpx.TimeoutException:
        return Sent("timeout", None, time.monotonic() - started, reason="timeout")
    except httpx.TransportError as exc:
        outcome = "tls_error" if _caused_by_tls(exc) else "connect_error"
        return Sent(outcome, None, time.monotonic() - started, reason=outcome)
    except (httpx.InvalidURL, ValueError):  # a URL httpx cannot send to: a failure like any other, never a crash
        return Sent("connect_error", None, time.monotonic() - started, reason="invalid_url")
    latency = time.monotonic() - started
    if 200 <= status < 300:
        return Sent("delivered", status, latency, read)
    return Sent("http_error", status, latency, read, reason=f"http_{status // 100}xx")
