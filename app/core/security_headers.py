"""Pure ASGI middleware: the response headers that keep browsers and caches from mishandling what we serve.

- `X-Content-Type-Options: nosniff` on every response.
- `Cache-Control: no-store` on every /v1 response: case data, reports, audit events and keys must not be kept by
  a browser or a shared cache (ETags still work: a client may revalidate what it holds itself).
- A Content-Security-Policy on the HTML documentation pages, allowing their own assets and, by sha256 hash, the
  inline start-up script each page carries. The hashes come from the HTML as the page serves it (it depends on
  the ASGI root_path), computed once per distinct page. The report sets its own stricter policy
  (app/assessments/report.py); any other HTML page gets STRICT_POLICY.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CASE_DATA_PREFIX = "/v1/"
# Any other HTML page (the problem-type pages): nothing to load, nothing to run, no inline style.
STRICT_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
NO_STORE = "no-store"
_INLINE_SCRIPT = re.compile(rb"<script(\s[^>]*)?>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def source_hash(content: bytes) -> str:
    """A CSP hash source ('sha256-...') for an inline script or style."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(content).digest()).decode() + "'"


@lru_cache(maxsize=16)
def docs_policy(html: bytes) -> str:
    """The policy of a documentation page: its own scripts, and its inline start-up script by hash."""
    scripts = ["'self'"]
    for attributes, content in _INLINE_SCRIPT.findall(html):
        if b"src=" not in attributes:
            scripts.append(source_hash(content))
    # Styles: ReDoc (styled-components) and Swagger UI create style elements and attributes as they render, which
    # no hash can name; a style cannot run code, and these pages hold no case data.
    return (
        f"default-src 'none'; script-src {' '.join(scripts)}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, docs_paths: frozenset[str]) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        case_data = path.startswith(CASE_DATA_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if case_data:
                    headers["Cache-Control"] = NO_STORE
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", STRICT_POLICY)
            await send(message)

        if path not in self.docs_paths:
            await self.app(scope, receive, send_with_headers)
            return

        # A documentation page is small: held whole, so its policy can name the hashes of what it serves.
        start: Message | None = None
        body: list[bytes] = []

        async def send_docs(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                html = b"".join(body)
                if MutableHeaders(scope=start).get("content-type", "").startswith("text/html"):
                    MutableHeaders(scope=start)["Content-Security-Policy"] = docs_policy(html)
                await send_with_headers(start)
                await send_with_headers({"type": "http.response.body", "body": html, "more_body": False})
                return
            await send_with_headers(message)

        await self.app(scope, receive, send_docs)
