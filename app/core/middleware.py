"""Pure ASGI middleware: request ids, body-size limit, media-type check, access log and metrics."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import request_id_var
from app.core.errors import PayloadTooLarge, ProblemError, UnsupportedMediaType, render
from app.core.metrics import LATENCY, REQUESTS

log = structlog.get_logger("riskapi.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
ACCEPTED_BODY_TYPES = (
    "application/json",
    "application/problem+json",
    "application/merge-patch+json",
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
)


class _BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            refusal = self._refuse_early(scope, headers)
            if refusal is not None:
                await render(refusal, scope.get("path"))(scope, receive, send_with_id)
                return
            await self.app(scope, self._limited_receive(receive), send_with_id)
        except _BodyTooLarge:
            await render(PayloadTooLarge(f"Limit is {self.max_body_bytes} bytes"), scope.get("path"))(
                scope, receive, send_with_id
            )
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], template, str(status_holder["status"])).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                route=template,
                status=status_holder["status"],
                duration_ms=round(elapsed * 1000, 2),
            )
            request_id_var.reset(token)

    def _refuse_early(self, scope: Scope, headers: dict[str, str]) -> ProblemError | None:
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return PayloadTooLarge("Content-Length is not a number")
            if int(length) > self.max_body_bytes:
                return PayloadTooLarge(f"Limit is {self.max_body_bytes} bytes")
        if scope["method"] in ("POST", "PUT", "PATCH") and (length is None or int(length) > 0):
            media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media_type and media_type not in ACCEPTED_BODY_TYPES:
                return UnsupportedMediaType(f"'{media_type}' is not accepted; send application/json")
        return None

    def _limited_receive(self, receive: Receive) -> Receive:
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        return limited
