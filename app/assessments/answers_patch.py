"""A revision's answers: the complete set sent as `answers`, or `answers_patch` (RFC 7396) merged into the amended
revision's stored answers; and the 422 of a merged set, each error at `/answers_patch/<item>` saying whether the
patch or the amended revision gave the answer at fault (docs/answers.md, "Amending with a patch")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.assessments.schemas import RevisionCreate
from app.core.errors import FieldError, ValidationFailed
from app.core.merge_patch import merge_patch
from app.scoring import Issue
from app.scoring.requirements import NOT_ASKED

PATCH = "/answers_patch"
NEITHER = "Send the revision's answers: `answers` (the complete set) or `answers_patch` (the changes)"
BOTH = "Send either `answers` (the complete set) or `answers_patch` (the changes), not both"


def check_one_source(body: RevisionCreate) -> None:
    """A revision's body names its answers exactly once: the complete set, or a patch."""
    if (body.answers is None) == (body.answers_patch is None):
        detail = NEITHER if body.answers is None else BOTH
        raise ValidationFailed(
            detail, errors=[FieldError(pointer="/answers", detail=detail), FieldError(pointer=PATCH, detail=detail)]
        )


def revision_answers(body: RevisionCreate, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The complete answers of the revision `body` asks for, given the amended revision's `stored` answers."""
    if body.answers is not None:
        return body.answers
    merged: dict[str, Any] = merge_patch(stored, body.answers_patch)
    return merged


def _item_of(pointer: str) -> str:
    """The item id an issue's pointer (from the root of the answers) starts with, unescaped (RFC 6901)."""
    first = pointer.split("/", 2)[1] if pointer.startswith("/") else ""
    return first.replace("~1", "/").replace("~0", "~")


def patch_problem(
    issues: Sequence[Issue], patch: Mapping[str, Any], stored: Mapping[str, Any], merged: Mapping[str, Any]
) -> ValidationFailed:
    """The 422 of a patched revision whose merged answers have `issues`: each at `/answers_patch` + its pointer,
    worded for what the patch can do about it. An answer the patch did not send was carried over from `stored`."""
    errors: list[FieldError] = []
    no_longer_asked: list[str] = []
    for issue in issues:
        item = _item_of(issue.pointer)
        sent = patch.get(item) is not None
        if item not in merged:  # only a missing required answer is reported at an item left unanswered
            remedy = "answers_patch removes it with null; send a value instead" if item in stored else None
            detail = f"{issue.message}: {remedy or 'add it to answers_patch'}"
        elif issue.message == NOT_ASKED and item in stored:
            no_longer_asked.append(item)
            where = "answered in the amended revision, but no longer asked" if not sent else "not asked"
            detail = f'{where} given the other answers (enable_when): send "{item}": null to remove it'
        elif sent:
            detail = issue.message
        else:
            detail = (
                f"carried over from the amended revision: {issue.message}; "
                f'send "{item}" with a new value, or null to remove it'
            )
        errors.append(FieldError(pointer=PATCH + issue.pointer, detail=detail))
    count = f"{len(errors)} answer{'s are' if len(errors) != 1 else ' is'} invalid"
    detail = f"{count} once answers_patch is applied to the amended revision's answers"
    if no_longer_asked:
        detail += f"; answered but no longer asked: {', '.join(no_longer_asked)} (send each as null to remove it)"
    return ValidationFailed(detail, errors=errors)
