"""Pure ASGI middleware: refuses a request whose headers exceed a total size, before anything reads them.

uvicorn's httptools parser (the one installed here) has no limit of its own on header size (h11's
`h11_max_incomplete_event_size` does not apply to it), so the limit is the application's (README, "Limits")."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import HeadersTooLarge, render


class HeaderSizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            total = sum(len(name) + len(value) for name, value in scope["headers"])
            if total > self.max_header_bytes:
                refusal = HeadersTooLarge(f"Limit is {self.max_header_bytes} bytes of header names and values")
                await render(refusal, scope.get("path"))(scope, receive, send)
                return
        await self.app(scope, receive, send)
