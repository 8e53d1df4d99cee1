"""The only exceptions the scoring core lets escape, and the problem record they carry."""

from __future__ import annotations

from dataclasses import dataclass


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
