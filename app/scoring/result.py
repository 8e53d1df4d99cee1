"""The result object of an evaluation (docs/rule-language.md, "Result object"): one schema wherever it appears (dry-run
evaluate, assessment, rescore, replay), so the OpenAPI document shows it once."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema


class HashedRef(BaseModel):
    """A questionnaire or rule-set version and the SHA-256 of its canonical content."""

    key: str = Field(description="The document's key, e.g. `online-harm-england`.")
    version: int = Field(description="The version number used, from 1.")
    content_hash: str = Field(
        description="Lowercase hex SHA-256 of the RFC 8785 canonical JSON of the version's document."
    )


class Trigger(BaseModel):
    id: str = Field(description="The trigger's id in the rule set, e.g. `T4_under_13_sexual_acts`.")
    title: str | None = Field(description="The trigger's title in the rule set, or null.")
    reason: str | None = Field(description="Why the trigger sets its level, in plain words for a professional.")
    source: str | None = Field(description="Citation tags of the guidance the rule expresses, e.g. `S1, S2`.")


class FloorApplied(BaseModel):
    id: str = Field(description="The floor's (or unknown-answers rule's) id in the rule set.")
    reason: str | None = Field(description="Why the floor raises the level, in plain words for a professional.")


class Reason(BaseModel):
    rule_id: str = Field(description="Id of the rule that contributed: a term, band, trigger, floor or gap rule.")
    text: str | None = Field(description="The rule's reason in plain words for a professional, or null.")
    points: int | None = Field(description="Points the rule (a term) added to its score; null for any other rule.")
    items: list[str] = Field(description="Ids of the items whose answers made the rule fire (empty for a band).")
    source: str | None = Field(description="Citation tags of the guidance the rule expresses, e.g. `S1, S2`.")


class Action(BaseModel):
    id: str = Field(description="The action's id in the rule set's catalogue, e.g. `call_999`.")
    title: str = Field(description="What to do, in a few words, e.g. `Call 999`.")
    who: str | None = Field(description="Who should do it, e.g. `Lead practitioner`.")
    urgency: Literal["now", "same_day", "within_week", "routine"] = Field(
        description="How soon: `now`, `same_day`, `within_week` or `routine`."
    )


class ScoreBandReached(BaseModel):
    code: str = Field(description="The band's code in the rule set, e.g. `moderate`.")
    label: str = Field(description="The band's label, e.g. `Moderate depression`.")


class Notice(BaseModel):
    code: str = Field(description="What the notice is about, e.g. `jurisdiction_outside_ruleset`.")
    text: str = Field(description="The notice in plain words for a professional; show it before the result.")


def _always_sent(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # the engine leaves it unset; every response of the API sets it


class Result(BaseModel):
    """The result object: the same in evaluate, assessment, rescore and replay."""

    level: str = Field(
        description="The level in force, e.g. `high`: an assessment's latest override's level, else "
        "`computed_level` (always `computed_level` in a dry run)."
    )
    computed_level: str = Field(description="The level the rule set computed from the answers, e.g. `medium`.")
    # Read models: rendered from the rule-set version whenever a result is shown, never stored with it.
    level_label: str | SkipJsonSchema[None] = Field(
        default=None,
        description="The label of `level` in the rule-set version that scored the result (its `level_labels`; "
        "else the level's id with underscores as spaces and a capital first letter, `category_1` -> "
        "`Category 1`), rendered when the result is read, never stored.",
        examples=["High"],
        exclude_if=lambda value: value is None,
        json_schema_extra=_always_sent,
    )
    computed_level_label: str | SkipJsonSchema[None] = Field(
        default=None,
        description="The label of `computed_level` in the same rule-set version, made as `level_label` is.",
        examples=["Medium"],
        exclude_if=lambda value: value is None,
        json_schema_extra=_always_sent,
    )
    scores: dict[str, int] = Field(
        description='Every score\'s integer value, by score id, e.g. `{"total": 6}`; a score listed in '
        "`score_decimals` is stored scaled by 10 to that power."
    )
    score_bands: dict[str, ScoreBandReached] = Field(
        description="The named band each banded score falls in, by score id (empty when no score declares bands).",
    )
    score_decimals: dict[str, int] = Field(
        description='Decimal places of each score stored scaled, by score id: `{"mean": 2}` with `scores` '
        '`{"mean": 235}` means 2.35 (empty when every score is a whole number).',
    )
    notices: list[Notice] = Field(
        description="Things to know before reading the result, e.g. that the actions follow another nation's "
        "procedures; shown first.",
    )
    triggers: list[Trigger] = Field(description="The triggers that fired, each setting a level directly.")
    floors_applied: list[FloorApplied] = Field(
        description="The floors (minimum levels) that fired, including the unknown-answers rule."
    )
    reasons: list[Reason] = Field(
        description="Why the level is what it is: triggers and floors first, then the rest by contribution."
    )
    actions: list[Action] = Field(description="Recommended actions, most urgent first, then in the catalogue's order.")
    information_gaps: list[str] = Field(description="Ids of the items answered `unknown`.")
    protective_factors: list[str] = Field(
        description="Ids of the rule set's protective-factor items answered yes or true."
    )
    review_within_days: int | None = Field(
        description="Days within which the level calls for a review; null when it calls for none."
    )
    disclaimer: str = Field(description="The rule set's disclaimer, to show with the result.")
    questionnaire: HashedRef = Field(description="The questionnaire version the answers were checked against.")
    ruleset: HashedRef = Field(description="The rule-set version that computed the result.")
    engine_version: str = Field(description="The scoring engine's version, e.g. `riskapi-scoring/1`.")
    # Absent, not null, when not asked for.
    trace: list[dict[str, Any]] | None = Field(
        default=None,
        description="Only with `?explain=trace`: every rule that fired, with its id, kind, contribution and the "
        "answers it read.",
        exclude_if=lambda value: value is None,
    )
    counterfactuals: list[dict[str, Any]] | None = Field(
        default=None,
        description="Only with `?explain=counterfactuals`: for each item, the nearest other answer that would raise "
        "or lower the level (`item`, `from`, `to`, `level`, `text`).",
        exclude_if=lambda value: value is None,
    )
