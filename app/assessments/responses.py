"""A rendered service result as an HTTP response (body bytes as rendered, never re-serialised)."""

from __future__ import annotations

from fastapi import Response

from app.assessments.service import Rendered


def json_response(rendered: Rendered) -> Response:
    headers: dict[str, str] = {}
    if rendered.location:
        headers["Location"] = rendered.location
    if rendered.etag:
        headers["ETag"] = rendered.etag
    if rendered.replayed:
        headers["Idempotent-Replayed"] = "true"
    media_type = "application/problem+json" if rendered.status >= 400 else "application/json"
    return Response(rendered.body, status_code=rendered.status, headers=headers, media_type=media_type)
