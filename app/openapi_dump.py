"""Print the OpenAPI document the app serves (`make openapi` writes it to openapi.json)."""

from __future__ import annotations

import json
import sys

from app.core.config import Settings
from app.main import create_app


def openapi_text() -> str:
    app = create_app(Settings(database_url="sqlite:///:memory:", rate_limit_per_minute=0))
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(openapi_text())
