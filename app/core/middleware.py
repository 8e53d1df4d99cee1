"""Pure ASGI middleware: request ids, header- and body-size limits, media-type check, access log and metrics.

uvicorn's httptools parser (the one installed here) has no limit of its own on header size (h11's
`h11_max_incomplete_event_size` does not apply to it), so the header limit is the application's (README, "Limits").
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import request_id_var
from app.core.errors import (
    BadRequest,
    HeadersTooLarge,
    PayloadTooLarge,
    ProblemError,
    UnsupportedMediaType,
    negotiated,
    render,
)
from app.core.json_guard import (
    BODY_MEDIA_TYPES,
    CHECKED_DOCUMENT_KEY,
    YAML_MEDIA_TYPES,
    JsonLimits,
    check_body,
    media_type_of,
)
from app.core.metrics import LATENCY, REQUESTS

log = structlog.get_logger("riskapi.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, max_body_bytes: int, max_header_bytes: int, json_limits: JsonLimits | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.json_limits = json_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        # Read from the header list, not the dict above (whose last duplicate wins, where Starlette reads the first).
        content_types = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"content-type"]
        media_type = media_type_of(content_types[0] if content_types else "")  # the one decision of the parser
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "started": False, "too_large": False, "replaced": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        async def send_checked(message: Message) -> None:
            # The app saw a truncated body and answers something; replace that answer with the 413.
            if state["too_large"]:
                if not state["replaced"]:
                    state["replaced"] = True
                    too_large = PayloadTooLarge(f"Limit is {self.max_body_bytes} bytes")
                    await negotiated(scope, render(too_large, scope.get("path")))(scope, receive, send_with_id)
                return
            await send_with_id(message)

        try:
            refusal = self._refuse_early(scope, headers, len(content_types), media_type)
            if refusal is not None:
                await negotiated(scope, render(refusal, scope.get("path")))(scope, receive, send_with_id)
                return
            if self._reads_document(scope, headers, media_type):
                # Documents are read whole (at most max_body_bytes) and checked; routes use the checked document.
                body = await self._read_body(receive)
                refusal = await self._check_document(scope, media_type, body)
                if refusal is not None:
                    await negotiated(scope, render(refusal, scope.get("path")))(scope, receive, send_with_id)
                    return
                # Already read whole and within the limit: the app gets it as it is.
                await self.app(scope, _replay(body or b"", receive), send_with_id)
            else:
                await self.app(scope, self._limited_receive(receive, state), send_checked)
        except Exception as exc:
            # Rendered here rather than by Starlette's outermost handler so the request id is still known.
            log.error("unhandled_error", error_class=type(exc).__name__)
            if state["status"] == 500 and not state["started"]:
                await negotiated(scope, render(ProblemError(), scope.get("path")))(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            count, latency = _metrics(scope["method"], template, state["status"])
            count.inc()
            latency.observe(elapsed)
            if _ROOT_LOGGER.isEnabledFor(logging.INFO):  # skips binding a logger that would drop the line
                log.info(
                    "request",
                    method=scope["method"],
                    route=template,
                    status=state["status"],
                    duration_ms=round(elapsed * 1000, 2),
                )
            request_id_var.reset(token)

    def _limits(self, scope: Scope) -> JsonLimits:
        if self.json_limits is None:
            settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
            self.json_limits = JsonLimits.from_settings(settings) if settings is not None else JsonLimits()
        return self.json_limits

    @staticmethod
    def _reads_document(scope: Scope, headers: dict[str, str], media_type: str) -> bool:
        if scope["method"] not in ("POST", "PUT", "PATCH", "DELETE") or headers.get("content-length") == "0":
            return False
        return media_type in BODY_MEDIA_TYPES

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes max_body_bytes (the rest is never read)."""
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _check_document(self, scope: Scope, media_type: str, body: bytes | None) -> ProblemError | None:
        if body is None:
            return PayloadTooLarge(f"Limit is {self.max_body_bytes} bytes")
        limits = self._limits(scope)
        try:
            if media_type in YAML_MEDIA_TYPES:  # drafts: up to a few hundred ms, off the event loop
                checked = await run_in_threadpool(check_body, media_type, body, limits)
            else:
                checked = check_body(media_type, body, limits)
        except ProblemError as refusal:
            return refusal
        if checked is not None:
            scope[CHECKED_DOCUMENT_KEY] = checked
        return None

    def _refuse_early(
        self, scope: Scope, headers: dict[str, str], content_type_count: int, media_type: str
    ) -> ProblemError | None:
        if sum(len(name) + len(value) for name, value in scope["headers"]) > self.max_header_bytes:
            return HeadersTooLarge(f"Limit is {self.max_header_bytes} bytes of header names and values")
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            return BadRequest("The URL contains U+0000 (%00), which is never a valid identifier or value")
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return PayloadTooLarge("Content-Length is not a number")
            if int(length) > self.max_body_bytes:
                return PayloadTooLarge(f"Limit is {self.max_body_bytes} bytes")
        if content_type_count > 1:  # readers differ on which one counts: the guard and the routes must read one
            return BadRequest(f"Send exactly one Content-Type header; this request has {content_type_count}")
        sends_body = scope["method"] in ("POST", "PUT", "PATCH") and (length is None or int(length) > 0)
        if sends_body and media_type not in BODY_MEDIA_TYPES:
            return UnsupportedMediaType(f"'{media_type}' is not accepted; send application/json")
        return None

    def _limited_receive(self, receive: Receive, state: dict[str, Any]) -> Receive:
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    state["too_large"] = True
                    return {"type": "http.disconnect"}
            return message

        return limited


_ROOT_LOGGER = logging.getLogger()
_METRIC_CHILDREN_LIMIT = 4096
_metric_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _metrics(method: str, template: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram children of one (method, route, status), looked up once."""
    key = (method, template, status)
    children = _metric_children.get(key)
    if children is None:
        children = (REQUESTS.labels(method, template, str(status)), LATENCY.labels(method, template))
        if len(_metric_children) < _METRIC_CHILDREN_LIMIT:  # methods come from clients: bound what we keep
            _metric_children[key] = children
    return children


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hands the already-read body to the app once, then defers to the server (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
