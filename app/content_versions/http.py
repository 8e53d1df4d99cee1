"""HTTP helpers shared by the content routers: documents in JSON or YAML, YAML out, ETags, common parameters."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import Depends, Header, Path, Request, Response

from app.core.errors import FieldError, ValidationFailed, body_required
from app.core.json_guard import CHECKED_DOCUMENT_KEY, YAML_MEDIA_TYPES, CheckedDocument

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"

ContentKey = Annotated[
    str, Path(pattern=KEY_PATTERN, description="The document's key, e.g. `online-harm-england` (2-63 of a-z, 0-9, -).")
]
VersionNumber = Annotated[int, Path(ge=1, le=2_147_483_647, description="The version number, from 1.")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The `ETag` of the version as you read it: required to replace a draft, optional to publish; "
        "a stale one is a 412.",
    ),
]


async def document_body(request: Request) -> dict[str, Any]:
    """The request's document, `application/json` or `application/yaml` (YAML 1.2 core scalars) as its one
    Content-Type says: the document the middleware's guard parsed and checked, never the body read again."""
    checked: CheckedDocument | None = request.scope.get(CHECKED_DOCUMENT_KEY)
    if checked is None:
        raise body_required("A JSON or YAML body is required")
    document = checked.document
    if not isinstance(document, dict):
        raise ValidationFailed(
            "the document must be a mapping (an object)",
            errors=[FieldError(pointer="", detail=f"expected an object, got {type(document).__name__}")],
        )
    return document


DocumentBody = Annotated[dict[str, Any], Depends(document_body)]


def document_request_body(description: str, example: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` that documents a JSON-or-YAML document body (FastAPI cannot infer it). The YAML body is
    described as text sent as is (a string of format binary): code generators have no YAML serialiser, and send a
    body of that schema as the bytes given (openapi-python-client: a File; docs/http.md, "Generate a client")."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object", "description": description}, "example": example},
                "application/yaml": {
                    "schema": {"type": "string", "format": "binary", "description": f"{description}, as YAML text"}
                },
            },
        }
    }


def wants_yaml(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    media = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    return any(m in YAML_MEDIA_TYPES for m in media) and "application/json" not in media[:1]


def yaml_response(document: dict[str, Any], etag: str) -> Response:
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    return Response(text, media_type="application/yaml", headers={"ETag": etag})


YAML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The version (JSON), or the document alone as YAML with `Accept: application/yaml`",
        "content": {"application/yaml": {"schema": {"type": "string"}}},
        "headers": {"ETag": {"description": "Send as If-Match to replace a draft", "schema": {"type": "string"}}},
    }
}
