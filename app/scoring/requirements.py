"""When an item must, may or must not be answered: the one reading of `enable_when`, `required`, `required_when`,
the items a rule set's triggers read and the `min_answered` of its mean and prorated scores (docs/answers.md). The
answer check, the answers schema and any later representation of a questionnaire take it from here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.scoring.models import Condition, Item, PointsTerm, Questionnaire, RuleSet

MISSING = "required item is missing"
NOT_ASKED = "this item is not asked given the other answers (enable_when), leave it out"
TOO_FEW_ANSWERED = "too few of a score's items answered"


@dataclass(frozen=True, slots=True)
class ItemRequirement:
    """The presence rule of one item: asked while `enable_when` holds (always when None); while asked, answered
    when `required`, when a rule set requires it (`required_by_rules` says why), or when `required_when` holds.
    An item that is not asked must be left out."""

    item: Item
    enable_when: Condition | None
    required: bool
    required_when: Condition | None
    required_by_rules: str | None

    @property
    def always_required(self) -> bool:
        """Required whenever it is asked, whatever the other answers."""
        return self.required or self.required_by_rules is not None

    def missing_message(self, holds: Callable[[Condition], bool]) -> str | None:
        """Why leaving the item out is an error while it is asked (`holds` decides a condition on the answers);
        None when it may be left out. The questionnaire's own rules are named first."""
        if self.required:
            return MISSING
        if self.required_when is not None and holds(self.required_when):
            return f"{MISSING} (required_when holds for these answers)"
        if self.required_by_rules is not None:
            return f"{MISSING} ({self.required_by_rules})"
        return None


def item_requirements(questionnaire: Questionnaire, required_by_rules: Mapping[str, str]) -> list[ItemRequirement]:
    """Every item's presence rule, in questionnaire order; `required_by_rules` maps the item ids a rule set
    requires to the reason (`checker.items_read_by_triggers`)."""
    return [
        ItemRequirement(
            item=item,
            enable_when=item.enable_when,
            required=item.required,
            required_when=item.required_when,
            required_by_rules=required_by_rules.get(item.id),
        )
        for item in questionnaire.items
    ]


@dataclass(frozen=True, slots=True)
class AnsweredAtLeast:
    """A mean or prorated score's `min_answered`: at least `count` of its `items` answered with something other
    than "unknown", or the answers are refused (no score is ever computed from too few answers)."""

    score: str
    items: tuple[str, ...]
    count: int

    def message(self, answered: int) -> str:
        return (
            f"{TOO_FEW_ANSWERED}: score '{self.score}' needs at least {self.count} of its {len(self.items)} items "
            f'({", ".join(self.items)}) answered other than "unknown"; {answered} {"is" if answered == 1 else "are"}'
        )


def answered_at_least_of(ruleset: RuleSet) -> list[AnsweredAtLeast]:
    """The `min_answered` rule of every mean and prorated score, in score order (their items in term order)."""
    rules = []
    for score in ruleset.scores:
        if score.kind == "sum" or score.min_answered is None:
            continue
        items = tuple(dict.fromkeys(term.q for term in score.terms or [] if isinstance(term, PointsTerm)))
        rules.append(AnsweredAtLeast(score.id, items, score.min_answered))
    return rules
