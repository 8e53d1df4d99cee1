"""Strict pre-parse of request documents, before any route sees them.

JSON bodies are parsed once with hooks that refuse what RFC 8259 leaves open or what our storage cannot keep
(NaN and Infinity, duplicate keys, invalid UTF-8, lone surrogates, U+0000), then walked iteratively against
explicit structural limits. YAML bodies (rule-set drafts) are checked on the parser's event stream, which also
measures the size that aliases expand to ("billion laughs") without building anything.

Malformed input is a 400; a document over a limit is a 422 whose `errors` entry names the limit and the JSON
pointer where it was hit. The caller can always tell which rule it broke and where.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from app.core.errors import BadRequest, FieldError, ValidationFailed

JSON_MEDIA_TYPES = frozenset({"", "application/json", "application/problem+json", "application/merge-patch+json"})
YAML_MEDIA_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
# Integers every JSON implementation reads exactly (RFC 7493); beyond it a database column overflows.
MAX_SAFE_INTEGER = 2**53 - 1


class LimitSettings(Protocol):
    json_max_depth: int
    json_max_array_items: int
    json_max_object_keys: int
    json_max_string_chars: int
    json_max_nodes: int


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_depth: int = 32
    max_array_items: int = 1000
    max_object_keys: int = 1000
    max_string_chars: int = 10_000
    max_nodes: int = 100_000

    @classmethod
    def from_settings(cls, settings: LimitSettings) -> JsonLimits:
        return cls(
            max_depth=settings.json_max_depth,
            max_array_items=settings.json_max_array_items,
            max_object_keys=settings.json_max_object_keys,
            max_string_chars=settings.json_max_string_chars,
            max_nodes=settings.json_max_nodes,
        )


class _Malformed(ValueError):
    """Raised inside the JSON hooks; becomes a 400."""


class _DuplicateKeys(dict[str, Any]):
    """An object that had a repeated key; the walk reports it with its pointer."""

    duplicate: str = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    return _marked(result, pairs)


def _marked(result: dict[str, Any], pairs: list[tuple[str, Any]]) -> _DuplicateKeys:
    marked = _DuplicateKeys(result)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.duplicate = key
            break
        seen.add(key)
    return marked


def _constant(name: str) -> Any:
    raise _Malformed(f"{name} is not a JSON number; send a finite number or null")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Malformed(f"the number {text[:40]} is out of range")
    return value


def _escape(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _pointer(link: tuple[Any, str | int] | None) -> str:
    parts: list[str] = []
    while link is not None:
        link, part = link
        parts.append(_escape(part))
    return "".join("/" + p for p in reversed(parts))


def _limit(pointer: str, detail: str) -> ValidationFailed:
    return ValidationFailed(
        f"The document exceeds a limit: {detail}", errors=[FieldError(pointer=pointer, detail=detail)]
    )


def _bad_string(value: str) -> str | None:
    if "\x00" in value:
        return "contains U+0000, which cannot be stored"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains an unpaired surrogate (\\ud800-\\udfff), which is not valid Unicode"
    return None


# Where the middleware leaves a checked JSON body (`CheckedJson`), for a route that reads it instead of parsing
# the body again (app/assessments/create_route.py).
PARSED_JSON_KEY = "riskapi.parsed_json"


def parse_json(body: bytes) -> Any:
    """Strict parse: UTF-8 only, no NaN/Infinity, no out-of-range numbers. Raises BadRequest."""
    return _parse(body, _pairs, _float)


@dataclass(slots=True)
class _Seen:
    """What the parse met that the walk would otherwise have to look for."""

    duplicates: bool = False
    floats: bool = False

    def pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) == len(pairs):
            return result
        self.duplicates = True
        return _marked(result, pairs)

    def float(self, text: str) -> float:
        self.floats = True
        return _float(text)


def _parse(body: bytes, pairs: Callable[[list[tuple[str, Any]]], Any], number: Callable[[str], float]) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=_constant, parse_float=number)
    except _Malformed as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _limit("", "nested too deeply to read") from None
    except ValueError as exc:  # JSONDecodeError, and ints over Python's digit limit
        raise BadRequest(f"The body is not valid JSON: {str(exc)[:200]}") from None


def check_document(document: Any, limits: JsonLimits) -> bool:
    """Iterative walk: depth, array length, keys per object, string length, node count, string content.

    Returns whether the document holds a number with a fraction or exponent (a float)."""
    stack: list[tuple[Any, int, tuple[Any, str | int] | None]] = [(document, 0, None)]
    nodes = 0
    floats = False
    while stack:
        value, depth, link = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise _limit(_pointer(link), f"more than {limits.max_nodes} values in the document (json_max_nodes)")
        if isinstance(value, str):
            if len(value) > limits.max_string_chars:
                raise _limit(
                    _pointer(link),
                    f"string of {len(value)} characters; the limit is {limits.max_string_chars}"
                    " (json_max_string_chars)",
                )
            problem = _bad_string(value)
            if problem:
                raise BadRequest(f"The string at '{_pointer(link)}' {problem}")
        elif isinstance(value, int):
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                raise _limit(_pointer(link), f"integer outside ±{MAX_SAFE_INTEGER} (I-JSON, RFC 7493)")
        elif isinstance(value, dict):
            if isinstance(value, _DuplicateKeys):
                raise BadRequest(f"The object at '{_pointer(link)}' repeats the key '{value.duplicate[:100]}'")
            if depth >= limits.max_depth:
                raise _limit(_pointer(link), f"nested deeper than {limits.max_depth} levels (json_max_depth)")
            if len(value) > limits.max_object_keys:
                raise _limit(
                    _pointer(link),
                    f"object with {len(value)} keys; the limit is {limits.max_object_keys} (json_max_object_keys)",
                )
            for key, item in value.items():
                child = (link, key)
                if len(key) > limits.max_string_chars:
                    raise _limit(_pointer(child), f"key longer than {limits.max_string_chars} characters")
                problem = _bad_string(key)
                if problem:
                    raise BadRequest(f"A key in the object at '{_pointer(link)}' {problem}")
                stack.append((item, depth + 1, child))
        elif isinstance(value, list):
            if depth >= limits.max_depth:
                raise _limit(_pointer(link), f"nested deeper than {limits.max_depth} levels (json_max_depth)")
            if len(value) > limits.max_array_items:
                raise _limit(
                    _pointer(link),
                    f"array of {len(value)} items; the limit is {limits.max_array_items} (json_max_array_items)",
                )
            stack.extend((item, depth + 1, (link, index)) for index, item in enumerate(value))
        elif isinstance(value, float):
            floats = True
    return floats


@dataclass(frozen=True, slots=True)
class CheckedJson:
    """A JSON body that passed the guard: the parsed document, and whether it holds floats."""

    document: Any
    floats: bool


def check_json_body(body: bytes, limits: JsonLimits) -> CheckedJson | None:
    """The parsed document once it passes the checks (None for an empty body)."""
    if not body.strip():
        return None  # an empty body is the route's business (a missing required body is its 422)
    seen = _Seen()
    document = _parse(body, seen.pairs, seen.float)
    if not seen.duplicates and _within_limits_by_size(body, limits):
        return CheckedJson(document, seen.floats)
    return CheckedJson(document, check_document(document, limits))


_SIXTEEN_DIGITS = re.compile(rb"[0-9]{16}")


def _within_limits_by_size(body: bytes, limits: JsonLimits) -> bool:
    """True when the raw bytes of a parsed body already prove that `check_document` would find nothing; every
    count below can only over-count (a bracket, comma, digit or backslash inside a string counts too):

    - each value starts at its own byte, and a string needs a byte per character: size bounds nodes and strings;
    - U+0000 and lone surrogates can only come from a `\\u` escape (the parser refuses raw control characters
      and the UTF-8 decoder refuses encoded surrogates);
    - a container at depth d (the root is 0) is inside d others: depth needs brackets, length needs commas;
    - an integer beyond 2**53 - 1 has at least 16 digits."""
    size = len(body)
    return (
        size <= limits.max_string_chars
        and size <= limits.max_nodes
        and b"\\u" not in body
        and body.count(b"{") + body.count(b"[") <= limits.max_depth
        and body.count(b",") < min(limits.max_array_items, limits.max_object_keys)
        and _SIXTEEN_DIGITS.search(body) is None
    )


_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(slots=True)
class _OpenNode:
    anchor: str | None
    mapping: bool
    size: int = 1
    events: int = 0
    child: str | int = ""


def check_yaml_body(body: bytes, limits: JsonLimits) -> None:
    """The same limits on the YAML event stream; an alias counts as the size of what it repeats."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The body is not valid UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise BadRequest("The body contains U+0000, which cannot be stored")
    open_nodes: list[_OpenNode] = []
    sizes: dict[str, int] = {}
    closed_total = 0

    def where() -> str:
        return "".join("/" + _escape(n.child) for n in open_nodes)

    def enter() -> None:
        if open_nodes and not open_nodes[-1].mapping:
            open_nodes[-1].child = open_nodes[-1].events  # the index of the item that starts now

    def add(size: int, key: str | None = None) -> None:
        nonlocal closed_total
        if not open_nodes:
            closed_total += size
        else:
            parent = open_nodes[-1]
            parent.size += size
            parent.events += 1
            if parent.mapping:
                if parent.events % 2 == 1:  # a key: it names the value that follows
                    parent.child = key if key is not None else str(parent.events // 2)
                items, limit, name = (parent.events + 1) // 2, limits.max_object_keys, "json_max_object_keys"
            else:
                items, limit, name = parent.events, limits.max_array_items, "json_max_array_items"
            if items > limit:
                raise _limit(where(), f"a collection with more than {limit} items ({name})")
        if closed_total + sum(n.size for n in open_nodes) > limits.max_nodes:
            raise _limit(where(), f"more than {limits.max_nodes} values once aliases are expanded (json_max_nodes)")

    try:
        for event in yaml.parse(text, Loader=_YAML_LOADER):
            if isinstance(event, yaml.NodeEvent):
                enter()
            if isinstance(event, yaml.AliasEvent):
                add(sizes.get(event.anchor or "", 1))
            elif isinstance(event, yaml.ScalarEvent):
                if len(event.value) > limits.max_string_chars:
                    raise _limit(where(), f"a string longer than {limits.max_string_chars} characters")
                if event.anchor:
                    sizes[event.anchor] = 1
                add(1, event.value)
            elif isinstance(event, yaml.CollectionStartEvent):
                if len(open_nodes) >= limits.max_depth:
                    raise _limit(where(), f"nested deeper than {limits.max_depth} levels (json_max_depth)")
                open_nodes.append(_OpenNode(event.anchor, isinstance(event, yaml.MappingStartEvent)))
            elif isinstance(event, yaml.CollectionEndEvent):
                node = open_nodes.pop()
                if node.anchor:
                    sizes[node.anchor] = node.size
                add(node.size)
    except yaml.YAMLError:
        return  # malformed YAML: the route's reader reports it with its position
