"""Strict pre-parse of request documents, before any route sees them: the one reading of a request body.

The middleware picks the parser from the request's single Content-Type; the document parsed and checked here is
the one every route uses (`CHECKED_DOCUMENT_KEY`), so no route parses a body again.

JSON bodies are parsed once with hooks that refuse what RFC 8259 leaves open or what our storage cannot keep
(NaN and Infinity, duplicate keys, invalid UTF-8, lone surrogates, U+0000), then walked iteratively against
explicit structural limits. YAML bodies (rule-set and questionnaire drafts) are first read as libyaml's event
stream, which refuses nesting past the depth limit before anything is composed and measures what aliases expand
to ("billion laughs") without building it; only then is the document composed and copied out as plain JSON values
(every alias and merge key expanded, nothing shared) and walked against the same limits as JSON.

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
from app.scoring.canonical import JsonCompatibleLoader

JSON_MEDIA_TYPES = frozenset(
    {"application/json", "application/problem+json", "application/merge-patch+json", "application/fhir+json"}
)
YAML_MEDIA_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
BODY_MEDIA_TYPES = JSON_MEDIA_TYPES | YAML_MEDIA_TYPES
# Integers every JSON implementation reads exactly (RFC 7493); beyond it a database column overflows.
MAX_SAFE_INTEGER = 2**53 - 1


class LimitSettings(Protocol):
    json_max_depth: int
    json_max_array_items: int
    json_max_object_keys: int
    json_max_string_chars: int
    json_max_nodes: int
    max_body_bytes: int


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_depth: int = 32
    max_array_items: int = 1000
    max_object_keys: int = 1000
    max_string_chars: int = 10_000
    max_nodes: int = 100_000
    max_body_bytes: int = 1024 * 1024  # for YAML: the size of the document once its aliases are expanded

    @classmethod
    def from_settings(cls, settings: LimitSettings) -> JsonLimits:
        return cls(
            max_depth=settings.json_max_depth,
            max_array_items=settings.json_max_array_items,
            max_object_keys=settings.json_max_object_keys,
            max_string_chars=settings.json_max_string_chars,
            max_nodes=settings.json_max_nodes,
            max_body_bytes=settings.max_body_bytes,
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


# Where the middleware leaves the checked document (`CheckedDocument`) of a request with a body: routes read it
# from the ASGI scope instead of reading the body (app/assessments/dependencies.py, app/content_versions/http.py).
CHECKED_DOCUMENT_KEY = "riskapi.checked_document"


def media_type_of(content_type: str) -> str:
    """The media type a Content-Type value names; none at all is JSON, as FastAPI reads such a body."""
    return content_type.split(";", 1)[0].strip().lower() or "application/json"


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


# The JSON parser recurses once per level: a body nested deeper than this is refused (at the root) before it is
# parsed, so the parser never runs out of stack. It is at least every allowed json_max_depth (at most 256,
# app/core/config.py): a body nested no deeper is parsed, and the walk names the first level too deep.
_PARSE_NESTING = 256
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting(body: bytes) -> int:
    """How deeply the body's arrays and objects nest, counted on its bytes with the strings taken out."""
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _parse(body: bytes, pairs: Callable[[list[tuple[str, Any]]], Any], number: Callable[[str], float]) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The body is not valid UTF-8 (byte {exc.start})") from None
    if body.count(b"[") + body.count(b"{") > _PARSE_NESTING and _nesting(body) > _PARSE_NESTING:
        raise _limit("", f"nested deeper than {_PARSE_NESTING} levels (json_max_depth)")
    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=_constant, parse_float=number)
    except _Malformed as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None
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
            if not math.isfinite(value):  # only YAML can write one (.nan, .inf); JSON's parse refuses them
                name = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
                raise BadRequest(f"The number at '{_pointer(link)}' is {name}, which is not a JSON number")
            floats = True
    return floats


@dataclass(frozen=True, slots=True)
class CheckedDocument:
    """A body that passed the guard: the document every route uses, and whether it holds floats."""

    media_type: str
    document: Any
    floats: bool

    @property
    def is_json(self) -> bool:
        return self.media_type in JSON_MEDIA_TYPES


