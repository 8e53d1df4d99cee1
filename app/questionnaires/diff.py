"""Readable differences between two questionnaire versions (pure: dictionaries in, lines out)."""

from __future__ import annotations

from typing import Any

from app.content_versions.diff import DiffLine, by_id, diff_collection, diff_scalar


def diff_questionnaires(before: dict[str, Any], after: dict[str, Any]) -> list[DiffLine]:
    lines = diff_scalar("title", "title", before.get("title"), after.get("title"))
    lines += diff_collection("section", "section", by_id(before.get("sections", [])), by_id(after.get("sections", [])))
    old_items, new_items = by_id(before.get("items", [])), by_id(after.get("items", []))
    lines += diff_collection("item", "item", old_items, new_items, ignore=("options",))
    for item_id, old in old_items.items():
        new = new_items.get(item_id)
        if new is None:
            continue
        old_options, new_options = by_id(old.get("options") or [], "code"), by_id(new.get("options") or [], "code")
        lines += [
            DiffLine(
                "option",
                f"{item_id}/{line.id}",
                line.change,
                line.summary.replace("option '", f"option of item '{item_id}': '", 1),
                line.before,
                line.after,
            )
            for line in diff_collection("option", "option", old_options, new_options)
        ]
    return lines
