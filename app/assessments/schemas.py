"""Request and response models of the assessments API (the result object is app/scoring/result.py's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from app.content import examples
from app.core.pagination import Page
from app.core.strict_input import StrictInput
from app.scoring.result import Result

SubjectRef = Field(
    min_length=1,
    max_length=256,
    description="The caller's pseudonymous case id for the child (never a name).",
    examples=["case-7f3a9c"],
)


class _Input(StrictInput):
    model_config = ConfigDict(extra="forbid")


class QuestionnaireRef(_Input):
    key: str = Field(
        min_length=1,
        max_length=64,
        description="The questionnaire's key, e.g. `online-exposure`.",
        examples=["online-exposure"],
    )
    version: int | None = Field(
        default=None,
        ge=1,
        le=2_147_483_647,
        description="The questionnaire version the answers follow; default: the version the rule set targets.",
    )


class RuleSetRef(_Input):
    key: str = Field(
        min_length=1,
        max_length=64,
        description="The rule set's key, e.g. `online-harm-england`.",
        examples=["online-harm-england"],
    )
    version: int | None = Field(
        default=None,
        ge=1,
        le=2_147_483_647,
        description="The published rule-set version to score with; default: the latest published version.",
    )


class AssessmentCreate(_Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [examples.assessment_request()]},
    )

    questionnaire: QuestionnaireRef = Field(description="The questionnaire the answers follow.")
    ruleset: RuleSetRef | None = Field(
        default=None,
        description="The rule set to score with; default: the organisation's current rule set for the questionnaire "
        "(the one used is echoed back in the result).",
    )
    subject_ref: str = SubjectRef
    answers: dict[str, Any] = Field(
        description="The answers, one flat object keyed by the questionnaire's item ids; the child's age is the "
        "answer `child_age_years`."
    )


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # optional, but never null: left out when not sent


class RevisionCreate(_Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [examples.revision_request(), examples.revision_patch_request()]},
    )

    # Exactly one of the two (app/assessments/answers_patch.py, `check_one_source`): a 422 names both otherwise.
    answers: dict[str, Any] | SkipJsonSchema[None] = Field(
        default=None,
        description="The revision's complete answers (they replace the amended revision's), keyed by item id. Send "
        "this or `answers_patch`, not both.",
        json_schema_extra=_no_default,
    )
    answers_patch: dict[str, Any] | SkipJsonSchema[None] = Field(
        default=None,
        description="Changes to the amended revision's stored answers, as a JSON Merge Patch (RFC 7396): a member "
        "with a value sets that answer (a multi-choice list is replaced whole), a member that is null removes it, "
        "items not named keep their answers. The merged set is validated as a whole; errors point at "
        "`/answers_patch/<item>`. Send this or `answers`, not both.",
        json_schema_extra=_no_default,
    )
    questionnaire: QuestionnaireRef | None = Field(
        default=None,
        description="The questionnaire version the answers follow (the key cannot change); default: the amended "
        "assessment's version when `ruleset` is omitted too, else the version the rule set targets.",
    )
    ruleset: RuleSetRef | None = Field(
        default=None,
        description="The rule set to score with; default: the amended assessment's rule set, at its version when "
        "`questionnaire` is omitted too, else at the latest published version.",
    )

    @field_validator("answers", "answers_patch", mode="before")
    @classmethod
    def _an_object(cls, value: Any) -> Any:
        # Before the union is tried: one error at the field, not one per member of `dict | None`.
        if value is None:
            raise ValueError("must be an object keyed by item id; leave the field out rather than send null")
        if not isinstance(value, dict):
            raise ValueError("must be an object keyed by item id")
        return value


class OverrideCreate(_Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"level": "high", "rationale": "Older sibling reports further contact since the assessment."}]
        },
    )

    level: str = Field(
        min_length=1,
        max_length=32,
        description="The level the professional sets, one of the rule set's levels (e.g. `high`); the rule set's "
        "override policy decides which directions are allowed (by default raise only).",
    )
    rationale: str = Field(
        min_length=1, max_length=4000, description="Why the professional judgement differs from the computed level."
    )


class EnteredInErrorCreate(_Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Recorded against the wrong case."}]}
    )

    reason: str = Field(
        min_length=1, max_length=2000, description="Why the assessment should not have been recorded (kept for audit)."
    )


class OverrideRead(BaseModel):
    level: str = Field(description="The level the professional set, e.g. `high`.")
    previous_level: str = Field(description="The level in force when the override was made.")
    rationale: str = Field(description="Why the professional judgement differs from the computed level.")
    acting_user: str = Field(description="The `X-Acting-User` of the request that made the override.")
    client: str = Field(description="Id of the API client that made the override.")
    created_at: datetime = Field(description="When the override was made (ISO 8601, UTC).")
    review_by: datetime | None = Field(
        description="The review date in force from this override on: the earlier of the one before it and "
        "`created_at` plus the review interval of `level` in the assessment's rule set (an override never removes "
        "or postpones a review); null only when neither sets one."
    )


class EnteredInErrorRead(BaseModel):
    reason: str = Field(description="Why the assessment should not have been recorded.")
    acting_user: str = Field(description="The `X-Acting-User` of the request that marked it.")
    client: str = Field(description="Id of the API client that marked it.")
    created_at: datetime = Field(description="When it was marked (ISO 8601, UTC).")


class AssessmentRead(Result):
    id: str = Field(description="The assessment's id (a UUID); each revision has its own.")
    subject_ref: str = Field(description="The caller's pseudonymous case id for the child, as submitted.")
    created_at: datetime = Field(description="When this revision was recorded (ISO 8601, UTC).")
    review_by: datetime | None = Field(
        description="When to review: the review date in force, which is the latest override's `review_by`, else "
        "`created_at` plus `review_within_days` days; null when no review is set. Overrides only bring it forward."
    )
    acting_user: str = Field(description="The `X-Acting-User` of the request that recorded it.")
    client: str = Field(description="Id of the API client that submitted it.")
    supersedes: str | None = Field(description="Id of the revision this one amends; null on the first.")
    superseded_by: str | None = Field(description="Id of the revision that amends this one; null on the latest.")
    overrides: list[OverrideRead] = Field(
        description="Professional overrides, oldest first; the last one sets `level`."
    )
    entered_in_error: EnteredInErrorRead | None = Field(
        description="The entered-in-error mark, or null when the assessment stands."
    )
    # Absent, not null, unless asked for.
    answers: dict[str, Any] | None = Field(
        default=None,
        description="Only with `?include=answers` (operation `read_answers`: roles assessor, supervisor): the answers "
        "stored with this revision, keyed by item id, as they were scored. A revision made with `answers_patch` "
        "holds the complete merged set.",
        exclude_if=lambda value: value is None,
    )


class AssessmentPage(Page[AssessmentRead]):
    """Newest first; with `review_by_before`, earliest review date first."""


class RevisionChain(BaseModel):
    items: list[AssessmentRead] = Field(description="Every revision of the assessment, oldest first.")


class Change(BaseModel):
    stored: Any = Field(description="The value in the stored result (null when it had none).")
    rescored: Any = Field(description="The value with the other rule-set version (null when it has none).")


class Changes(BaseModel):
    level: Change | None = Field(description="The computed level before and after; null when it is unchanged.")
    triggers_added: list[str] = Field(description="Ids of triggers that fire only with the other version.")
    triggers_removed: list[str] = Field(description="Ids of triggers that fired in the stored result only.")
    actions_added: list[str] = Field(description="Ids of actions recommended only with the other version.")
    actions_removed: list[str] = Field(description="Ids of actions recommended in the stored result only.")
    scores: dict[str, Change] = Field(
        description="Each score whose value differs, by score id; unchanged ones omitted."
    )
    information_gaps_added: list[str] = Field(
        description="Item ids that are information gaps only with the other version."
    )
    information_gaps_removed: list[str] = Field(
        description="Item ids that were information gaps in the stored result only."
    )


class RescoreRead(BaseModel):
    assessment_id: str = Field(description="The id of the assessment re-scored (nothing is stored).")
    stored: Result = Field(description="The result stored with the assessment.")
    rescored: Result = Field(description="The result of the same answers with the requested rule-set version.")
    changed: bool = Field(description="True when `changes` holds any change.")
    changes: Changes = Field(description="What the other rule-set version changes in the result.")


class Difference(BaseModel):
    where: Literal["result", "row"] = Field(
        default="result",
        description="`result`: `pointer` points into the stored result; `row`: at a stored column derived from it "
        "(`/computed_level` or `/review_by`).",
    )
    pointer: str = Field(description="JSON pointer to the value that differs, e.g. `/scores/total`.")
    stored: Any = Field(default=None, description="The stored value (null when absent).")
    replayed: Any = Field(default=None, description="The value the replay computed (null when absent).")


class ReplayEngine(BaseModel):
    """The engine versions of a replay: a later engine reproduces what an earlier one computed, field by field."""

    stored: str = Field(
        description="The engine version that computed the stored result (the assessment's `engine_version`), "
        "e.g. `riskapi-scoring/1`."
    )
    replayed: str = Field(description="The engine version that replayed it: this server's, e.g. `riskapi-scoring/2`.")
    changed: bool = Field(
        description="True when the two differ. `identical` then still means that every field the stored engine "
        "version produced came out the same; `differences` says what did not."
    )
    compared: list[str] = Field(
        description="The result fields compared: every field the stored engine version produced (and `trace` when "
        "it was stored), except `level` (an override may set it) and `engine_version` (reported here). A stored "
        "version this server does not know has every field compared."
    )
    not_compared: list[str] = Field(
        description="The fields later engine versions added, which the stored version did not produce: `replayed` "
        "shows them and `stored` shows their defaults (`score_bands: {}`, `score_decimals: {}`, `notices: []`); "
        "they are never a difference."
    )


class ReplayRead(BaseModel):
    assessment_id: str = Field(description="The id of the assessment replayed.")
    identical: bool = Field(
        description="True when the replay reproduced every compared field of the stored result (`engine.compared`) "
        "and the stored columns derived from it: no `differences`."
    )
    differences: list[Difference] = Field(description="Every value that differs; empty when `identical`.")
    engine: ReplayEngine = Field(
        description="Which engine version computed the stored result and which replayed it, and the fields compared."
    )
    stored: Result = Field(description="The result stored with the assessment.")
    replayed: Result = Field(description="The result of the stored answers re-evaluated with the stored versions.")
