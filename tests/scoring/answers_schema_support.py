"""Comparing the service's verdict on a set of answers with the answers schema's, and answer sets to compare on.

The service's verdict is the path the API takes to record an assessment: the request-body limits (`check_document`,
default settings) on the body that carries the answers, then the compiled rule set's `evaluate` (the generated
check, falling back to `AnswerValidator`), then the assessments service's refusal of date answers after today, on
the fixed day TODAY (the answer sets' dates run from 1990 to 2030, so some fall after it). The schema's is
`jsonschema.Draft202012Validator` with format assertion on. Where they differ, `explained` names the permitted
disagreements (app/scoring/answers_schema.py) that account for it, after checking that each one really applies to
that answer set; None means the difference is a bug.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from app.assessments.service import dates_after_today
from app.content import default_documents
from app.core.errors import ProblemError
from app.core.json_guard import JsonLimits, check_document
from app.scoring import AnswerError, CompiledRuleSet, compile_ruleset, parse_questionnaire, parse_ruleset
from app.scoring.answers_schema import INEXACT_PRESENCE, PERMITTED_DISAGREEMENTS, answers_schema
from app.scoring.checker import items_read_by_triggers
from app.scoring.conditions import UNKNOWN, holds
from app.scoring.errors import Issue
from app.scoring.models import (
    BooleanItem,
    Condition,
    DateItem,
    IntegerItem,
    Item,
    MultiChoiceItem,
    SingleChoiceItem,
    TextItem,
    YesNoUnknownItem,
)
from app.scoring.requirements import MISSING, NOT_ASKED, TOO_FEW_ANSWERED, answered_at_least_of, item_requirements

LIMITS = JsonLimits()
TODAY = datetime.date(2026, 6, 1)
HANDLED = {"whole-number-with-fraction", "inexact-presence", "request-limits", "date-after-today"}
assert {d.id for d in PERMITTED_DISAGREEMENTS} == HANDLED, "every permitted disagreement needs its check here"


@dataclass
class Pair:
    """A compiled rule set with the answers schema of its questionnaire under it."""

    compiled: CompiledRuleSet
    schema: dict[str, Any] = field(init=False)
    validator: Draft202012Validator = field(init=False)
    items: dict[str, Item] = field(init=False)

    def __post_init__(self) -> None:
        ruleset = self.compiled.ruleset
        self.schema = answers_schema(
            self.compiled.questionnaire, items_read_by_triggers(ruleset), answered_at_least_of(ruleset)
        )
        Draft202012Validator.check_schema(self.schema)
        self.validator = Draft202012Validator(self.schema, format_checker=FormatChecker())
        self.items = {item.id: item for item in self.compiled.questionnaire.items}

    def schema_accepts(self, answers: object) -> bool:
        return bool(self.validator.is_valid(answers))

    def engine_issues(self, answers: object) -> list[Issue]:
        """The scoring engine's refusal, as the services call it (empty: accepted)."""
        try:
            self.compiled.evaluate(answers)
        except AnswerError as exc:
            issues = list(exc.issues)
        else:
            return []
        assert issues, "a refusal names its problems"
        return issues

    def late_dates(self, answers: dict[str, Any]) -> list[Issue]:
        """The assessments service's refusal of date answers after TODAY (empty: none)."""
        return dates_after_today(self.compiled.questionnaire, answers, TODAY)

    def service_accepts(self, answers: object) -> bool:
        if not within_request_limits(answers):
            return False
        if self.engine_issues(answers):
            return False
        return not (isinstance(answers, dict) and self.late_dates(answers))

    def explained(self, answers: dict[str, Any]) -> set[str] | None:
        """The permitted disagreements that account for the service refusing `answers` while the schema accepts
        them; None when they do not (nothing explains the schema refusing what the service accepts)."""
        if not self.schema_accepts(answers) or self.service_accepts(answers):
            return None
        reasons: set[str] = set()
        if not within_request_limits(answers):
            reasons.add("request-limits")
        fixed = dict(answers)
        for item_id, value in answers.items():
            if isinstance(self.items.get(item_id), IntegerItem) and type(value) is float and value.is_integer():
                fixed[item_id] = int(value)
                reasons.add("whole-number-with-fraction")
        inexact = self.schema[INEXACT_PRESENCE]
        issues = self.engine_issues(fixed)
        for issue in issues:
            item_id = issue.pointer.split("/")[1]
            presence = issue.message == NOT_ASKED or issue.message.startswith((MISSING, TOO_FEW_ANSWERED))
            if item_id not in inexact or not presence:
                return None
            reasons.add("inexact-presence")
        if self.late_dates(fixed):
            reasons.add("date-after-today")
        return reasons or None


