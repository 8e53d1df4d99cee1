"""Request and response models of rule-set versions, dry-run evaluation, impact analysis and current rule sets."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.content_versions.schemas import VERSION_EXAMPLE, ValidationReport, VersionSummary
from app.core.pagination import Page
from app.core.strict_input import JsonDateTime, StrictInput
from app.scoring.result import HashedRef, Result


class ContentRef(StrictInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"key": "online-exposure", "version": 1}})

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    version: int = Field(ge=1, le=2_147_483_647)


RULESET_EXAMPLE = {
    **VERSION_EXAMPLE,
    "key": "online-harm-england",
    "title": "Online harm (England)",
    "questionnaire": {"key": "online-exposure", "version": 1},
}


class RuleSetVersionSummary(VersionSummary):
    model_config = ConfigDict(json_schema_extra={"example": RULESET_EXAMPLE})

    questionnaire: ContentRef = Field(description="The questionnaire version this rule set scores")


class RuleSetVersionRead(RuleSetVersionSummary):
    """A version with its document (send `Accept: application/yaml` for the document alone, as YAML)."""

    model_config = ConfigDict(
        json_schema_extra={"example": {**RULESET_EXAMPLE, "document": {"key": "online-harm-england", "version": 1}}}
    )

    document: dict[str, Any]


class RuleSetVersionPage(Page[RuleSetVersionSummary]):
    """By key, then version."""


class TestOutcomeRead(BaseModel):
    name: str
    passed: bool
    failures: list[str]


class RuleSetValidationReport(ValidationReport):
    """Static checks (monotonicity included when declared) and, when they are clean, the embedded tests."""

    tests: list[TestOutcomeRead] | None = Field(
        None, description="Outcome of every embedded test (null when the static checks fail)"
    )


class PublishOptions(StrictInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"make_current": True}})

    make_current: bool = Field(
        False, description="Also make this version your organisation's current rule set for new assessments"
    )


# --- dry-run evaluation --------------------------------------------------------------------------------------


class EvaluateRequest(StrictInput):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"answers": {"child_age_years": 11, "image_involves_sexual_acts": "yes"}},
        },
    )

    answers: dict[str, Any] = Field(description="One flat object keyed by item id")


# The dry run returns the one result object (app/scoring/result.py) that assessments also return.
EvaluationResult = Result


# --- fixtures ---------------------------------------------------------------------------------------------------


class Fixture(BaseModel):
    name: str
    description: str | None
    answers: dict[str, Any]
    expect: dict[str, Any] = Field(
        description="level; triggers / floors (exact sets); actions_include (subset); scores (exact values)"
    )


class FixtureSet(BaseModel):
    """The embedded test cases of a version, for contract tests: POST the answers, compare with `expect`."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "ruleset": {"key": "online-harm-england", "version": 1, "content_hash": "e3723e4a…"},
                "questionnaire": {"key": "online-exposure", "version": 1},
                "items": [
                    {
                        "name": "11-year-old, sexual acts in an image",
                        "description": None,
                        "answers": {"child_age_years": 11, "image_involves_sexual_acts": "yes"},
                        "expect": {"level": "immediate", "triggers": ["T4_under_13_sexual_acts"]},
                    }
                ],
            }
        }
    )

    ruleset: HashedRef
    questionnaire: ContentRef
    items: list[Fixture]


# --- impact analysis -------------------------------------------------------------------------------------------

MAX_IMPACT = 10_000


class ImpactRequest(StrictInput):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"since": "2026-01-01T00:00:00Z", "until": None, "limit": 1000}},
    )

    since: JsonDateTime | None = Field(None, description="Only assessments created at or after this time")
    until: JsonDateTime | None = Field(None, description="Only assessments created before this time")
    limit: int = Field(1000, ge=1, le=MAX_IMPACT, description="At most this many of the latest assessments")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be before `until`")
        return self


class LevelChange(BaseModel):
    from_level: str = Field(alias="from")
    to_level: str = Field(alias="to")
    count: int

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class RisingAssessment(BaseModel):
    assessment_id: str
    from_level: str = Field(alias="from")
    to_level: str = Field(alias="to")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class UnscorableAssessment(BaseModel):
    assessment_id: str
    errors: list[str] = Field(description="Why the stored answers do not fit this version (item ids, no values)")


class RuleRef(BaseModel):
    id: str
    kind: str = Field(description="term, band, trigger, floor, gap or action_rule")


class ImpactReport(BaseModel):
    """What this version would change on your stored assessments. Ids and levels only: no answers, no subjects."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "ruleset": {"key": "my-rules", "version": 2},
                "questionnaire": {"key": "online-exposure", "version": 1},
                "assessed": 1000,
                "changed": 12,
                "matrix": [{"from": "medium", "to": "high", "count": 12}],
                "rises": [{"assessment_id": "2b1f…", "from": "medium", "to": "high"}],
                "unscorable": [],
                "rules_never_fired": [{"id": "T9_rare_case", "kind": "trigger"}],
                "limit": 1000,
                "truncated": False,
                "elapsed_ms": 85.2,
            }
        }
    )

    ruleset: ContentRef
    questionnaire: ContentRef
    assessed: int = Field(description="Stored assessments re-scored")
    changed: int = Field(description="How many would get another computed level")
    matrix: list[LevelChange] = Field(description="Counts per (stored computed level -> level with this version)")
    rises: list[RisingAssessment] = Field(description="Assessments whose level would rise")
    unscorable: list[UnscorableAssessment]
    rules_never_fired: list[RuleRef]
    limit: int
    truncated: bool = Field(description="True when more assessments matched than `limit`")
    elapsed_ms: float


# --- current rule sets -----------------------------------------------------------------------------------------


class CurrentRuleSetRead(BaseModel):
    questionnaire_key: str
    ruleset: ContentRef
    source: Literal["organisation", "default"] = Field(
        description="'organisation': chosen by you; 'default': the newest published shipped rule set"
    )
    updated_at: datetime | None
    updated_by: str | None


class CurrentRuleSetList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "items": [
                    {
                        "questionnaire_key": "online-exposure",
                        "ruleset": {"key": "online-harm-england", "version": 1},
                        "source": "default",
                        "updated_at": None,
                        "updated_by": None,
                    }
                ]
            }
        }
    )

    items: list[CurrentRuleSetRead]


class CurrentRuleSetUpdate(StrictInput):
    """Adopt a published rule-set version (or roll back to an earlier one) for new assessments of its
    questionnaire key."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"ruleset": {"key": "online-harm-england", "version": 1}}},
    )

    ruleset: ContentRef
