"""Readable differences between two versions of a document (pure: dictionaries in, lines out)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from app.content_versions.schemas import DiffEntry

Change = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class DiffLine:
    kind: str
    id: str
    change: Change
    summary: str
    before: Any = None
    after: Any = None

    @property
    def model(self) -> DiffEntry:
        return DiffEntry(kind=self.kind, id=self.id, change=self.change, before=self.before, after=self.after)


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 120 else text[:117] + "..."


def by_id(entries: Iterable[Any], field: str = "id") -> dict[str, dict[str, Any]]:
    return {str(e[field]): e for e in entries if isinstance(e, dict) and field in e}


def changed_fields(before: dict[str, Any], after: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    return [f for f in dict.fromkeys([*before, *after]) if f not in ignore and before.get(f) != after.get(f)]


def diff_collection(
    kind: str,
    label: str,
    before: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
    ignore: tuple[str, ...] = (),
) -> list[DiffLine]:
    """Added, removed and changed entries (one line per changed field) of two id -> entry maps."""
    lines: list[DiffLine] = []
    for entry_id, entry in after.items():
        if entry_id not in before:
            lines.append(DiffLine(kind, entry_id, "added", f"{label} '{entry_id}' added", after=entry))
    for entry_id, entry in before.items():
        if entry_id not in after:
            lines.append(DiffLine(kind, entry_id, "removed", f"{label} '{entry_id}' removed", before=entry))
    for entry_id, old in before.items():
        new = after.get(entry_id)
        if new is None:
            continue
        for name in changed_fields(old, new, ignore):
            lines.append(
                DiffLine(
                    kind,
                    entry_id,
                    "changed",
                    f"{label} '{entry_id}': {name} changed from {show(old.get(name))} to {show(new.get(name))}",
                    before={name: old.get(name)},
                    after={name: new.get(name)},
                )
            )
    return lines


def diff_scalar(kind: str, label: str, before: Any, after: Any) -> list[DiffLine]:
    if before == after:
        return []
    return [DiffLine(kind, kind, "changed", f"{label} changed from {show(before)} to {show(after)}", before, after)]