def within_request_limits(answers: object) -> bool:
    try:
        check_document({"answers": answers}, LIMITS)
    except ProblemError:
        return False
    return True


def agreement(pair: Pair, answers: dict[str, Any]) -> tuple[bool, set[str]]:
    """(the service accepts, the permitted disagreements that apply); fails on an unexplained disagreement."""
    service, schema = pair.service_accepts(answers), pair.schema_accepts(answers)
    if service == schema:
        return service, set()
    reasons = pair.explained(answers)
    assert reasons, (
        f"the service {'accepts' if service else 'refuses'} and the schema "
        f"{'accepts' if schema else 'refuses'}:\n{json.dumps(answers, default=repr)[:3000]}\n"
        f"engine: {pair.engine_issues(answers)}\nschema: {[e.message for e in pair.validator.iter_errors(answers)][:5]}"
    )
    return service, reasons


# --- answer sets ------------------------------------------------------------------------------------------


def valid_values(item: Item) -> st.SearchStrategy[Any]:
    """Well-formed answers to `item`, "unknown" among them where it is allowed."""
    unknown: st.SearchStrategy[Any] = st.just(UNKNOWN)
    if isinstance(item, YesNoUnknownItem):
        return st.sampled_from(["yes", "no", UNKNOWN])
    if isinstance(item, BooleanItem):
        return st.booleans()
    if isinstance(item, SingleChoiceItem):
        return st.sampled_from([option.code for option in item.options])
    if isinstance(item, MultiChoiceItem):
        codes = [option.code for option in item.options if option.code != UNKNOWN]
        chosen = st.lists(st.sampled_from(codes), unique=True, max_size=len(codes)) if codes else st.just([])
        return chosen | st.just([UNKNOWN]) if len(codes) < len(item.options) else chosen
    if isinstance(item, IntegerItem):
        low = item.min if item.min is not None else -1000
        high = item.max if item.max is not None else 1000
        numbers = st.integers(low, high)
        return numbers | unknown if item.allow_unknown else numbers
    if isinstance(item, DateItem):
        dates = st.dates(datetime.date(1990, 1, 1), datetime.date(2030, 12, 31)).map(datetime.date.isoformat)
        return dates | unknown if item.allow_unknown else dates
    assert isinstance(item, TextItem)
    texts = st.text(max_size=min(item.max_length, 30)) | st.just("x" * item.max_length)
    return texts | unknown if item.allow_unknown else texts


def invalid_values(item: Item) -> st.SearchStrategy[Any]:
    """Answers of the wrong type or out of the item's range (a whole number written 3.0 among them)."""
    common: list[Any] = [None, {}, 1.5, "", [], True, "Yes"]
    if isinstance(item, YesNoUnknownItem):
        specific: list[Any] = ["maybe", "YES", ["yes"], 1, False]
    elif isinstance(item, BooleanItem):
        specific = ["true", 1, 0, "yes", [True], UNKNOWN]
    elif isinstance(item, SingleChoiceItem):
        codes = [option.code for option in item.options]
        specific = ["not_an_option", codes[0].upper() + "_", [codes[0]], UNKNOWN, 0]
    elif isinstance(item, MultiChoiceItem):
        codes = [option.code for option in item.options]
        specific = [codes[0], [codes[0], codes[0]], ["nope"], [1], [None], [UNKNOWN, codes[0]], [codes[0], UNKNOWN]]
        specific.append([UNKNOWN])  # wrong where "unknown" is not offered
    elif isinstance(item, IntegerItem):
        low = item.min if item.min is not None else 0
        specific = ["7", UNKNOWN, float(low), float(low) + 0.5, 2**60, -(2**60), "1e3"]
        if item.min is not None:
            specific += [item.min - 1, float(item.min - 1)]
        if item.max is not None:
            specific += [item.max + 1, float(item.max)]
    elif isinstance(item, DateItem):
        specific = ["2023-02-30", "2023-1-01", "20230101", "2023-01-01T00:00", 20230101, "2023-01-01\n", UNKNOWN]
        specific += ["٢٠٢٣-٠١-٠١", "2023-13-01", " 2023-01-01"]
    else:
        assert isinstance(item, TextItem)
        specific = ["y" * (item.max_length + 1), 5, ["text"], "a\x00b", UNKNOWN]
    return st.sampled_from(common + specific)


# the last three, each aimed at one permitted disagreement, twice as often (most answer sets have no such item)
PERTURBATIONS = ["drop", "add", "revalue", "malform", "null", "extra", *(["fraction", "limits", "inexact"] * 2)]


