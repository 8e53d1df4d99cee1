"""From untrusted JSON data to validated models; every failure becomes a `DefinitionError` with pointers."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.scoring.checker import check_questionnaire
from app.scoring.errors import DefinitionError, Issue, pointer_from
from app.scoring.models import TAG_PREFIXES, Questionnaire, RuleSet

# Far above any legitimate document (conditions are bounded at 10); keeps hostile input from exhausting the stack.
MAX_DOCUMENT_DEPTH = 64

Model = TypeVar("Model", bound=BaseModel)


def parse_questionnaire(data: object) -> Questionnaire:
    questionnaire = _validate(Questionnaire, data)
    issues = check_questionnaire(questionnaire)
    if issues:
        raise DefinitionError(issues, "the questionnaire has errors")
    return questionnaire


def parse_ruleset(data: object) -> RuleSet:
    """Shape only; `check(ruleset, questionnaire)` checks the meaning."""
    return _validate(RuleSet, data)


def _validate(model: type[Model], data: object) -> Model:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json", by_alias=True, exclude_unset=True)
    too_deep = _too_deep(data)
    if too_deep is not None:
        raise DefinitionError([Issue(too_deep, f"the document is nested deeper than {MAX_DOCUMENT_DEPTH} levels")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(issues_from_validation(exc)) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise DefinitionError([Issue("", f"not a valid document: {exc}")]) from None


def _too_deep(data: object) -> str | None:
    stack: list[tuple[object, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DOCUMENT_DEPTH:
            return pointer_from(path[:MAX_DOCUMENT_DEPTH])
        if isinstance(node, dict):
            stack.extend((value, (*path, str(key))) for key, value in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((value, (*path, index)) for index, value in enumerate(node))
    return None


def pointer_of_loc(loc: tuple[str | int, ...]) -> str:
    return pointer_from([part for part in loc if not _is_tag(part)])


def _is_tag(part: str | int) -> bool:
    """Locations name tagged-union tags and the branches of plain unions (`str`, `list[...]`): drop them."""
    if not isinstance(part, str):
        return False
    return part.startswith(TAG_PREFIXES) or "[" in part or part in _UNION_BRANCHES


_UNION_BRANCHES = frozenset({"str", "int", "bool", "float", "none"})


def issues_from_validation(exc: ValidationError) -> list[Issue]:
    issues = []
    for error in exc.errors(include_url=False):
        loc: tuple[str | int, ...] = tuple(error["loc"])
        kind = error["type"]
        message = _message(kind, error, loc)
        if kind == "missing":
            loc = loc[:-1]
        issues.append(Issue(pointer_of_loc(loc), message))
    # the branches of a union fail together at one place: say it once
    merged: dict[str, list[str]] = {}
    for issue in issues:
        messages = merged.setdefault(issue.pointer, [])
        if issue.message not in messages:
            messages.append(issue.message)
    return [Issue(pointer, "; or ".join(messages)) for pointer, messages in sorted(merged.items())]


def _message(kind: str, error: Any, loc: tuple[str | int, ...]) -> str:
    field = next((part for part in reversed(loc) if isinstance(part, str) and not _is_tag(part)), "")
    if kind == "missing":
        return f"'{field}' is required"
    if kind == "extra_forbidden":
        return f"unknown field '{field}'"
    if field in _ONE_VALUE_OPS and "cond:answer" in loc and isinstance(error.get("input"), list):
        return _ONE_VALUE_OPS[field]
    return _json_spelling(str(error["msg"]).removeprefix("Value error, "))


# `eq: [a, b]` fails every branch of the value union; say what to write instead
_ONE_VALUE_OPS = {
    "eq": "eq takes one value; to match any of several use `in: [...]`",
    "ne": "ne takes one value; to exclude several use `not_in: [...]`",
}
_PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}
_PYTHON_SPELLING = re.compile(r"'((?:[^'\\]|\\.)*)'|\b(True|False|None)\b")


def _json_spelling(text: str) -> str:
    """Pydantic's messages write expected values as Python does (`'level' or 'reporting'`, `True`): in JSON."""

    def respell(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return _PYTHON_WORDS[match.group(2)]
        return json.dumps(match.group(1), ensure_ascii=False)

    return _PYTHON_SPELLING.sub(respell, text)
