"""RFC 8785 (JSON Canonicalization Scheme) bytes, at C speed wherever that is provably exact: the one encoder of the
audit chain's hashes, record digests and the verifiable log's leaf entries. Pure: no framework, no database."""

from __future__ import annotations

import json
from typing import Any

import orjson
import rfc8785

MAX_EXACT_INTEGER = 2**53 - 1


def _plain(obj: object) -> bool:
    """Whether `canonical_bytes` is exactly RFC 8785 for `obj`: no floats, integers RFC 8785 accepts, ASCII keys.

    Iterative (this runs over every stored result on the write path); containers by `isinstance`, so that the
    scoring engine's FrozenDict and FrozenList, all through a result, are checked as cheaply as dict and list."""
    pending: list[Any] = [obj]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is str or value is None or kind is bool:
            continue
        if kind is int:
            if not -MAX_EXACT_INTEGER <= value <= MAX_EXACT_INTEGER:
                return False
        elif isinstance(value, dict):
            try:
                if not "".join(value).isascii():
                    return False
            except TypeError:  # a key that is not a string
                return False
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
        elif isinstance(value, str | bool):
            continue
        elif isinstance(value, int):
            if not -MAX_EXACT_INTEGER <= value <= MAX_EXACT_INTEGER:
                return False
        else:
            return False
    return True


def canonical(obj: object) -> bytes:
    """RFC 8785 bytes: at C speed when that is provably the same, else the reference implementation (which also
    raises on what RFC 8785 refuses)."""
    if _plain(obj):
        try:
            return canonical_bytes(obj, floats=False)
        except UnicodeEncodeError:  # a lone surrogate: let the reference implementation refuse it
            pass
    return bytes(rfc8785.dumps(obj))  # type: ignore[arg-type]


def canonical_bytes(obj: object, *, floats: bool = True) -> bytes:
    """RFC 8785 bytes of JSON data without floats whose object keys are ASCII, at C speed.

    For such data (every result, assessment and answer set: scores are integers and keys are item, rule and
    score ids) sorted keys, compact separators and unescaped non-ASCII text are exactly what RFC 8785 asks;
    the property test in tests/audit proves it against the `rfc8785` package. Used on the hot path, where the
    pure-Python canonicaliser would cost more than the whole insert.

    `floats=False` promises that `obj` holds no float: then orjson writes the same bytes several times faster
    (the property tests in tests/audit prove the two agree); where orjson refuses a value (an integer beyond
    64 bits, a lone surrogate) the standard library's result, or error, stands.
    """
    if not floats:
        try:
            return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
