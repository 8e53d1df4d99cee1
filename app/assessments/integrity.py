"""The case records `audit verify` checks: assessments, overrides and entered-in-error marks (ADR 0003).

Each row must have the event that created it and each such event its row; a row whose event carries a record
digest must still match it; the derived columns must agree with the stored result; overrides must chain their
`previous_level`s and their `review_by`s. Rows whose event predates record digests are checked for existence and
links only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.assessments import repository
from app.audit.chain import timestamp
from app.audit.service import RecordedEvent, RecordProblem, RecordReport
from app.core.errors import NotFound
from app.rulesets.service import get_ruleset_for_replay
from app.scoring.reviews import review_by_after_override, review_within_days

CREATE, AMEND = "assessment.create", "assessment.amend"
OVERRIDE, ENTERED_IN_ERROR = "assessment.override", "assessment.entered_in_error"


def derived_column_problems(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(column, problem) for each stored column that disagrees with the stored result it is derived from."""
    result = row["result"]
    problems = []
    computed = result.get("computed_level") if isinstance(result, dict) else None
    if row["computed_level"] != computed:
        problems.append(
            ("computed_level", f"computed_level '{row['computed_level']}' but the stored result computed '{computed}'")
        )
    days = result.get("review_within_days") if isinstance(result, dict) else None
    expected = row["created_at"] + timedelta(days=days) if isinstance(days, int) else None
    if row["review_by"] != expected:
        problems.append(
            ("review_by", f"review_by {_shown(row['review_by'])} is not created_at + the stored result's {days} days")
        )
    return problems


def _shown(value: datetime | None) -> str:
    return timestamp(value) if value is not None else "none"


class _Events:
    """The events of one action by resource id, in chain order."""

    def __init__(self, events: Sequence[RecordedEvent], actions: frozenset[str]) -> None:
        self.by_resource: dict[str, list[RecordedEvent]] = defaultdict(list)
        for event in events:
            if event.action in actions and event.resource_id is not None:
                self.by_resource[event.resource_id].append(event)

    def take(self, resource_id: str) -> list[RecordedEvent]:
        return self.by_resource.pop(resource_id, [])

    def left(self) -> list[RecordedEvent]:
        return sorted((e for events in self.by_resource.values() for e in events), key=lambda e: e.sequence)


class AssessmentRecords:
    actions = frozenset({CREATE, AMEND, OVERRIDE, ENTERED_IN_ERROR})

    def check(self, session: Session, organisation_id: str, events: Sequence[RecordedEvent]) -> RecordReport:
        return _Check(session, organisation_id, events).run()


