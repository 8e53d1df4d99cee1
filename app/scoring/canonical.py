"""RFC 8785 canonical JSON, content hashes, and reading YAML/JSON documents."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import rfc8785
import yaml
from pydantic import BaseModel

from app.scoring.errors import DefinitionError, Issue, ScoringError


def canonical_json(obj: object) -> bytes:
    """RFC 8785 bytes of JSON data, or of a model in its hashed form (see `hashable_form`)."""
    data: Any = hashable_form(obj) if isinstance(obj, BaseModel) else obj
    try:
        return bytes(rfc8785.dumps(data))
    except Exception as exc:  # rfc8785 raises several unrelated types for non-JSON input
        raise ScoringError(f"not canonicalisable JSON: {exc}") from exc


def content_hash(obj: object) -> str:
    """Lowercase hex SHA-256 of `canonical_json(obj)`."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def hashable_form(model: BaseModel) -> Any:
    """The document as its author wrote it, after validation.

    Only the fields the author set are kept (`exclude_unset`), so adding an optional field to the language
    in a later engine does not change the hash of any stored version, and a default stated explicitly is
    still part of what was written.
    """
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


try:
    from yaml import CSafeLoader as _SafeLoader  # libyaml: the same reading, in C
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class JsonCompatibleLoader(_SafeLoader):
    """YAML 1.2 core scalars: only true/false are booleans and dates stay strings.

    YAML 1.1 would read an unquoted `yes` as true and `2010-05-01` as a date, both surprising in a rule set
    whose answers are the strings "yes"/"no" and whose dates are ISO strings. Request bodies are read with the
    same loader (app/core/json_guard.py).
    """


JsonCompatibleLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
JsonCompatibleLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_document(path_or_text: str | Path) -> object:
    """Read a YAML or JSON document from a path or from text (JSON is a subset of the YAML read here)."""
    if isinstance(path_or_text, Path) or (
        "\n" not in path_or_text and path_or_text.endswith((".yaml", ".yml", ".json"))
    ):
        path = Path(path_or_text)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DefinitionError([Issue("", f"cannot read {path}: {exc}")]) from exc
    else:
        text = path_or_text
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass  # YAML flow style, or broken: the YAML reader says which
    try:
        return yaml.load(text, Loader=JsonCompatibleLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise DefinitionError([Issue("", f"not valid YAML or JSON: {exc}")]) from exc
