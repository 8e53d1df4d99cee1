"""Readable differences between two rule-set documents: rules, weights, bands, actions, levels, tests."""

from __future__ import annotations

from typing import Any

from app.content_versions.diff import Change, DiffLine, by_id, changed_fields, diff_collection, diff_scalar, show


def _bands(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Bands by id, or by the engine's default id `<score>_band_<n>` (n counts within the score from 1)."""
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for band in document.get("bands", []):
        score = str(band.get("score"))
        seen[score] = seen.get(score, 0) + 1
        out[str(band.get("id") or f"{score}_band_{seen[score]}")] = band
    return out


def _terms(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every term of every score, as `<score>/<term>`."""
    return {
        f"{score.get('id')}/{term_id}": term
        for score in document.get("scores", [])
        for term_id, term in by_id(score.get("terms") or []).items()
    }


def _term_lines(before: dict[str, Any], after: dict[str, Any]) -> list[DiffLine]:
    old, new = _terms(before), _terms(after)
    lines: list[DiffLine] = []
    for term_id, term in new.items():
        if term_id not in old:
            score, name = term_id.split("/", 1)
            lines.append(DiffLine("rule", term_id, "added", f"rule '{name}' added to score '{score}'", after=term))
    for term_id, term in old.items():
        if term_id not in new:
            score, name = term_id.split("/", 1)
            lines.append(DiffLine("rule", term_id, "removed", f"rule '{name}' removed from score '{score}'", term))
    for term_id, term in old.items():
        changed = new.get(term_id)
        if changed is None:
            continue
        score, name = term_id.split("/", 1)
        for field in changed_fields(term, changed):
            kind = "weight" if field in ("add", "points", "times") else "rule"
            what = "weight" if kind == "weight" else field
            lines.append(
                DiffLine(
                    kind,
                    term_id,
                    "changed",
                    f"{what} of rule '{name}' in score '{score}' changed from {show(term.get(field))} to "
                    f"{show(changed.get(field))}",
                    before={field: term.get(field)},
                    after={field: changed.get(field)},
                )
            )
    return lines


def diff_rulesets(before: dict[str, Any], after: dict[str, Any]) -> list[DiffLine]:
    lines: list[DiffLine] = []
    for field, label in (
        ("title", "title"),
        ("questionnaire", "target questionnaire"),
        ("levels", "levels"),
        ("monotone", "monotone"),
        ("override_policy", "override policy"),
        ("disclaimer", "disclaimer"),
        ("unknown_answers", "gap rule (unknown answers)"),
    ):
        lines += diff_scalar(field, label, before.get(field), after.get(field))
    lines += diff_collection("action", "action", by_id(before.get("actions", [])), by_id(after.get("actions", [])))
    lines += diff_collection(
        "score", "score", by_id(before.get("scores", [])), by_id(after.get("scores", [])), ignore=("terms",)
    )
    lines += _term_lines(before, after)
    lines += diff_collection("band", "band", _bands(before), _bands(after))
    for kind in ("triggers", "floors", "action_rules"):
        label = kind[:-1].replace("_", " ")
        lines += diff_collection(kind[:-1], label, by_id(before.get(kind, [])), by_id(after.get(kind, [])))
    lines += diff_collection(
        "level_policy", "level policy", before.get("level_policies", {}), after.get("level_policies", {})
    )
    old_order, new_order = before.get("risk_order", {}), after.get("risk_order", {})
    for item in dict.fromkeys([*old_order, *new_order]):
        was, now = old_order.get(item), new_order.get(item)
        if was == now:
            continue
        change: Change = "added" if was is None else "removed" if now is None else "changed"
        summary = f"risk order of item '{item}' {change}: {show(was)} -> {show(now)}"
        lines.append(DiffLine("risk_order", item, change, summary, was, now))
    old_pf, new_pf = before.get("protective_factors", []), after.get("protective_factors", [])
    lines += [
        DiffLine("protective_factor", i, "added", f"protective factor '{i}' added", after=i)
        for i in new_pf
        if i not in old_pf
    ]
    lines += [
        DiffLine("protective_factor", i, "removed", f"protective factor '{i}' removed", before=i)
        for i in old_pf
        if i not in new_pf
    ]
    lines += diff_collection(
        "test", "test", by_id(before.get("tests", []), "name"), by_id(after.get("tests", []), "name")
    )
    return lines
