"""Print the OpenAPI document the app serves (`make openapi` writes it to openapi.json)."""

from __future__ import annotations

import json
import sys
from typing import Any

from app.core.config import Settings
from app.main import create_app

# Where an operation has more than one representation, these come first: code generators type a response by the
# first media type listed (openapi-python-client does), and a generated client speaks JSON.
JSON_FIRST = ("application/json", "application/problem+json")


def _ordered(node: Any, *, media_types: bool = False) -> Any:
    """Keys sorted, so the file diffs cleanly; in a `content` map, the JSON media types first."""
    if isinstance(node, list):
        return [_ordered(item) for item in node]
    if not isinstance(node, dict):
        return node
    keys = sorted(node)
    if media_types:
        keys.sort(key=lambda media_type: media_type not in JSON_FIRST)
    return {key: _ordered(node[key], media_types=key == "content") for key in keys}


def openapi_text() -> str:
    app = create_app(Settings(database_url="sqlite:///:memory:", rate_limit_per_minute=0))
    return json.dumps(_ordered(app.openapi()), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(openapi_text())
