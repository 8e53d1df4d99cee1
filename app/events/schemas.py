"""Response models of the changes feed: each item is the event's envelope, the same object a webhook body is."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_CURSOR = "WzEsImV2ZW50cyIsWzQyXSwiMzM2MjEzNmQ3YzdhOTkzMiJd"  # after sequence 42 of the example organisation
EXAMPLE_OLDEST_CURSOR = "WzEsImV2ZW50cyIsWzEwNDFdLCIwM2RkNDNiMzMxMjM5YTRiIl0"  # after sequence 1041

EXAMPLE_EVENT: dict[str, Any] = {
    "id": "0f4e2b9c-3a7d-4c51-8e6f-2d1b9a7c5e30",
    "type": "assessment.created",
    "timestamp": "2026-12-07T09:14:03.512907Z",
    "organisation_id": "6a1f0c2e-9b4d-4e7a-8c3f-1d2e5b7a9c04",
    "sequence": 42,
    "data": {
        "assessment_id": "c0a8012e-7b0e-4d8f-a9f2-5a3e1f2b9c44",
        "computed_level": "immediate",
        "level": "immediate",
        "ruleset": {"key": "online-harm-england", "version": 1},
        "links": {"assessment": "https://riskapi.example.org/v1/assessments/c0a8012e-7b0e-4d8f-a9f2-5a3e1f2b9c44"},
    },
}


class EventRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_EVENT]})

    id: str = Field(
        description="The event's id (a UUID): the `webhook-id` of its deliveries, so a duplicate can be recognised."
    )
    type: str = Field(
        description="What changed: `assessment.created`, `assessment.revised`, `assessment.overridden`, "
        "`assessment.entered_in_error`, `assessment.review_due`, `ruleset.published`, "
        "`organisation.current_ruleset_changed` or `webhook.endpoint_disabled`."
    )
    timestamp: str = Field(
        description="When the change happened (ISO 8601, UTC, `Z`); order events by `sequence`, not by this.",
        json_schema_extra={"format": "date-time"},
    )
    organisation_id: str = Field(description="The organisation the event belongs to (yours).")
    sequence: int = Field(
        description="The event's position in your organisation's feed, from 1: gapless and in commit order."
    )
    data: dict[str, Any] = Field(
        description="Thin details of the change: ids, levels (`computed_level` and the final `level`), rule-set "
        "key and version, `links` to fetch the rest through the audited API. Never a subject_ref, answers or free "
        "text (docs/events.md lists each type's fields)."
    )


class EventPage(BaseModel):
    """A page of the changes feed, in sequence order."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [EXAMPLE_EVENT], "next_cursor": EXAMPLE_CURSOR, "has_more": False}]}
    )

    items: list[EventRead] = Field(description="The events after the cursor, at most `limit`, oldest first.")
    next_cursor: str = Field(
        description="Always present: send it as `cursor` for the events after this page. Store it: on an empty "
        "page it is the cursor you sent (or, without one, a cursor from the start), so polling resumes where it "
        "stopped."
    )
    has_more: bool = Field(description="True when more events follow this page now: poll again at once.")
