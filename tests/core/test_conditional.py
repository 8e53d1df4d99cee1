"""If-None-Match as RFC 9110 reads it: a list of tags compared weakly, or `*`."""

from __future__ import annotations

import pytest

from app.core.conditional import none_match_holds

TAG = '"3f2a"'


@pytest.mark.parametrize(
    ("header", "holds"),
    [
        (None, False),
        ("", False),
        (TAG, True),
        (f'"other", {TAG}', True),
        (f"W/{TAG}", True),
        ("*", True),
        ('"other"', False),
        ('"3f2"', False),
    ],
)
def test_if_none_match(header: str | None, holds: bool) -> None:
    assert none_match_holds(TAG, header) is holds
