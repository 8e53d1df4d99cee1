"""Pure ASGI middleware: request ids, body-size limit, media-type check, access log and metrics."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

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
                    await render(too_large, scope.get("path"))(scope, receive, send_with_id)
                return
            await send_with_id(message)

        try:
            refusal = self._refuse_early(scope, headers)
            if refusal is not None:
                await render(refusal, scope.get("path"))(scope, receive, send_with_id)
                return
            await self.app(scope, self._limited_receive(receive, state), send_checked)
        except Exception as exc:
            # Rendered here rather than by Starlette's outermost handler so the request id is still known.
            log.error("unhandled_error", error_class=type(exc).__name__)
            if state["status"] == 500 and not state["started"]:
                await render(ProblemError(), scope.get("path"))(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], template, str(state["status"])).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                route=template,
                status=state["status"],
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
