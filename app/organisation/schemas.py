"""Request and response models of the organisation's FHIR settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.core.strict_input import StrictInput

DEMO_IDENTIFIER_SYSTEM = "https://example.org/riskapi-demo/case-reference"
IDENTIFIER_SYSTEM_DESCRIPTION = (
    "The absolute URI of your organisation's own pseudonymous case-id system: in FHIR, a subject is "
    "`{system: <this>, value: <subject_ref>}`. At most 2048 characters; NHS-number and other national "
    "patient-number systems are refused (docs/fhir.md)."
)


class FhirSettingsUpdate(StrictInput):
    """Set the identifier system of your case ids in FHIR."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"identifier_system": DEMO_IDENTIFIER_SYSTEM}}
    )

    identifier_system: str = Field(description=IDENTIFIER_SYSTEM_DESCRIPTION)


class FhirSettingsRead(BaseModel):
    """The organisation's FHIR settings."""

    model_config = ConfigDict(json_schema_extra={"example": {"identifier_system": DEMO_IDENTIFIER_SYSTEM}})

    identifier_system: str | None = Field(
        description=f"{IDENTIFIER_SYSTEM_DESCRIPTION} Null until an admin sets it: FHIR creates are then a 409."
    )
