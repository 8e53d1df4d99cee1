"""Fixtures shared by the authentication tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.auth import repository


@pytest.fixture
def key_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every digest looked up in the database."""
    looked_up: list[str] = []
    original: Callable[..., object] = repository.key_record

    def spy(session: object, digest: str) -> object:
        looked_up.append(digest)
        return original(session, digest)

    monkeypatch.setattr(repository, "key_record", spy)
    return looked_up
