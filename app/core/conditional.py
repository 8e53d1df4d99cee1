"""Conditional reads (RFC 9110, section 13.1.2): whether an `If-None-Match` header already holds a representation."""

from __future__ import annotations


def none_match_holds(etag: str, if_none_match: str | None) -> bool:
    """True when the header names `etag` or is `*`: the read answers 304. The comparison is weak, as the RFC has it
    for `If-None-Match`: `W/"x"` matches `"x"`."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags
