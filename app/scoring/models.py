"""Pydantic models of the questionnaire and rule-set language (docs/rule-language.md).

Only the shape is validated here; meaning (ids that exist, types that match, monotonicity) is the checker's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    model_validator,
)

Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,99}$")]
ItemId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,99}$", description="snake_case item id")]
OptionCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
Value = StrictStr | StrictBool | StrictInt
Urgency = Literal["now", "same_day", "within_week", "routine"]
URGENCY_ORDER: tuple[Urgency, ...] = ("now", "same_day", "within_week", "routine")

# Tags of the tagged unions carry a prefix so that error locations can drop them (see parsing.pointer_of_loc).
TAG_PREFIXES = ("cond:", "item:", "term:")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- conditions -------------------------------------------------------------------------------------------

ANSWER_OPS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "lt",
    "lte",
    "gt",
    "gte",
    "between",
    "answered",
    "unanswered",
    "is_unknown",
    "contains",
    "contains_any",
)
NUMBER_OPS = ("eq", "lt", "lte", "gt", "gte", "between")


class AnswerCondition(Strict):
    """`{q: item_id, <op>: value}` with exactly one operator."""

    q: ItemId
    eq: Value | None = None
    ne: Value | None = None
    in_: list[Value] | None = Field(None, alias="in", min_length=1)
    not_in: list[Value] | None = Field(None, min_length=1)
    lt: StrictInt | StrictStr | None = None
    lte: StrictInt | StrictStr | None = None
    gt: StrictInt | StrictStr | None = None
    gte: StrictInt | StrictStr | None = None
    between: tuple[StrictInt, StrictInt] | tuple[StrictStr, StrictStr] | None = None
    answered: Literal[True] | None = None
    unanswered: Literal[True] | None = None
    is_unknown: Literal[True] | None = None
    contains: OptionCode | None = None
    contains_any: list[OptionCode] | None = Field(None, min_length=1)

    def op(self) -> tuple[str, Any]:
        """The one operator and its operand (the model validator guarantees exactly one)."""
        for name in ANSWER_OPS:
            value = getattr(self, "in_" if name == "in" else name)
            if value is not None:
                return name, value
        raise AssertionError("unreachable: validated condition without an operator")

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        _require_one_op(self, ANSWER_OPS, "an answer condition")
        return self


class ScoreCondition(Strict):
    """`{score: name, <op>: number}` on a score computed earlier."""

    score: Identifier
    eq: StrictInt | None = None
    lt: StrictInt | None = None
    lte: StrictInt | None = None
    gt: StrictInt | None = None
    gte: StrictInt | None = None
    between: tuple[StrictInt, StrictInt] | None = None

    def op(self) -> tuple[str, Any]:
        return _number_op(self)

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        _require_one_op(self, NUMBER_OPS, "a score condition")
        return self


class DateSpan(Strict):
    model_config = ConfigDict(populate_by_name=True)
    from_: ItemId = Field(alias="from")
    to: ItemId


class DateDifferenceCondition(Strict):
    """`{days_between | years_between: {from, to}, <op>: number}`; false when either date is missing or unknown."""

    days_between: DateSpan | None = None
    years_between: DateSpan | None = None
    eq: StrictInt | None = None
    lt: StrictInt | None = None
    lte: StrictInt | None = None
    gt: StrictInt | None = None
    gte: StrictInt | None = None
    between: tuple[StrictInt, StrictInt] | None = None

    @property
    def unit(self) -> Literal["days", "years"]:
        return "days" if self.days_between is not None else "years"

    @property
    def span(self) -> DateSpan:
        span = self.days_between or self.years_between
        assert span is not None
        return span

    def op(self) -> tuple[str, Any]:
        return _number_op(self)

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        if (self.days_between is None) == (self.years_between is None):
            raise ValueError("give exactly one of days_between or years_between")
        _require_one_op(self, NUMBER_OPS, "a date-difference condition")
        return self


class AllCondition(Strict):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(Strict):
    any: list[Condition] = Field(min_length=1)


class NotCondition(Strict):
    model_config = ConfigDict(populate_by_name=True)
    not_: Condition = Field(alias="not")


class AtLeastCondition(Strict):
    at_least: StrictInt = Field(ge=1)
    of: list[Condition] = Field(min_length=1)


_CONDITION_TAGS = {
    "q": "cond:answer",
    "score": "cond:score",
    "days_between": "cond:dates",
    "years_between": "cond:dates",
    "all": "cond:all",
    "any": "cond:any",
    "not": "cond:not",
    "at_least": "cond:at_least",
}


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            AnswerCondition: "cond:answer",
            ScoreCondition: "cond:score",
            DateDifferenceCondition: "cond:dates",
            AllCondition: "cond:all",
            AnyCondition: "cond:any",
            NotCondition: "cond:not",
            AtLeastCondition: "cond:at_least",
        }.get(type(value))
    if isinstance(value, dict):
        for key, tag in _CONDITION_TAGS.items():
            if key in value:
                return tag
    return None


Condition = Annotated[
    Annotated[AnswerCondition, Tag("cond:answer")]
    | Annotated[ScoreCondition, Tag("cond:score")]
    | Annotated[DateDifferenceCondition, Tag("cond:dates")]
    | Annotated[AllCondition, Tag("cond:all")]
    | Annotated[AnyCondition, Tag("cond:any")]
    | Annotated[NotCondition, Tag("cond:not")]
    | Annotated[AtLeastCondition, Tag("cond:at_least")],
    Discriminator(
        _condition_tag,
        custom_error_type="invalid_condition",
        custom_error_message=(
            "a condition is an object with one of q, score, days_between, years_between, all, any, not, at_least"
        ),
    ),
]


def _require_one_op(model: BaseModel, ops: tuple[str, ...], what: str) -> None:
    present = [op for op in ops if getattr(model, "in_" if op == "in" else op, None) is not None]
    if len(present) != 1:
        found = ", ".join(present) if present else "none"
        raise ValueError(f"{what} needs exactly one operator of {', '.join(ops)} (found: {found})")


def _number_op(model: BaseModel) -> tuple[str, Any]:
    for name in NUMBER_OPS:
        value = getattr(model, name)
        if value is not None:
            return name, value
    raise AssertionError("unreachable: validated condition without an operator")


# --- questionnaire ----------------------------------------------------------------------------------------


class Section(Strict):
    id: ItemId
    title: str
    description: str | None = None


class Option(Strict):
    code: OptionCode
    label: str
    help: str | None = None


class _ItemBase(Strict):
    id: ItemId
    section: ItemId
    question: str
    help: str | None = None
    required: StrictBool = False
    required_when: Condition | None = None
    enable_when: Condition | None = None


class YesNoUnknownItem(_ItemBase):
    type: Literal["yes_no_unknown"]


class BooleanItem(_ItemBase):
    type: Literal["boolean"]


class SingleChoiceItem(_ItemBase):
    type: Literal["single_choice"]
    options: list[Option] = Field(min_length=1)


class MultiChoiceItem(_ItemBase):
    type: Literal["multi_choice"]
    options: list[Option] = Field(min_length=1)


class IntegerItem(_ItemBase):
    type: Literal["integer"]
    min: StrictInt | None = None
    max: StrictInt | None = None
    allow_unknown: StrictBool = False


class DateItem(_ItemBase):
    type: Literal["date"]
    allow_unknown: StrictBool = False


class TextItem(_ItemBase):
    type: Literal["text"]
    max_length: StrictInt = Field(2000, ge=1)
    allow_unknown: StrictBool = False


ITEM_TYPES = ("yes_no_unknown", "boolean", "single_choice", "multi_choice", "integer", "date", "text")


def _item_tag(value: Any) -> str | None:
    kind = getattr(value, "type", None) if isinstance(value, BaseModel) else None
    if isinstance(value, dict):
        kind = value.get("type")
    return f"item:{kind}" if kind in ITEM_TYPES else None


Item = Annotated[
    Annotated[YesNoUnknownItem, Tag("item:yes_no_unknown")]
    | Annotated[BooleanItem, Tag("item:boolean")]
    | Annotated[SingleChoiceItem, Tag("item:single_choice")]
    | Annotated[MultiChoiceItem, Tag("item:multi_choice")]
    | Annotated[IntegerItem, Tag("item:integer")]
    | Annotated[DateItem, Tag("item:date")]
    | Annotated[TextItem, Tag("item:text")],
    Discriminator(
        _item_tag,
        custom_error_type="invalid_item_type",
        custom_error_message=f"an item needs a type, one of {', '.join(ITEM_TYPES)}",
    ),
]
ChoiceItem = SingleChoiceItem | MultiChoiceItem


class Questionnaire(Strict):
    key: Key
    version: StrictInt = Field(ge=1)
    title: str
    description: str | None = None
    sections: list[Section] = Field(min_length=1)
    items: list[Item] = Field(min_length=1)

    _content_hash: str | None = PrivateAttr(None)

    @property
    def content_hash(self) -> str:
        if self._content_hash is None:
            from app.scoring.canonical import content_hash

            self._content_hash = content_hash(self)
        return self._content_hash


# --- rule set ---------------------------------------------------------------------------------------------


class QuestionnaireRef(Strict):
    key: Key
    version: StrictInt = Field(ge=1)


class Action(Strict):
    id: Identifier
    title: str
    who: str
    urgency: Urgency
    detail: str | None = None
    source: str | None = None


class ConditionTerm(Strict):
    """Adds `add` points when `when` holds."""

    id: Identifier
    when: Condition
    add: StrictInt
    reason: str | None = None
    source: str | None = None
    actions: list[Identifier] = Field(default_factory=list)


class ScoreTerm(Strict):
    """Adds `times` × an earlier score."""

    id: Identifier
    score: Identifier
    times: StrictInt = 1


class PointsTerm(Strict):
    """Adds the points of the answer given to `q` (no points for other answers, unknown or unanswered)."""

    id: Identifier
    q: ItemId
    points: dict[OptionCode, StrictInt] = Field(min_length=1)
    reason: str | None = None
    source: str | None = None
    actions: list[Identifier] = Field(default_factory=list)


def _term_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {ConditionTerm: "term:when", ScoreTerm: "term:score", PointsTerm: "term:points"}.get(type(value))
    if isinstance(value, dict):
        for key, tag in (("when", "term:when"), ("score", "term:score"), ("points", "term:points")):
            if key in value:
                return tag
    return None


Term = Annotated[
    Annotated[ConditionTerm, Tag("term:when")]
    | Annotated[ScoreTerm, Tag("term:score")]
    | Annotated[PointsTerm, Tag("term:points")],
    Discriminator(
        _term_tag,
        custom_error_type="invalid_term",
        custom_error_message="a term needs `when` + `add`, `score` (+ `times`), or `q` + `points`",
    ),
]


class ScoreBand(Strict):
    """A named band of a score's values: half-open [gte, lt); a score's bands are contiguous from 0, the last open."""

    code: Identifier
    label: str
    gte: StrictInt
    lt: StrictInt | None = None
    reason: str | None = None
    source: str | None = None


ScoreKind = Literal["sum", "mean", "prorated"]
Rounding = Literal["half_up", "half_even", "floor", "ceiling"]


class Score(Strict):
    id: Identifier
    title: str | None = None
    purpose: Literal["level", "reporting"] = "level"
    kind: ScoreKind = "sum"
    min_answered: StrictInt | None = Field(None, ge=1)
    rounding: Rounding | None = None
    decimals: StrictInt = Field(0, ge=0, le=6)
    terms: list[Term] | None = None
    subtotal_of: Identifier | None = None
    items: list[ItemId] | None = None
    bands: list[ScoreBand] | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        if (self.terms is None) == (self.subtotal_of is None):
            raise ValueError("a score has either `terms` or `subtotal_of` (with `items`)")
        if (self.subtotal_of is None) != (self.items is None):
            raise ValueError("`subtotal_of` and `items` go together")
        return self


class Band(Strict):
    id: Identifier | None = Field(None, description="optional; defaults to `<score>_band_<n>`")
    score: Identifier
    gte: StrictInt
    lt: StrictInt | None = None
    level: Identifier
    reason: str | None = None
    source: str | None = None
    actions: list[Identifier] = Field(default_factory=list)


class LevelRule(Strict):
    id: Identifier
    title: str | None = None
    when: Condition
    level: Identifier
    reason: str | None = None
    source: str | None = None
    actions: list[Identifier] = Field(default_factory=list)


class UnknownAnswersRule(Strict):
    level: Identifier
    items: list[ItemId] | None = None
    reason: str
    source: str | None = None
    actions: list[Identifier] = Field(default_factory=list)


class LevelPolicy(Strict):
    actions: list[Identifier] = Field(default_factory=list)
    review_within_days: StrictInt | None = Field(None, ge=0)


class ActionRule(Strict):
    id: Identifier
    when: Condition
    levels: list[Identifier] | None = None
    actions: list[Identifier] = Field(min_length=1)
    reason: str | None = None
    source: str | None = None


class Expectation(Strict):
    level: Identifier | None = None
    triggers: list[Identifier] | None = None
    floors: list[Identifier] | None = None
    actions_include: list[Identifier] | None = None
    actions_exclude: list[Identifier] | None = None
    scores: dict[Identifier, StrictInt] | None = None
    score_bands: dict[Identifier, Identifier] | None = None
    information_gaps: list[ItemId] | None = None
    information_gaps_include: list[ItemId] | None = None
    reasons_include: list[Identifier] | None = None
    notices: list[Identifier] | None = None


class EmbeddedTest(Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    answers: dict[str, Any]
    expect: Expectation


RiskOrder = Literal["rising", "falling"] | list[OptionCode]


class LevelLabel(Strict):
    label: str = Field(min_length=1)
    description: str | None = None


class Jurisdictions(Strict):
    """The nations whose procedures the rule set's actions follow: codes of a single-choice item."""

    item: ItemId
    codes: list[OptionCode] = Field(min_length=1)
    notice: str | None = None


class RuleSet(Strict):
    key: Key
    version: StrictInt = Field(ge=1)
    title: str
    description: str | None = None
    changelog: list[str] = Field(default_factory=list)
    source: str | None = Field(None, description="citation of the instrument or guidance the rules express")
    questionnaire: QuestionnaireRef
    levels: list[Identifier] = Field(min_length=1)
    level_labels: dict[Identifier, LevelLabel] = Field(default_factory=dict)
    disclaimer: str
    monotone: StrictBool = False
    risk_order: dict[ItemId, RiskOrder] = Field(default_factory=dict)
    unknown_reads_as: dict[ItemId, Literal["most_concerning"]] = Field(default_factory=dict)
    jurisdictions: Jurisdictions | None = None
    override_policy: Literal["raise_only", "lower_only", "any", "none"] = "raise_only"
    actions: list[Action] = Field(default_factory=list)
    scores: list[Score] = Field(default_factory=list)
    bands: list[Band] = Field(default_factory=list)
    triggers: list[LevelRule] = Field(default_factory=list)
    floors: list[LevelRule] = Field(default_factory=list)
    unknown_answers: UnknownAnswersRule | None = None
    level_policies: dict[Identifier, LevelPolicy] = Field(default_factory=dict)
    action_rules: list[ActionRule] = Field(default_factory=list)
    protective_factors: list[ItemId] = Field(default_factory=list)
    tests: list[EmbeddedTest] = Field(default_factory=list)

    _content_hash: str | None = PrivateAttr(None)

    @property
    def content_hash(self) -> str:
        if self._content_hash is None:
            from app.scoring.canonical import content_hash

            self._content_hash = content_hash(self)
        return self._content_hash


for _model in (
    AllCondition,
    AnyCondition,
    NotCondition,
    AtLeastCondition,
    YesNoUnknownItem,
    BooleanItem,
    SingleChoiceItem,
    MultiChoiceItem,
    IntegerItem,
    DateItem,
    TextItem,
    Questionnaire,
    ConditionTerm,
    Score,
    LevelRule,
    ActionRule,
    RuleSet,
):
    _model.model_rebuild()