@st.composite
def answer_sets(draw: st.DrawFn, pair: Pair) -> dict[str, Any]:
    """Mostly the answers a careful assessor gives (enable_when followed, required items answered), then, for
    about half of them, a few of: an item left out, an item answered that is not asked, another valid value (which
    may change what is asked), a malformed value, null, a key that is no item, a whole number written 3.0, a value
    beyond the request limits, an item of `x-riskapi-inexact-presence` answered or left out."""
    questionnaire = pair.compiled.questionnaire
    requirements = item_requirements(questionnaire, items_read_by_triggers(pair.compiled.ruleset))
    values = {item.id: draw(valid_values(item)) for item in questionnaire.items}
    # the items of a mean or prorated score: a careful assessor answers nearly all of them (min_answered)
    counted = {item_id for rule in answered_at_least_of(pair.compiled.ruleset) for item_id in rule.items}
    optional_answered = {
        r.item.id: draw(st.integers(0, 9)) > 0 if r.item.id in counted else draw(st.booleans()) for r in requirements
    }
    answers: dict[str, Any] = {}
    for _ in range(len(requirements) + 1):  # until what is asked no longer changes
        following: dict[str, Any] = {}
        given = answers

        def holds_now(condition: Condition, given: dict[str, Any] = given) -> bool:
            return holds(condition, given, {})

        for requirement in requirements:
            item_id = requirement.item.id
            if requirement.enable_when is not None and not holds_now(requirement.enable_when):
                continue
            if requirement.missing_message(holds_now) or optional_answered[item_id]:
                following[item_id] = values[item_id]
        if following == answers:
            break
        answers = following
    ids = [item.id for item in questionnaire.items]
    integers = [item.id for item in questionnaire.items if isinstance(item, IntegerItem)]
    beyond_limits = [
        item.id
        for item in questionnaire.items
        if isinstance(item, TextItem) or (isinstance(item, IntegerItem) and item.max is None)
    ]
    inexact = sorted(pair.schema[INEXACT_PRESENCE])
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2, 3]))):
        kind = draw(st.sampled_from(PERTURBATIONS))
        if kind == "inexact" and inexact:
            # an item whose presence the schema cannot decide: answered if it was not, left out if it was
            item_id = draw(st.sampled_from(inexact))
            if answers.pop(item_id, None) is None:
                answers[item_id] = values[item_id]
        elif kind == "fraction" and integers:
            # a whole number written 3.0, valid otherwise (so only the permitted disagreement can apply)
            item_id = draw(st.sampled_from(integers))
            value = draw(valid_values(pair.items[item_id]))
            answers[item_id] = float(value) if isinstance(value, int) else value
        elif kind == "limits" and beyond_limits:
            # within the item's rules, beyond the request-body limits: a NUL character, a huge integer
            item_id = draw(st.sampled_from(beyond_limits))
            answers[item_id] = "\x00" if isinstance(pair.items[item_id], TextItem) else 2**60
        if kind == "drop" and answers:
            del answers[draw(st.sampled_from(sorted(answers)))]
        elif kind == "add":
            item_id = draw(st.sampled_from(ids))
            answers[item_id] = draw(valid_values(pair.items[item_id]))
        elif kind == "revalue" and answers:
            item_id = draw(st.sampled_from(sorted(answers)))
            answers[item_id] = draw(valid_values(pair.items[item_id]))
        elif kind == "malform":
            item_id = draw(st.sampled_from(ids))
            answers[item_id] = draw(invalid_values(pair.items[item_id]))
        elif kind == "null":
            answers[draw(st.sampled_from(ids))] = None
        elif kind == "extra":
            answers[draw(st.sampled_from(["not_an_item", "Child_age_years", "", "x" * 200]))] = "yes"
    return answers


def shipped_pairs() -> list[tuple[str, Pair]]:
    """Each shipped rule set with the shipped questionnaire version it targets, found from the content itself."""
    documents = default_documents()
    questionnaires = {}
    for kind, document in documents:
        if kind == "questionnaire":
            parsed = parse_questionnaire(document)
            questionnaires[parsed.key, parsed.version] = parsed
    pairs = []
    for kind, document in documents:
        if kind == "ruleset":
            ruleset = parse_ruleset(document)
            questionnaire = questionnaires[ruleset.questionnaire.key, ruleset.questionnaire.version]
            name = f"{questionnaire.key}.v{questionnaire.version}+{ruleset.key}.v{ruleset.version}"
            pairs.append((name, Pair(compile_ruleset(ruleset, questionnaire))))
    return pairs
