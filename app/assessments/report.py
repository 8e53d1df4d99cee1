"""The printable case-file summary: one self-contained HTML page (inline CSS, no external assets)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from app.core.security_headers import source_hash

CSS = """
:root { color-scheme: light; }
body { font: 11pt/1.45 Georgia, 'Times New Roman', serif; color: #000; background: #fff; margin: 2rem auto;
       max-width: 48rem; padding: 0 1rem; }
h1 { font-size: 18pt; margin: 0 0 .25rem; }
h2 { font-size: 13pt; border-bottom: 1px solid #000; margin: 1.4rem 0 .5rem; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .25rem .5rem .25rem 0; border-bottom: 1px solid #999; }
th { width: 30%; font-weight: bold; }
.level { font-size: 16pt; font-weight: bold; border: 2px solid #000; padding: .4rem .8rem; display: inline-block; }
.muted { color: #333; font-size: 9.5pt; }
.disclaimer { border: 1px solid #000; padding: .5rem .75rem; margin-top: 1.5rem; }
ul { padding-left: 1.2rem; margin: .25rem 0; }
li { margin: .2rem 0; page-break-inside: avoid; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  @page { size: A4; margin: 18mm 16mm; }
  a { color: #000; text-decoration: none; }
  h2, tr, li { page-break-inside: avoid; }
}
"""

# The page runs no script and loads nothing: its one inline stylesheet is allowed by hash, everything else refused.
CSP = (
    f"default-src 'none'; style-src {source_hash(CSS.encode())}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

URGENCY = {"now": "Now", "same_day": "Same day", "within_week": "Within a week", "routine": "Routine"}


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _list(items: Iterable[str], empty: str) -> str:
    rendered = [f"<li>{item}</li>" for item in items]
    return f"<ul>{''.join(rendered)}</ul>" if rendered else f"<p>{_e(empty)}</p>"


def render_report(view: dict[str, Any]) -> str:
    error = view.get("entered_in_error")
    overrides = view.get("overrides") or []
    rows = [
        ("Assessment id", view["id"]),
        ("Case reference", view["subject_ref"]),
        ("Created (UTC)", view["created_at"]),
        ("Assessed by", f"{view['acting_user']} (system {view['client']})"),
        ("Review by", view.get("review_by") or "No review date set"),
        ("Computed level", view["computed_level"]),
        ("Questionnaire", f"{view['questionnaire']['key']} version {view['questionnaire']['version']}"),
        ("Rule set", f"{view['ruleset']['key']} version {view['ruleset']['version']}"),
        ("Rule-set content hash", view["ruleset"]["content_hash"]),
        ("Engine", view["engine_version"]),
        ("Supersedes", view.get("supersedes") or "-"),
        ("Superseded by", view.get("superseded_by") or "- (latest revision)"),
    ]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    triggers = _list(
        (
            f"<strong>{_e(t['title'] or t['id'])}</strong>: {_e(t['reason'])} "
            f"<span class='muted'>[{_e(t['source'])}]</span>"
            for t in view["triggers"]
        ),
        "No immediate-referral trigger fired.",
    )
    reasons = _list(
        (
            f"{_e(r['text'])}"
            + (f" <span class='muted'>({r['points']} points)</span>" if r["points"] else "")
            + (f" <span class='muted'>[{_e(r['source'])}]</span>" if r.get("source") else "")
            for r in view["reasons"]
        ),
        "No reasons recorded.",
    )
    actions = _list(
        (
            f"<strong>{_e(URGENCY.get(a['urgency'], a['urgency']))}</strong>: {_e(a['title'])}"
            + (f" <span class='muted'>({_e(a['who'])})</span>" if a.get("who") else "")
            for a in view["actions"]
        ),
        "No actions recommended.",
    )
    support = _list(
        (f"{_e(a['title'])}" + (f" - {_e(a['who'])}" if a.get("who") else "") for a in view["actions"] if a.get("who")),
        "See the actions above.",
    )
    gaps = _list((_e(g) for g in view["information_gaps"]), "None.")
    protective = _list((_e(p) for p in view["protective_factors"]), "None recorded.")
    scores = ", ".join(f"{_e(k)}: {_e(v)}" for k, v in view["scores"].items())
    history = _list(
        (
            f"{_e(o['created_at'])}: {_e(o['previous_level'])} &rarr; <strong>{_e(o['level'])}</strong> by "
            f"{_e(o['acting_user'])}. Rationale: {_e(o['rationale'])}"
            for o in overrides
        ),
        "No overrides: the level is the computed level.",
    )
    banner = (
        f"<p class='disclaimer'><strong>ENTERED IN ERROR</strong> on {_e(error['created_at'])} by "
        f"{_e(error['acting_user'])}: {_e(error['reason'])}</p>"
        if error
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Online-risk assessment {_e(view["id"])}</title>
<style>{CSS}</style></head>
<body>
<h1>Online-risk assessment</h1>
<p class="muted">Case file summary. Assessment {_e(view["id"])}.</p>
{banner}
<p>Risk level: <span class="level">{_e(view["level"].upper())}</span></p>
<h2>Details</h2><table>{table}</table>
<h2>Immediate-referral triggers</h2>{triggers}
<h2>Reasons</h2>{reasons}
<p class="muted">Scores: {scores}</p>
<h2>Recommended actions</h2>{actions}
<h2>Support routes</h2>{support}
<h2>Information gaps</h2>{gaps}
<h2>Protective factors</h2>{protective}
<h2>Override history</h2>{history}
<p class="disclaimer"><strong>Disclaimer.</strong> {_e(view["disclaimer"])}</p>
</body></html>
"""
