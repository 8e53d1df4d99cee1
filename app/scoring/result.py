"""The result object of an evaluation (docs/rule-language.md, "Result object"): one schema wherever it appears (dry-run
evaluate, assessment, rescore, replay), so the OpenAPI document shows it once."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class HashedRef(BaseModel):
    """A questionnaire or rule-set version and the SHA-256 of its canonical content."""

    key: str
    version: int
    content_hash: str


class Trigger(BaseModel):
    id: str
    title: str | None
    reason: str | None
    source: str | None


class FloorApplied(BaseModel):
    id: str
    reason: str | None


class Reason(BaseModel):
    rule_id: str
    text: str | None
    points: int | None
    items: list[str]
    source: str | None


class Action(BaseModel):
    id: str
    title: str
    who: str | None
    urgency: Literal["now", "same_day", "within_week", "routine"]


class Result(BaseModel):
    """The result object: the same in evaluate, assessment, rescore and replay."""

    level: str = Field(
        description="An assessment's latest override's level, else computed_level (always in a dry run)."
    )
    computed_level: str
    scores: dict[str, int]
    triggers: list[Trigger]
    floors_applied: list[FloorApplied]
    reasons: list[Reason] = Field(description="Triggers and floors first, then by contribution.")
    actions: list[Action] = Field(description="Most urgent first, then in the catalogue's order.")
    information_gaps: list[str]
    protective_factors: list[str]
    review_within_days: int | None
    disclaimer: str
    questionnaire: HashedRef
    ruleset: HashedRef
    engine_version: str
    # Absent, not null, when not asked for.
    trace: list[dict[str, Any]] | None = Field(
        default=None, description="Only with ?explain=trace.", exclude_if=lambda value: value is None
    )
    counterfactuals: list[dict[str, Any]] | None = Field(
        default=None, description="Only with ?explain=counterfactuals.", exclude_if=lambda value: value is None
    )
