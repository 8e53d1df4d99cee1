"""Request and response models of rule-set versions, dry-run evaluation, impact analysis and current rule sets."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.content import examples
from app.content_versions.schemas import VERSION_EXAMPLE, ValidationReport, VersionSummary
from app.core.pagination import Page
from app.core.strict_input import JsonDateTime, StrictInput
from app.scoring.result import HashedRef, Result


class ContentRef(StrictInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"key": "online-exposure", "version": 1}})

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="The document's key, e.g. `online-exposure`.")
    version: int = Field(ge=1, le=2_147_483_647, description="The version number, from 1.")


RULESET_EXAMPLE = {
    **VERSION_EXAMPLE,
    "key": "online-harm-england",
    "title": "Online harm (England)",
    "questionnaire": {"key": "online-exposure", "version": 1},
}


class RuleSetVersionSummary(VersionSummary):
    model_config = ConfigDict(json_schema_extra={"example": RULESET_EXAMPLE})

    questionnaire: ContentRef = Field(description="The questionnaire version this rule set scores.")


class RuleSetVersionRead(RuleSetVersionSummary):
    """A version with its document (send `Accept: application/yaml` for the document alone, as YAML)."""

    model_config = ConfigDict(
        json_schema_extra={"example": {**RULESET_EXAMPLE, "document": {"key": "online-harm-england", "version": 1}}}
    )

    document: dict[str, Any] = Field(
        description="The rule-set document itself: levels, scores, rules, actions and tests (docs/rule-language.md)."
    )


class RuleSetVersionPage(Page[RuleSetVersionSummary]):
    """By key, then version."""


class TestOutcomeRead(BaseModel):
    name: str = Field(description="The embedded test's name.")
    passed: bool = Field(description="True when the result met every expectation of the test.")
    failures: list[str] = Field(
        description="Each expectation the result missed, e.g. `level: expected high, got medium`; empty when passed."
    )


class RuleSetValidationReport(ValidationReport):
    """Static checks (monotonicity included when declared) and, when they are clean, the embedded tests."""

    tests: list[TestOutcomeRead] | None = Field(
        None, description="Outcome of every embedded test; null when the static checks fail."
    )


class PublishOptions(StrictInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"make_current": True}})

    make_current: bool = Field(
        False,
        description="Also make this version your organisation's current rule set for new assessments (default false).",
    )


# --- dry-run evaluation --------------------------------------------------------------------------------------


class EvaluateRequest(StrictInput):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [examples.evaluate_request()]},
    )

    answers: dict[str, Any] = Field(description="The answers, one flat object keyed by the questionnaire's item ids.")


# The dry run returns the one result object (app/scoring/result.py) that assessments also return.
EvaluationResult = Result


# --- fixtures ---------------------------------------------------------------------------------------------------


class Fixture(BaseModel):
    name: str = Field(description="The embedded test's name.")
    description: str | None = Field(description="What the test case covers, or null.")
    answers: dict[str, Any] = Field(description="The answers to send, keyed by item id.")
    expect: dict[str, Any] = Field(
        description="What the result must show: `level`; `triggers` and `floors` (exact sets of ids); "
        "`actions_include` (a subset of action ids); `scores` (exact values)."
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

    ruleset: HashedRef = Field(description="The rule-set version the fixtures belong to, with its content hash.")
    questionnaire: ContentRef = Field(description="The questionnaire version the answers follow.")
    items: list[Fixture] = Field(description="Every embedded test case, in the document's order.")


# --- impact analysis -------------------------------------------------------------------------------------------

MAX_IMPACT = 10_000


class ImpactRequest(StrictInput):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"since": "2026-01-01T00:00:00Z", "until": None, "limit": 1000}},
    )

    since: JsonDateTime | None = Field(
        None, description="Only assessments created at or after this time (ISO 8601 with a time zone)."
    )
    until: JsonDateTime | None = Field(
        None, description="Only assessments created before this time (ISO 8601 with a time zone)."
    )
    limit: int = Field(
        1000,
        ge=1,
        le=MAX_IMPACT,
        description=f"At most this many of the latest assessments (1-{MAX_IMPACT}, default 1000).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be before `until`")
        return self


class LevelChange(BaseModel):
    from_level: str = Field(alias="from", description="The stored computed level, e.g. `medium`.")
    to_level: str = Field(alias="to", description="The level with this version, e.g. `high`.")
    count: int = Field(description="How many assessments move from `from` to `to`.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class RisingAssessment(BaseModel):
    assessment_id: str = Field(description="The id of an assessment whose level would rise.")
    from_level: str = Field(alias="from", description="Its stored computed level.")
    to_level: str = Field(alias="to", description="Its level with this version.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class UnscorableAssessment(BaseModel):
    assessment_id: str = Field(description="The id of an assessment this version cannot score.")
    errors: list[str] = Field(
        description="The items whose stored answers do not fit this version's questionnaire (item ids, no values), "
        "e.g. an item it requires that the earlier version answered did not ask."
    )


class RuleRef(BaseModel):
    id: str = Field(description="The rule's id in the rule set.")
    kind: str = Field(description="`term`, `band`, `trigger`, `floor`, `gap` or `action_rule`.")


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

    ruleset: ContentRef = Field(description="The rule-set version analysed.")
    questionnaire: ContentRef = Field(
        description="The questionnaire version it scores: stored assessments of this version and of earlier "
        "versions of the same questionnaire are re-scored."
    )
    assessed: int = Field(description="How many stored assessments were re-scored (unscorable ones aside).")
    changed: int = Field(description="How many would get another computed level.")
    matrix: list[LevelChange] = Field(
        description="Counts per pair (stored computed level, level with this version), unchanged pairs included."
    )
    rises: list[RisingAssessment] = Field(description="The assessments whose level would rise.")
    unscorable: list[UnscorableAssessment] = Field(
        description="The assessments whose stored answers this version cannot score."
    )
    rules_never_fired: list[RuleRef] = Field(description="The version's rules that fired on none of them.")
    limit: int = Field(description="The `limit` applied: at most this many of the latest assessments were re-scored.")
    truncated: bool = Field(description="True when more assessments matched than `limit`.")
    elapsed_ms: float = Field(description="How long the analysis took, in milliseconds.")


# --- current rule sets -----------------------------------------------------------------------------------------


class CurrentRuleSetRead(BaseModel):
    questionnaire_key: str = Field(description="The questionnaire key whose new assessments use this rule set.")
    ruleset: ContentRef = Field(description="The rule-set version new assessments of the questionnaire use.")
    source: Literal["organisation", "default"] = Field(
        description="`organisation`: chosen by you, or kept for you when a new shipped version was installed "
        "(`updated_by` `system`); `default`: the newest published shipped rule set."
    )
    updated_at: datetime | None = Field(description="When you chose it (ISO 8601, UTC); null for the default.")
    updated_by: str | None = Field(
        description="Who chose it: the `X-Acting-User`, else `client:<client id>`; `system` when installing a new "
        "shipped version kept the rule set you were using; null for the default."
    )


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

    items: list[CurrentRuleSetRead] = Field(description="One entry per questionnaire key that has a rule set.")


class CurrentRuleSetUpdate(StrictInput):
    """Adopt a published rule-set version (or roll back to an earlier one) for new assessments of its
    questionnaire key."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"ruleset": {"key": "online-harm-england", "version": 1}}},
    )

    ruleset: ContentRef = Field(description="The published rule-set version to use for new assessments.")
