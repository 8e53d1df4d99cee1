"""Render a questionnaire and the rule set that targets it as readable Markdown.

Works on the parsed documents (plain mappings), not on engine objects, so that what a safeguarding lead reads is
exactly what the files say. The output is deterministic: document order is kept, and the only derived index
(sources) is sorted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Doc = Mapping[str, Any]

TYPE_WORDS = {
    "yes_no_unknown": "yes / no / unknown",
    "boolean": "true / false",
    "single_choice": "one choice",
    "multi_choice": "one or more choices",
    "integer": "whole number",
    "date": "date (YYYY-MM-DD)",
    "text": "free text",
}
URGENCY_WORDS = {
    "now": "now",
    "same_day": "same day",
    "within_week": "within a week",
    "routine": "routine",
}
COMPARISON_WORDS = {
    "eq": "is",
    "ne": "is not",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is more than",
    "gte": "is at least",
}


# --- small helpers ----------------------------------------------------------------------------------------


def _cell(text: object) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _para(text: object) -> str:
    return " ".join(str(text).split())


def _code(value: object) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def _codes(values: Iterable[object], joiner: str = ", ") -> str:
    return joiner.join(_code(v) for v in values)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return lines


def _actions(ids: Iterable[str]) -> str:
    ids = list(ids)
    return _codes(ids) if ids else "none"


# --- conditions in words ----------------------------------------------------------------------------------


def _leaf_words(cond: Doc) -> str:
    if "q" in cond:
        subject = _code(cond["q"])
        ops = {k: v for k, v in cond.items() if k != "q"}
    elif "score" in cond:
        subject = f"score {_code(cond['score'])}"
        ops = {k: v for k, v in cond.items() if k != "score"}
    else:
        unit = "days" if "days_between" in cond else "years"
        span = cond.get("days_between") or cond.get("years_between") or {}
        subject = f"the whole {unit} from {_code(span.get('from'))} to {_code(span.get('to'))}"
        ops = {k: v for k, v in cond.items() if k not in ("days_between", "years_between")}
    parts = []
    for op, value in ops.items():
        if op in COMPARISON_WORDS:
            parts.append(f"{subject} {COMPARISON_WORDS[op]} {_code(value)}")
        elif op == "in":
            parts.append(f"{subject} is one of {_codes(value)}")
        elif op == "not_in":
            parts.append(f"{subject} is none of {_codes(value)}")
        elif op == "between":
            parts.append(f"{subject} is between {_code(value[0])} and {_code(value[1])}")
        elif op == "answered":
            parts.append(f"{subject} is answered")
        elif op == "unanswered":
            parts.append(f"{subject} is not answered")
        elif op == "is_unknown":
            parts.append(f'{subject} is answered "unknown"')
        elif op == "contains":
            parts.append(f"{subject} includes {_code(value)}")
        elif op == "contains_any":
            parts.append(f"{subject} includes any of {_codes(value)}")
        else:
            parts.append(f"{subject} {op} {_code(value)}")
    return " and ".join(parts)


def _is_group(cond: Doc) -> bool:
    return any(key in cond for key in ("all", "any", "not", "at_least"))


def condition_words(cond: Doc) -> str:
    """A condition as one line of text (groups in brackets)."""
    if "all" in cond:
        return " and ".join(_wrapped(c) for c in cond["all"])
    if "any" in cond:
        return " or ".join(_wrapped(c) for c in cond["any"])
    if "not" in cond:
        return f"not ({condition_words(cond['not'])})"
    if "at_least" in cond:
        return f"at least {cond['at_least']} of ({'; '.join(condition_words(c) for c in cond['of'])})"
    return _leaf_words(cond)


def _wrapped(cond: Doc) -> str:
    text = condition_words(cond)
    return f"({text})" if _is_group(cond) else text


def condition_lines(cond: Doc, indent: int = 0) -> list[str]:
    """A condition as a nested Markdown bullet list (one bullet per leaf, one level per group)."""
    pad = "  " * indent
    if "all" in cond or "any" in cond:
        key = "all" if "all" in cond else "any"
        head = "all of:" if key == "all" else "any of:"
        lines = [f"{pad}- {head}"]
        for child in cond[key]:
            lines.extend(condition_lines(child, indent + 1))
        return lines
    if "at_least" in cond:
        lines = [f"{pad}- at least {cond['at_least']} of:"]
        for child in cond["of"]:
            lines.extend(condition_lines(child, indent + 1))
        return lines
    if "not" in cond:
        return [f"{pad}- not:", *condition_lines(cond["not"], indent + 1)]
    return [f"{pad}- {_leaf_words(cond)}"]


# --- questionnaire ----------------------------------------------------------------------------------------


def _item_lines(item: Doc) -> list[str]:
    lines = [f"#### {_code(item['id'])}: {_para(item['question'])}", ""]
    kind = item["type"]
    facts = [f"**Answer:** {TYPE_WORDS.get(kind, kind)}"]
    if kind == "integer" and ("min" in item or "max" in item):
        facts.append(f"from {item.get('min', '…')} to {item.get('max', '…')}")
    if kind == "text":
        facts.append(f"up to {item.get('max_length', 2000)} characters")
    if item.get("allow_unknown"):
        facts.append('"unknown" allowed')
    if item.get("required"):
        facts.append("**required**")
    elif "required_when" not in item:
        facts.append("optional")
    lines.append("- " + "; ".join(facts))
    if "enable_when" in item:
        lines.append(f"- **Asked only when** {condition_words(item['enable_when'])}")
    if "required_when" in item:
        lines.append(f"- **Required when** {condition_words(item['required_when'])}")
    if item.get("options"):
        options = "; ".join(f"{_code(o['code'])} {_para(o['label'])}" for o in item["options"])
        lines.append(f"- **Options:** {options}")
    if item.get("help"):
        lines.append(f"- **Guidance:** {_para(item['help'])}")
    lines.append("")
    return lines


def _questionnaire_lines(q: Doc) -> list[str]:
    items = list(q["items"])
    lines = [
        f"## Questionnaire: {_para(q['title'])} (`{q['key']}` version {q['version']})",
        "",
    ]
    if q.get("description"):
        lines += [_para(q["description"]), ""]
    lines += [f"{len(items)} questions in {len(q['sections'])} sections.", ""]
    for section in q["sections"]:
        in_section = [i for i in items if i["section"] == section["id"]]
        lines += [f"### {_para(section['title'])} (`{section['id']}`, {len(in_section)} questions)", ""]
        if section.get("description"):
            lines += [_para(section["description"]), ""]
        for item in in_section:
            lines += _item_lines(item)
    return lines


# --- rule set ---------------------------------------------------------------------------------------------


def _rule_block(rule: Doc, heading: str) -> list[str]:
    title = f": {_para(rule['title'])}" if rule.get("title") else ""
    lines = [f"{heading} {_code(rule['id'])}{title}", ""]
    if "level" in rule:
        lines.append(f"- **Level:** at least {_code(rule['level'])}")
    if "levels" in rule:
        lines.append(f"- **Only at levels:** {_codes(rule['levels'])}")
    lines.append("- **When:**")
    lines += condition_lines(rule["when"], 1)
    if rule.get("reason"):
        lines.append(f"- **Reason:** {_para(rule['reason'])}")
    if rule.get("source"):
        lines.append(f"- **Source:** {rule['source']}")
    lines.append(f"- **Actions:** {_actions(rule.get('actions', []))}")
    lines.append("")
    return lines


def _term_row(term: Doc) -> list[object]:
    if "points" in term:
        when = f"answer to `{term['q']}`"
        points = ", ".join(f"{code} {pts}" for code, pts in term["points"].items())
    elif "score" in term:
        when = f"score `{term['score']}`"
        points = f"× {term.get('times', 1)}"
    else:
        when = condition_words(term["when"])
        points = str(term["add"])
    return [f"`{term['id']}`", when, points, term.get("reason", ""), term.get("source", "")]


def _score_lines(score: Doc) -> list[str]:
    purpose = score.get("purpose", "level")
    title = f": {_para(score['title'])}" if score.get("title") else ""
    lines = [f"### Score {_code(score['id'])}{title}", ""]
    if purpose == "reporting":
        lines += ["Reported only: it does not set the level and gives no reasons of its own.", ""]
    else:
        lines += ["Sets the level through the bands below; every term that counts is listed as a reason.", ""]
    if "subtotal_of" in score:
        lines += [
            f"The part of score {_code(score['subtotal_of'])} that comes from these questions: "
            f"{_codes(score['items'])}.",
            "",
        ]
        return lines
    lines += _table(["term", "when", "points", "reason", "source"], (_term_row(t) for t in score["terms"]))
    lines.append("")
    return lines


def _risk_order_lines(rs: Doc) -> list[str]:
    orders = rs.get("risk_order", {})
    default_yn = [item for item, order in orders.items() if order == ["no", "yes"]]
    other = {item: order for item, order in orders.items() if order != ["no", "yes"]}
    unknown_note = (
        "`unknown` sits outside every order and is handled only by the gap rule, except on the questions whose "
        '"unknown" the rules read as the most concerning answer (see below), where it sits at the top.'
        if rs.get("unknown_reads_as")
        else "`unknown` sits outside every order and is handled only by the gap rule."
    )
    lines = [
        "### Risk order (for the monotonicity proof)",
        "",
        "A more concerning answer can never lower the level. Each scored or rule-read question has an order from "
        f"least to most concerning; {unknown_note}",
        "",
    ]
    rows = []
    for item, order in other.items():
        if order == "falling":
            rows.append([f"`{item}`", "lower numbers are more concerning"])
        elif order == "rising":
            rows.append([f"`{item}`", "higher numbers are more concerning"])
        else:
            rows.append([f"`{item}`", " < ".join(f"`{code}`" for code in order)])
    lines += _table(["question", "order (least → most concerning)"], rows)
    if default_yn:
        lines += ["", f"`no` < `yes` for: {_codes(default_yn)}."]
    lines.append("")
    return lines


def _bands_lines(rs: Doc) -> list[str]:
    rows = []
    for band in rs.get("bands", []):
        lt = band.get("lt")
        span = f"{band['gte']} to {lt - 1}" if lt is not None else f"{band['gte']} or more"
        rows.append(
            [
                f"`{band['id']}`" if band.get("id") else "",
                f"`{band['score']}`",
                span,
                f"`{band['level']}`",
                band.get("reason", ""),
                _actions(band.get("actions", [])),
            ]
        )
    return ["### Bands", "", *_table(["band", "score", "range", "level", "reason", "actions"], rows), ""]


def _level_lines(rs: Doc) -> list[str]:
    labels = rs.get("level_labels", {})
    rows = [
        [
            _code(level),
            labels.get(level, {}).get("label", _default_label(level)),
            labels.get(level, {}).get("description", ""),
        ]
        for level in rs["levels"]
    ]
    return ["## Levels", "", "Least to most concerning.", "", *_table(["level", "label", "meaning"], rows), ""]


def _default_label(level: str) -> str:
    """The label of a level without one in `level_labels`: its id with spaces, first letter upper case."""
    words = level.replace("_", " ")
    return words[:1].upper() + words[1:]


def _unknown_reading_lines(rs: Doc, questionnaire: Doc) -> list[str]:
    readings = rs.get("unknown_reads_as", {})
    if not readings:
        return []
    items = {item["id"]: item for item in questionnaire.get("items", [])}
    rows = []
    for item_id, reading in readings.items():
        order = rs.get("risk_order", {}).get(item_id)
        item = items.get(item_id, {})
        if order == "falling":
            value = f"the lowest allowed value, {_code(item.get('min'))}"
        elif order == "rising":
            value = f"the highest allowed value, {_code(item.get('max'))}"
        elif isinstance(order, list) and order:
            value = _code(order[-1])
        else:
            value = "the most concerning answer"
        rows.append([_code(item_id), reading.replace("_", " "), value])
    return [
        "## Unknown answers read as the most concerning",
        "",
        "On these questions every rule (score terms, bands, triggers, floors and conditional actions) reads the "
        'answer "unknown" as the most concerning answer. The question is still listed as an information gap, and '
        'the gap rule and the questionnaire\'s own conditions still see "unknown".',
        "",
        *_table(["question", "reading", "rules read it as"], rows),
        "",
    ]


def _jurisdiction_lines(rs: Doc, questionnaire: Doc) -> list[str]:
    jurisdictions = rs.get("jurisdictions")
    if not jurisdictions:
        return []
    item: Doc = next((i for i in questionnaire.get("items", []) if i["id"] == jurisdictions["item"]), {})
    labels = {o["code"]: o["label"] for o in item.get("options", [])}
    inside = ", ".join(f"{_code(code)} ({labels.get(code, code)})" for code in jurisdictions["codes"])
    outside = [code for code in labels if code not in jurisdictions["codes"] and code != "unknown"]
    lines = [
        "## Jurisdictions",
        "",
        f"The actions follow the procedures of: {inside}. When {_code(jurisdictions['item'])} is answered "
        + (f"{_codes(outside, ' or ')}" if outside else "with another code")
        + ', the result carries the notice `jurisdiction_outside_ruleset`, shown first; unanswered or "unknown", '
        "no notice. The notice changes nothing else in the result.",
        "",
    ]
    if jurisdictions.get("notice"):
        lines += [
            f"- **Notice:** {_para(jurisdictions['notice'])}"
            + (
                " (`{answer}` is replaced by the label of the answer given.)"
                if "{answer}" in jurisdictions["notice"]
                else ""
            ),
            "",
        ]
    return lines


def _changes_lines(rs: Doc) -> list[str]:
    if not rs.get("changelog"):
        return []
    return ["## Changes", "", *(f"- {_para(entry)}" for entry in rs["changelog"]), ""]


def _gap_lines(rs: Doc) -> list[str]:
    gap = rs.get("unknown_answers")
    if not gap:
        return []
    items = gap.get("items")
    which = _codes(items) if items else "every question a trigger reads"
    return [
        "## Unknown answers (gap rule)",
        "",
        f'An answer of "unknown" never fires a rule that needs "yes". It is listed as an information gap, and on '
        f"any of these questions it makes the level at least {_code(gap['level'])}: {which}.",
        "",
        f"- **Reason:** {_para(gap['reason'])}"
        + (" (`{items}` is replaced by the questions concerned.)" if "{items}" in gap["reason"] else ""),
        f"- **Source:** {gap.get('source', '')}",
        f"- **Actions:** {_actions(gap.get('actions', []))}",
        "",
    ]


def _level_policy_lines(rs: Doc) -> list[str]:
    catalogue = {a["id"]: a for a in rs.get("actions", [])}
    lines = ["## Actions recommended at each level", ""]
    for level in rs["levels"]:
        policy = rs.get("level_policies", {}).get(level, {})
        days = policy.get("review_within_days")
        review = f"review within {days} day{'s' if days != 1 else ''}" if days is not None else "no fixed review date"
        label = rs.get("level_labels", {}).get(level, {}).get("label", _default_label(level))
        lines += [f"### {_code(level)}: {_para(label)} ({review})", ""]
        for action_id in policy.get("actions", []):
            action = catalogue.get(action_id, {})
            urgency = URGENCY_WORDS.get(action.get("urgency", ""), action.get("urgency", ""))
            lines.append(f"- {_code(action_id)}: {_para(action.get('title', ''))} ({urgency})")
        lines.append("")
    return lines


def _catalogue_lines(rs: Doc) -> list[str]:
    rows = [
        [
            f"`{a['id']}`",
            a["title"],
            a["who"],
            URGENCY_WORDS.get(a["urgency"], a["urgency"]),
            a.get("detail", ""),
            a.get("source", ""),
        ]
        for a in rs.get("actions", [])
    ]
    return [
        "## Actions catalogue",
        "",
        "In a result, actions are sorted by urgency (now, same day, within a week, routine), then in this order.",
        "",
        *_table(["id", "title", "who", "urgency", "detail", "source"], rows),
        "",
    ]


def _listed(values: Sequence[object] | None) -> str:
    """A list an expectation states: its codes, "none" for an empty list, blank when not stated."""
    if values is None:
        return ""
    return _codes(values) if values else "none"


def _tests_lines(rs: Doc) -> list[str]:
    rows = []
    for test in rs.get("tests", []):
        expect = test.get("expect", {})
        gaps = _listed(expect.get("information_gaps"))
        if expect.get("information_gaps_include"):
            gaps = f"at least {_codes(expect['information_gaps_include'])}"
        rows.append(
            [
                test["name"],
                f"`{expect['level']}`" if expect.get("level") else "",
                _listed(expect.get("triggers")),
                ", ".join(f"{k} {v}" for k, v in expect.get("scores", {}).items()),
                gaps,
                _listed(expect.get("notices")),
                _listed(expect.get("actions_exclude")),
            ]
        )
    return [
        "## Embedded tests",
        "",
        f"{len(rows)} cases that must pass before this version can be published. Besides the level, triggers and "
        "scores shown here, a case may require floors, actions and reasons; it may state the information gaps and "
        "notices exactly, and the actions that must **not** be recommended.",
        "",
        *_table(["case", "level", "triggers", "scores", "information gaps", "notices", "must not recommend"], rows),
        "",
    ]


def _source_key(tag: str) -> tuple[int, str]:
    match = re.match(r"S(\d+)", tag)
    return (int(match.group(1)), tag) if match else (10**6, tag)


def _sources_lines(rs: Doc) -> list[str]:
    cited: dict[str, list[str]] = {}

    def note(source: object, rule_id: str) -> None:
        for tag in re.findall(r"S\d+[a-z]?", str(source or "")):
            cited.setdefault(tag, [])
            if rule_id not in cited[tag]:
                cited[tag].append(rule_id)

    for score in rs.get("scores", []):
        for term in score.get("terms") or []:
            note(term.get("source"), term["id"])
    for n, band in enumerate(rs.get("bands", [])):
        note(band.get("source"), band.get("id") or f"{band['score']}_band_{n}")
    for kind in ("triggers", "floors", "action_rules"):
        for rule in rs.get(kind, []):
            note(rule.get("source"), rule["id"])
    if rs.get("unknown_answers"):
        note(rs["unknown_answers"].get("source"), "unknown_answers")
    for action in rs.get("actions", []):
        note(action.get("source"), action["id"])
    titles = _source_titles(rs.get("source"))
    tags = sorted(set(cited) | set(titles), key=_source_key)
    rows = [[tag, titles.get(tag, ""), _codes(cited.get(tag, [])) or "none"] for tag in tags]
    return [
        "## Sources",
        "",
        "Each tag, what it refers to (from the rule set's own source list), and the rules and actions that cite it.",
        "",
        *_table(["tag", "source", "cited by"], rows),
        "",
    ]


def _source_titles(source: object) -> dict[str, str]:
    """The rule set's `source` field read as one `S<n> title` per line (other lines are ignored)."""
    titles: dict[str, str] = {}
    for line in str(source or "").splitlines():
        match = re.match(r"\s*(S\d+[a-z]?)\s+(.+)", line)
        if match:
            titles[match.group(1)] = match.group(2).strip()
    return titles


