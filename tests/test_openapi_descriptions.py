"""Every property of every schema and every parameter of every operation in the served OpenAPI document has a
description: integrators read the document (and the clients generated from it), not the code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from app.openapi_dump import openapi_text

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Keywords whose values are subschemas a property can hide in: an array's items, a map's values, the members of a
# union or intersection (`X | None` is an anyOf), a negation.
SUBSCHEMA_KEYWORDS = ("items", "additionalProperties", "not", "contains", "propertyNames")
SUBSCHEMA_LIST_KEYWORDS = ("anyOf", "allOf", "oneOf", "prefixItems")


def _described(node: dict[str, Any]) -> bool:
    # A `$ref` property is described by a sibling `description` (OpenAPI 3.1), which Pydantic writes beside it.
    description = node.get("description")
    return isinstance(description, str) and bool(description.strip())


def _undescribed_properties(schema: Any, where: str) -> Iterator[str]:
    """`where.property` for every property without a description, at any depth of an inline schema."""
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, prop in properties.items():
            if not (isinstance(prop, dict) and _described(prop)):
                yield f"{where}.{name}"
            yield from _undescribed_properties(prop, f"{where}.{name}")
    for keyword in SUBSCHEMA_KEYWORDS:
        yield from _undescribed_properties(schema.get(keyword), where)
    for keyword in SUBSCHEMA_LIST_KEYWORDS:
        for member in schema.get(keyword) or ():
            yield from _undescribed_properties(member, where)


def _content_schemas(holder: dict[str, Any]) -> Iterator[Any]:
    for media in (holder.get("content") or {}).values():
        yield media.get("schema")


def undescribed(document: dict[str, Any]) -> list[str]:
    """Every schema property (`Schema.property`) and operation parameter (`METHOD /path in parameter`) that has
    no description, inline schemas of operations included."""
    missing: list[str] = []
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        missing.extend(_undescribed_properties(schema, name))
    for path, path_item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            where = f"{method.upper()} {path}"
            for parameter in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
                if not _described(parameter):
                    missing.append(f"{where} {parameter['in']} parameter {parameter['name']}")
                missing.extend(
                    _undescribed_properties(parameter.get("schema"), f"{where} parameter {parameter['name']}")
                )
            for schema in _content_schemas(operation.get("requestBody") or {}):
                missing.extend(_undescribed_properties(schema, f"{where} request body"))
            for status, response in operation.get("responses", {}).items():
                for schema in _content_schemas(response):
                    missing.extend(_undescribed_properties(schema, f"{where} response {status}"))
    return missing


def test_every_schema_property_and_parameter_of_the_served_document_has_a_description() -> None:
    missing = undescribed(json.loads(openapi_text()))
    assert not missing, f"{len(missing)} without a description:\n" + "\n".join(missing)


def test_the_walk_finds_undescribed_properties_at_any_depth_and_accepts_a_described_ref() -> None:
    nested = {"type": "object", "properties": {"deep": {"type": "string"}}}
    document = {
        "components": {
            "schemas": {
                "Thing": {
                    "properties": {
                        "plain": {"type": "string", "description": " "},
                        "ref": {"$ref": "#/components/schemas/Other", "description": "A described reference."},
                        "bare_ref": {"$ref": "#/components/schemas/Other"},
                        "list": {"description": "A list.", "type": "array", "items": nested},
                        "map": {"description": "A map.", "type": "object", "additionalProperties": nested},
                        "maybe": {"description": "Nullable.", "anyOf": [nested, {"type": "null"}]},
                    }
                }
            }
        },
        "paths": {
            "/things/{id}": {
                "parameters": [{"name": "id", "in": "path"}],
                "get": {
                    "parameters": [
                        {"name": "q", "in": "query", "description": "A filter."},
                        {"name": "X-Trace", "in": "header"},
                    ],
                    "responses": {"200": {"content": {"application/json": {"schema": nested}}}},
                },
                "post": {"requestBody": {"content": {"application/json": {"schema": {"allOf": [nested]}}}}},
            }
        },
    }
    assert undescribed(document) == [
        "Thing.plain",
        "Thing.bare_ref",
        "Thing.list.deep",
        "Thing.map.deep",
        "Thing.maybe.deep",
        "GET /things/{id} path parameter id",
        "GET /things/{id} header parameter X-Trace",
        "GET /things/{id} response 200.deep",
        "POST /things/{id} path parameter id",
        "POST /things/{id} request body.deep",
    ]
