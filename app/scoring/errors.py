"""The only exceptions the scoring core lets escape, and the problem record they carry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

# a value quoted in a message is cut to this many characters, and a list of codes to this many codes
SHOWN_VALUE_LENGTH = 60
SHOWN_CODES = 30


@dataclass(frozen=True, order=True, slots=True)
class Issue:
    """One problem, located by a JSON pointer from the root of the checked document."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


class ScoringError(Exception):
    """Base class of every error raised by `app.scoring`."""

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.issues: list[Issue] = list(issues or [])


class DefinitionError(ScoringError):
    """A questionnaire or rule set is malformed or fails its static checks."""

    def __init__(self, issues: list[Issue], message: str = "the definition has errors") -> None:
        super().__init__(message, issues)


class AnswerError(ScoringError):
    """A set of answers does not fit the questionnaire."""

    def __init__(self, issues: list[Issue], message: str = "the answers have errors") -> None:
        super().__init__(message, issues)


def json_text(value: object) -> str:
    """`value` as JSON writes it (`true`, `null`, `"yes"`, `["a", "b"]`), never Python's `True`, `None` or `'yes'`:
    every message shows values this way. Cut to SHOWN_VALUE_LENGTH characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # not JSON data: name its type
        text = f"<{type(value).__name__}>"
    return text if len(text) <= SHOWN_VALUE_LENGTH else text[: SHOWN_VALUE_LENGTH - 3] + "..."


def code_list(codes: Sequence[object], separator: str = ", ") -> str:
    """Option codes as a message lists them: `none, planned, occurred` (a code bare, any other value in JSON, e.g.
    `false < true`), the first SHOWN_CODES only."""
    shown = [code if isinstance(code, str) else json_text(code) for code in codes[:SHOWN_CODES]]
    more = [f"… ({len(codes) - SHOWN_CODES} more)"] if len(codes) > SHOWN_CODES else []
    return separator.join([*shown, *more])


def pointer_from(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """RFC 6901 pointer from path segments."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


class WorkLimitExceeded(ScoringError):
    """Checking a definition (static checks and embedded tests) needs more steps than its `StepBudget` allows."""

    def __init__(self, limit: int, pointer: str) -> None:
        message = f"the rule set needs more than {limit} checking steps (limit {limit})"
        super().__init__(message, [Issue(pointer, message)])
        self.limit = limit
        self.pointer = pointer
