"""Request and response models of the assessments API (the result object is app/scoring/result.py's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.pagination import Page
from app.core.strict_input import StrictInput
from app.scoring.result import Result

SubjectRef = Field(
    min_length=1,
    max_length=256,
    description="The caller's pseudonymous case id for the child (never a name).",
    examples=["case-7f3a9c"],
)

EXAMPLE_ANSWERS: dict[str, Any] = {
    "child_age_years": 14,
    "assessor_role": "teacher",
    "concern_source": "child_disclosure",
    "jurisdiction": "england",
    "immediate_danger_now": "no",
    "contact_unknown_person_online": "yes",
}


class _Input(StrictInput):
    model_config = ConfigDict(extra="forbid")


class QuestionnaireRef(_Input):
    key: str = Field(min_length=1, max_length=64, examples=["online-exposure"])
    version: int | None = Field(
        default=None, ge=1, le=2_147_483_647, description="Default: the version the rule set targets."
    )


class RuleSetRef(_Input):
    key: str = Field(min_length=1, max_length=64, examples=["online-harm-england"])
    version: int | None = Field(
        default=None, ge=1, le=2_147_483_647, description="Default: the latest published version."
    )


class AssessmentCreate(_Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "questionnaire": {"key": "online-exposure", "version": 1},
                    "ruleset": {"key": "online-harm-england", "version": 1},
                    "subject_ref": "case-7f3a9c",
                    "answers": EXAMPLE_ANSWERS,
                }
            ]
        },
    )

    questionnaire: QuestionnaireRef
    ruleset: RuleSetRef | None = Field(
        default=None, description="Default: the organisation's current rule set for the questionnaire (echoed back)."
    )
    subject_ref: str = SubjectRef
    answers: dict[str, Any] = Field(
        description="One flat object keyed by item id; the child's age is the answer child_age_years."
    )


class RevisionCreate(_Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"answers": EXAMPLE_ANSWERS}]},
    )

    answers: dict[str, Any]
    questionnaire: QuestionnaireRef | None = Field(
        default=None, description="Default: the amended assessment's questionnaire version (the key cannot change)."
    )
    ruleset: RuleSetRef | None = Field(default=None, description="Default: the amended assessment's rule-set version.")


class OverrideCreate(_Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"level": "high", "rationale": "Older sibling reports further contact since the assessment."}]
        },
    )

    level: str = Field(min_length=1, max_length=32)
    rationale: str = Field(min_length=1, max_length=4000, description="Why the professional judgement differs.")


class EnteredInErrorCreate(_Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Recorded against the wrong case."}]}
    )

    reason: str = Field(min_length=1, max_length=2000)


class OverrideRead(BaseModel):
    level: str
    previous_level: str = Field(description="The level in force when the override was made.")
    rationale: str
    acting_user: str
    client: str
    created_at: datetime


class EnteredInErrorRead(BaseModel):
    reason: str
    acting_user: str
    client: str
    created_at: datetime


class AssessmentRead(Result):
    id: str
    subject_ref: str
    created_at: datetime
    review_by: datetime | None = Field(description="created_at + review_within_days, or null.")
    acting_user: str
    client: str = Field(description="Id of the API client that submitted it.")
    supersedes: str | None = Field(description="The revision this one amends.")
    superseded_by: str | None = Field(description="The revision that amends this one (null on the latest).")
    overrides: list[OverrideRead] = Field(description="Oldest first; the last one sets `level`.")
    entered_in_error: EnteredInErrorRead | None


class AssessmentPage(Page[AssessmentRead]):
    """Newest first."""


class RevisionChain(BaseModel):
    items: list[AssessmentRead] = Field(description="Every revision, oldest first.")


class Change(BaseModel):
    stored: Any
    rescored: Any


class Changes(BaseModel):
    level: Change | None = Field(description="Null when the computed level is unchanged.")
    triggers_added: list[str]
    triggers_removed: list[str]
    actions_added: list[str]
    actions_removed: list[str]
    scores: dict[str, Change]
    information_gaps_added: list[str]
    information_gaps_removed: list[str]


class RescoreRead(BaseModel):
    assessment_id: str
    stored: Result
    rescored: Result
    changed: bool
    changes: Changes


class Difference(BaseModel):
    where: Literal["result", "row"] = Field(
        default="result",
        description="result: `pointer` points into the stored result; row: at a stored column derived from it",
    )
    pointer: str
    stored: Any = None
    replayed: Any = None


class ReplayRead(BaseModel):
    assessment_id: str
    identical: bool
    differences: list[Difference]
    stored: Result
    replayed: Result
