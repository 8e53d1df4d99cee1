"""JSON Merge Patch (RFC 7396): the algorithm of its section 2, on parsed JSON values."""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with `patch` applied; neither is modified, and the result shares unchanged values with `target`.

    An object patch sets each member it names (merged recursively when the member is itself an object) and removes
    each member whose value is null; any other patch replaces the target whole. The work is one step per member of
    the patch, nested members included, plus one copy of each target object the patch descends into."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged
