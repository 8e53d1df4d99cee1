from __future__ import annotations

from pathlib import Path

from app.openapi_dump import openapi_text

COMMITTED = Path(__file__).resolve().parents[1] / "openapi.json"


def test_committed_openapi_matches_what_the_app_serves() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi_text(), (
        "openapi.json is stale: the API contract changed. Review the change, then run `make openapi`."
    )