def check_body(media_type: str, body: bytes, limits: JsonLimits) -> CheckedDocument | None:
    """The checked document of a JSON or YAML body (None for an empty one, which is the route's business)."""
    read = check_yaml_body if media_type in YAML_MEDIA_TYPES else check_json_body
    document = read(body, limits)
    return None if document is None else CheckedDocument(media_type, *document)


def check_json_body(body: bytes, limits: JsonLimits) -> tuple[Any, bool] | None:
    """The parsed document and whether it holds floats, once it passes the checks (None for an empty body)."""
    if not body.strip():
        return None  # an empty body is the route's business (a missing required body is its 422)
    seen = _Seen()
    document = _parse(body, seen.pairs, seen.float)
    if not seen.duplicates and _within_limits_by_size(body, limits):
        return document, seen.floats
    return document, check_document(document, limits)


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


@dataclass(slots=True)
class _OpenNode:
    anchor: str | None
    mapping: bool
    values: int = 1
    chars: int = 2  # the brackets of a collection
    events: int = 0
    child: str | int = ""


@dataclass(frozen=True, slots=True)
class _Expanded:
    values: int
    chars: int


def check_yaml_body(body: bytes, limits: JsonLimits) -> tuple[Any, bool] | None:
    """The document as plain JSON values and whether it holds floats, once it passes the checks (None when the
    body holds no document)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The body is not valid UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise BadRequest("The body contains U+0000, which cannot be stored")
    _check_yaml_events(text, limits)
    loader = JsonCompatibleLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        document = _plain_values(loader, root)
    except yaml.YAMLError as exc:
        raise _malformed_yaml(exc) from None
    finally:
        loader.dispose()
    return document, check_document(document, limits)


def _malformed_yaml(exc: yaml.YAMLError) -> BadRequest:
    return BadRequest(f"The body is not valid YAML: {' '.join(str(exc).split())[:300]}")


def _check_yaml_events(text: str, limits: JsonLimits) -> None:
    """What must be refused before the document is composed, read on libyaml's event stream: nesting past the
    depth limit, and a document whose aliases expand past json_max_nodes values or max_body_bytes characters
    (counted as compact JSON with every scalar quoted; an alias counts the whole node it repeats)."""
    open_nodes: list[_OpenNode] = []
    anchors: dict[str, _Expanded | None] = {}  # None while the anchored node is still open
    closed = _Expanded(0, 0)

    def where() -> str:
        return "".join("/" + _escape(n.child) for n in open_nodes)

    def enter() -> None:
        if open_nodes and not open_nodes[-1].mapping:
            open_nodes[-1].child = open_nodes[-1].events  # the index of the item that starts now

    def add(size: _Expanded, key: str | None = None) -> None:
        nonlocal closed
        if not open_nodes:
            closed = _Expanded(closed.values + size.values, closed.chars + size.chars)
        else:
            parent = open_nodes[-1]
            parent.values += size.values
            parent.chars += size.chars + 1  # the comma or colon after it
            parent.events += 1
            if parent.mapping and parent.events % 2 == 1:  # a key: it names the value that follows
                parent.child = key if key is not None else str(parent.events // 2)
        if closed.values + sum(n.values for n in open_nodes) > limits.max_nodes:
            raise _limit(where(), f"more than {limits.max_nodes} values once aliases are expanded (json_max_nodes)")
        if closed.chars + sum(n.chars for n in open_nodes) > limits.max_body_bytes:
            raise _limit(
                where(),
                f"more than {limits.max_body_bytes} characters once aliases are expanded (max_body_bytes)",
            )

    try:
        for event in yaml.parse(text, Loader=JsonCompatibleLoader):
            if isinstance(event, yaml.NodeEvent):
                enter()
            if isinstance(event, yaml.AliasEvent):
                name = event.anchor or ""
                if name not in anchors:
                    raise BadRequest(f"The alias *{name[:100]} at '{where()}' refers to no anchor")
                size = anchors[name]
                if size is None:
                    raise BadRequest(f"The alias *{name[:100]} at '{where()}' refers to a node that contains it")
                add(size)
            elif isinstance(event, yaml.ScalarEvent):
                size = _Expanded(1, len(event.value) + 2)
                if event.anchor:
                    anchors[event.anchor] = size
                add(size, event.value)
            elif isinstance(event, yaml.CollectionStartEvent):
                if len(open_nodes) >= limits.max_depth:
                    raise _limit(where(), f"nested deeper than {limits.max_depth} levels (json_max_depth)")
                if event.anchor:
                    anchors[event.anchor] = None
                open_nodes.append(_OpenNode(event.anchor, isinstance(event, yaml.MappingStartEvent)))
            elif isinstance(event, yaml.CollectionEndEvent):
                node = open_nodes.pop()
                size = _Expanded(node.values, node.chars)
                if node.anchor:
                    anchors[node.anchor] = size
                add(size)
    except yaml.MarkedYAMLError as exc:
        # libyaml's own nesting limit (1,000) can only stop a document deeper than ours (at most 256): when its
        # scanner looks ahead along one line of flow collections it meets that limit before our event check does.
        if "nesting depth" in (exc.problem or ""):
            raise _limit(where(), f"nested deeper than {limits.max_depth} levels (json_max_depth)") from None
        raise _malformed_yaml(exc) from None
    except yaml.YAMLError as exc:
        raise _malformed_yaml(exc) from None


_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = frozenset(
    {_STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"}
)
_MERGE = "tag:yaml.org,2002:merge"


def _at(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


def _unsupported(node: yaml.Node) -> BadRequest:
    return BadRequest(f"The YAML tag {node.tag} at {_at(node)} is not supported: send JSON values only")


def _plain_values(loader: JsonCompatibleLoader, root: yaml.Node) -> Any:
    """The composed document as plain JSON values, built without recursion: each alias and merge key is copied
    out where it is used, so no object is shared and the document is exactly what the limits were checked on."""
    pairs: dict[int, dict[str, yaml.Node]] = {}
    scalars: dict[int, Any] = {}
    holder: list[Any] = [None]
    stack: list[tuple[yaml.Node, Any, Any]] = [(root, holder, 0)]
    while stack:
        node, target, slot = stack.pop()
        value: Any
        if isinstance(node, yaml.ScalarNode):
            if id(node) not in scalars:
                if node.tag not in _SCALAR_TAGS:
                    raise _unsupported(node)
                scalars[id(node)] = loader.construct_object(node)
            value = scalars[id(node)]
        elif isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise _unsupported(node)
            value = [None] * len(node.value)
            stack.extend((child, value, index) for index, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            members = _mapping_pairs(loader, node, pairs)
            value = dict.fromkeys(members)
            stack.extend((child, value, key) for key, child in members.items())
        else:  # pragma: no cover - the composer makes only these three kinds
            raise _unsupported(node)
        target[slot] = value
    return holder[0]


def _mapping_pairs(
    loader: JsonCompatibleLoader, node: yaml.MappingNode, memo: dict[int, dict[str, yaml.Node]]
) -> dict[str, yaml.Node]:
    """The key/value nodes of a mapping once its merge keys (`<<: *base`) are applied, as YAML's merge key type
    says: the mapping's own keys win, then the merged mappings in the order they are listed. A key the mapping
    itself repeats is refused, as in JSON. Merged mappings are resolved first, without recursion."""
    pending = [node]
    while pending:
        current = pending[-1]
        if id(current) in memo:
            pending.pop()
            continue
        if current.tag != "tag:yaml.org,2002:map":
            raise _unsupported(current)
        sources: list[yaml.MappingNode] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in current.value:
            if key_node.tag != _MERGE:
                own.append((key_node, value_node))
                continue
            merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            if not all(isinstance(m, yaml.MappingNode) for m in merged):
                raise BadRequest(f"The merge key at {_at(key_node)} must merge a mapping or a list of mappings")
            sources.extend(merged)
        unresolved = [m for m in sources if id(m) not in memo]
        if unresolved:
            if any(m in pending for m in unresolved):
                raise BadRequest(f"The merge key in the mapping at {_at(current)} merges a mapping that contains it")
            pending.extend(unresolved)
            continue
        members: dict[str, yaml.Node] = {}
        for source in reversed(sources):
            members.update(memo[id(source)])
        seen: set[str] = set()
        for key_node, value_node in own:
            key = loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key_node.tag != _STR or not isinstance(key, str):
                raise BadRequest(f"The key at {_at(key_node)} is not a string: quote it")
            if key in seen:
                raise BadRequest(f"The mapping at {_at(current)} repeats the key '{key[:100]}'")
            seen.add(key)
            members[key] = value_node
        memo[id(current)] = members
        pending.pop()
    return memo[id(node)]