def _ruleset_lines(rs: Doc, questionnaire: Doc) -> list[str]:
    ref = rs["questionnaire"]
    lines = [
        f"## Rule set: {_para(rs['title'])} (`{rs['key']}` version {rs['version']})",
        "",
    ]
    if rs.get("description"):
        lines += [_para(rs["description"]), ""]
    lines += [
        f"- **Questionnaire:** `{ref['key']}` version {ref['version']}",
        f"- **Levels** (least to most concerning): {_codes(rs['levels'])}",
        f"- **Overrides after an assessment:** `{rs.get('override_policy', 'raise_only')}`",
        f"- **Declared monotone:** {'yes' if rs.get('monotone') else 'no'}",
    ]
    if rs.get("protective_factors"):
        lines.append(f"- **Protective factors** (reported, never scored): {_codes(rs['protective_factors'])}")
    lines += [
        "",
        "**How the level is decided.** The computed level is the highest of: the lowest level, the band of each "
        "banded score, every trigger that fires, every floor that applies, and the gap rule. Nothing lowers it.",
        "",
    ]
    lines += _changes_lines(rs)
    lines += _level_lines(rs)
    lines += _jurisdiction_lines(rs, questionnaire)
    lines += _risk_order_lines(rs)
    lines += _unknown_reading_lines(rs, questionnaire)
    lines += ["## Escalation triggers", ""]
    for rule in rs.get("triggers", []):
        lines += _rule_block(rule, "###")
    lines += ["## Scores", ""]
    for score in rs.get("scores", []):
        lines += _score_lines(score)
    lines += _bands_lines(rs)
    lines += ["## Floors", ""]
    for rule in rs.get("floors", []):
        lines += _rule_block(rule, "###")
    lines += _gap_lines(rs)
    lines += _level_policy_lines(rs)
    lines += ["## Conditional actions", ""]
    for rule in rs.get("action_rules", []):
        lines += _rule_block(rule, "###")
    lines += _catalogue_lines(rs)
    lines += _tests_lines(rs)
    lines += _sources_lines(rs)
    return lines


def describe_markdown(questionnaire_doc: Doc, ruleset_doc: Doc) -> str:
    """Readable Markdown for a questionnaire and a rule set that targets it."""
    q, rs = questionnaire_doc, ruleset_doc
    lines = [
        f"# Default content: `{q['key']}` v{q['version']} and `{rs['key']}` v{rs['version']}",
        "",
        "<!-- Generated from app/content/*.yaml by `riskapi rules describe`; do not edit by hand. -->",
        "",
        f"> {_para(rs['disclaimer'])}",
        "",
    ]
    lines += _questionnaire_lines(q)
    lines += _ruleset_lines(rs, q)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
