"""The printable case-file summary: one self-contained HTML page (inline CSS, no external assets), rendered from
templates/report.html with autoescaping. Times are shown in UK local time with the zone (GMT or BST)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from app.core.security_headers import source_hash

# The heading is the title of the assessment's rule set; this one stands in only when that version cannot be read.
HEADING = "Online-risk assessment"
MAX_DECIMALS = 18  # a stored score's declared decimals beyond this (the language allows 6) show the stored integer
LONDON = ZoneInfo("Europe/London")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
URGENCY = {"now": "Now", "same_day": "Same day", "within_week": "Within a week", "routine": "Routine"}

# The one stylesheet, inserted verbatim: the policy's hash is of exactly these bytes.
CSS = resources.files(__package__).joinpath("templates", "report.css").read_text(encoding="utf-8")

# The page runs no script and loads nothing: its one inline stylesheet is allowed by hash, everything else refused.
CSP = (
    f"default-src 'none'; style-src {source_hash(CSS.encode())}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Labels:
    """What the report shows in place of ids, from the assessment's own questionnaire and rule-set versions: the
    rule set's title (the page's heading), a level's label and description, an item's question, a score's title,
    an action's detail, and the reason of a rule whose stored text names items by id (`{items}`, the
    unknown-answers rule), by rule id. An id missing here is shown as it is (a level: its label from the read)."""

    title: str = HEADING
    levels: Mapping[str, str] = field(default_factory=dict)
    level_descriptions: Mapping[str, str] = field(default_factory=dict)
    items: Mapping[str, str] = field(default_factory=dict)
    scores: Mapping[str, str] = field(default_factory=dict)
    actions: Mapping[str, str] = field(default_factory=dict)
    item_reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Superseding:
    """The revision that superseded the one reported."""

    id: str
    created_at: datetime


def _as_datetime(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def london(value: datetime | str) -> str:
    """A time in UK local time with its zone, to the minute: `7 December 2026, 09:14 GMT`, `1 July 2026, 10:14 BST`."""
    local = _as_datetime(value).astimezone(LONDON)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M} {local.tzname()}"


def scaled(value: int, decimals: object = 0) -> str:
    """A score as the result stores it, shown with its declared decimal places: 235 with 2 is `2.35`."""
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 < decimals <= MAX_DECIMALS:
        return str(value)
    return f"{Decimal(value).scaleb(-decimals):.{decimals}f}"


def count_of(number: int, noun: str) -> str:
    """`1 point`, `2 points`, `-1 point`, `0 points`."""
    return f"{number} {noun if abs(number) == 1 else noun + 's'}"


def _reason_text(reason: Mapping[str, Any], labels: Labels) -> str:
    """A reason's text, with the items it names by id (`{items}`) named by their questions instead, when the stored
    text is the rule's reason filled in with those ids; otherwise the stored text as it is."""
    text: str = reason["text"] or reason["rule_id"]
    template = labels.item_reasons.get(reason["rule_id"])
    items = reason["items"]
    if template is None or template.replace("{items}", ", ".join(items)) != text:
        return text
    return template.replace("{items}", ", ".join(f'"{labels.items.get(i, i)}"' for i in items))


_ENVIRONMENT = Environment(
    loader=PackageLoader(__package__, "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENVIRONMENT.filters["london"] = london
_ENVIRONMENT.filters["count_of"] = count_of
_ENVIRONMENT.filters["scaled"] = scaled
_TEMPLATE = _ENVIRONMENT.get_template("report.html")


def render_report(view: dict[str, Any], labels: Labels | None = None, superseded_by: Superseding | None = None) -> str:
    """The report of one assessment: `view` is its read model as JSON (what `GET /v1/assessments/{id}` returns).
    A result stored before score bands, decimals and notices existed reads as having none."""
    overrides = view.get("overrides") or []
    labels = labels or Labels()
    levels = {
        **{view[k]: view[f"{k}_label"] for k in ("level", "computed_level") if view.get(f"{k}_label")},
        **labels.levels,
    }
    return _TEMPLATE.render(
        heading=labels.title,
        css=Markup(CSS),  # noqa: S704 - our own stylesheet, not data; escaping it would change its hash
        a=view,
        labels=labels,
        level_name=lambda level: levels.get(level, level),
        notices=view.get("notices") or [],
        score_bands=view.get("score_bands") or {},
        score_decimals=view.get("score_decimals") or {},
        # A trigger's reason is shown with the trigger, once.
        reasons=[
            {**reason, "text": _reason_text(reason, labels)}
            for reason in view["reasons"]
            if reason["rule_id"] not in {trigger["id"] for trigger in view["triggers"]}
        ],
        error=view.get("entered_in_error"),
        superseded=superseded_by,
        level_at=overrides[-1]["created_at"] if overrides else view["created_at"],
        urgency=URGENCY,
    )