class _Check:
    """One organisation's check: the assessments first (their levels and ids), then what hangs off them."""

    def __init__(self, session: Session, organisation_id: str, events: Sequence[RecordedEvent]) -> None:
        self.session = session
        self.organisation_id = organisation_id
        self.events = events
        self.report = RecordReport()
        self.levels: dict[str, str] = {}  # computed level by assessment id
        self.reviews: dict[str, tuple[datetime | None, str, int]] = {}  # review_by, rule set key, version by id
        self.intervals: dict[tuple[str, int, str], int | None] = {}

    def problem(self, record: str, problem: str, sequence: int | None = None) -> None:
        self.report.problems.append(RecordProblem(record, problem, sequence))

    def run(self) -> RecordReport:
        try:
            self.assessments()
            self.overrides()
            self.entered_in_error()
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a value written outside the application
            self.problem("the assessment tables", f"hold a value that cannot be read ({type(exc).__name__})")
        return self.report

    def assessments(self) -> None:
        created = _Events(self.events, frozenset({CREATE, AMEND}))
        supersedes: dict[str, str] = {}
        for row in repository.stored_assessments(self.session, self.organisation_id):
            name = f"assessment {row['id']}"
            self.levels[row["id"]] = row["computed_level"]
            self.reviews[row["id"]] = (row["review_by"], row["ruleset_key"], row["ruleset_version"])
            if row["supersedes"] is not None:
                supersedes[row["id"]] = row["supersedes"]
            mine = created.take(row["id"])
            if not mine:
                self.problem(name, "has no create or amend event in the audit chain")
                continue
            event, *others = mine
            for other in others:
                self.problem(name, f"a second {other.action} event", other.sequence)
            expected_action = CREATE if row["supersedes"] is None else AMEND
            if event.action != expected_action:
                self.problem(
                    name, f"recorded by an {event.action} event but stored as an {expected_action}", event.sequence
                )
            if event.record_digest is None:
                self.report.legacy += 1
                continue
            self.report.checked += 1
            if repository.assessment_digest(row) != event.record_digest:
                self.problem(
                    name, f"the stored row differs from the one event {event.sequence} recorded", event.sequence
                )
            for column, problem in derived_column_problems(row):
                self.problem(f"{name} ({column})", problem, event.sequence)
        for amended, original in supersedes.items():
            if original not in self.levels:
                self.problem(f"assessment {amended}", f"supersedes {original}, which is missing")
        for event in created.left():
            self.problem(
                f"assessment {event.resource_id}",
                f"recorded by event {event.sequence} but missing from the assessments",
                event.sequence,
            )

    def overrides(self) -> None:
        rows = _by_assessment(repository.stored_overrides(self.session, self.organisation_id))
        self.match(rows, OVERRIDE, repository.override_digests, "override")
        for assessment_id, mine in rows.items():
            level_before = self.levels.get(assessment_id)
            if level_before is None:
                continue
            review_before, ruleset_key, ruleset_version = self.reviews[assessment_id]
            for row in mine:
                name = f"override {row['id']} of assessment {assessment_id}"
                if row["previous_level"] != level_before:
                    self.problem(
                        name, f"previous_level '{row['previous_level']}' but the level before it was '{level_before}'"
                    )
                level_before = row["level"]
                try:
                    days = self.review_interval(ruleset_key, ruleset_version, row["level"])
                except NotFound:
                    self.problem(name, f"its rule set '{ruleset_key}' version {ruleset_version} is missing")
                    break
                expected = review_by_after_override(review_before, row["created_at"], days)
                if row["review_by"] != expected:
                    self.problem(
                        f"{name} (review_by)",
                        f"review_by {_shown(row['review_by'])} is not the earlier of the review date before it "
                        f"({_shown(review_before)}) and created_at + the {days} days of level '{row['level']}' "
                        f"({_shown(expected)})",
                    )
                review_before = expected

    def review_interval(self, ruleset_key: str, ruleset_version: int, level: str) -> int | None:
        """The level's review interval in the assessment's rule-set version, as the override's writer read it."""
        key = (ruleset_key, ruleset_version, level)
        if key not in self.intervals:
            resolved = get_ruleset_for_replay(self.session, self.organisation_id, ruleset_key, ruleset_version)
            self.intervals[key] = review_within_days(resolved.compiled.ruleset, level)
        return self.intervals[key]

    def entered_in_error(self) -> None:
        rows = _by_assessment(repository.stored_entered_in_error(self.session, self.organisation_id))
        self.match(
            rows, ENTERED_IN_ERROR, lambda row: (repository.entered_in_error_digest(row),), "entered-in-error mark"
        )

    def match(
        self,
        rows: dict[str, list[Mapping[str, Any]]],
        action: str,
        digest: Callable[[Mapping[str, Any]], Sequence[str]],
        kind: str,
    ) -> None:
        """Each assessment's rows of a kind against the events of `action` that name it; rows of a missing
        assessment."""
        recorded = _Events(self.events, frozenset({action}))
        for assessment_id in sorted(rows.keys() | recorded.by_resource.keys()):
            mine = rows.get(assessment_id, [])
            _match(mine, recorded.take(assessment_id), f"assessment {assessment_id}", digest, kind, self.report)
            if mine and assessment_id not in self.levels:
                self.problem(f"{kind} of assessment {assessment_id}", "the assessment is missing")


def _by_assessment(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["assessment_id"]].append(row)
    return grouped


def _match(
    rows: list[Mapping[str, Any]],
    events: list[RecordedEvent],
    of: str,
    digest: Callable[[Mapping[str, Any]], Sequence[str]],
    kind: str,
    report: RecordReport,
) -> None:
    """Pairs one assessment's rows of a kind with the events that created them, by record digest: any of the forms
    `digest` gives for the row (events without one, written before digests, pair with whatever rows are left:
    existence only)."""
    wanted: dict[str, list[RecordedEvent]] = defaultdict(list)
    legacy = [event for event in events if event.record_digest is None]
    for event in events:
        if event.record_digest is not None:
            wanted[event.record_digest].append(event)
    unmatched_rows = []
    for row in rows:
        waiting = next((wanted[d] for d in digest(row) if wanted.get(d)), None)
        if waiting:
            waiting.pop(0)
            report.checked += 1
        else:
            unmatched_rows.append(row)
    unmatched_events = sorted((e for waiting in wanted.values() for e in waiting), key=lambda e: e.sequence)
    name = f"{kind} of {of}"
    for _row in unmatched_rows:
        if legacy:
            legacy.pop(0)
            report.legacy += 1
        elif unmatched_events:
            event = unmatched_events.pop(0)
            report.problems.append(
                RecordProblem(
                    name, f"the stored row differs from the one event {event.sequence} recorded", event.sequence
                )
            )
        else:
            report.problems.append(RecordProblem(name, "has no event in the audit chain"))
    for event in [*unmatched_events, *legacy]:
        report.problems.append(
            RecordProblem(f"{kind} of {of}", f"recorded by event {event.sequence} but missing", event.sequence)
        )
