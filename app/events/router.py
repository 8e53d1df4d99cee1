"""HTTP endpoint of the changes feed: the organisation's events after a cursor, in commit order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from app.audit.routing import AuditRefusals
from app.auth.caller import Caller
from app.auth.dependencies import Authorize
from app.auth.permissions import Operation
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import (
    PROBLEM_MEDIA_TYPE,
    BadRequest,
    CursorExpired,
    Forbidden,
    Unauthenticated,
    ValidationFailed,
    problem_responses,
)
from app.core.pagination import DEFAULT_PAGE_SIZE, MAX_CURSOR_CHARS, LimitQuery
from app.events import service
from app.events.schemas import EXAMPLE_OLDEST_CURSOR, EventPage

router = APIRouter(prefix="/v1/events", tags=["events"], dependencies=[AuditRefusals])
Reader = Annotated[Caller, Depends(Authorize(Operation.read_assessments))]


def _responses() -> dict[int | str, dict[str, Any]]:
    responses = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed, CursorExpired)
    gone = responses[CursorExpired.status]["content"][PROBLEM_MEDIA_TYPE]["examples"][CursorExpired.kind]
    gone["value"] = {**gone["value"], "instance": "/v1/events", "oldest_cursor": EXAMPLE_OLDEST_CURSOR}
    return responses


FeedCursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_CHARS,
        description="The `next_cursor` of your last page (opaque): the events after it. Omit to start from the "
        "oldest event kept. A cursor before the oldest kept event is a 410 naming `oldest_cursor`.",
    ),
]


@router.get("", responses=_responses())
def list_events(
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    cursor: FeedCursor = None,
    limit: LimitQuery = DEFAULT_PAGE_SIZE,
) -> EventPage:
    """The changes feed: your organisation's events after `cursor`, in commit order (`sequence`), each the same
    envelope a webhook delivers.

    `next_cursor` is always present: store it and send it as `cursor` next time (after an empty page it is the
    cursor you sent); `has_more` says whether to poll again at once. A poller never misses an event: sequences are
    gapless and commit in order. Events are kept RISKAPI_EVENT_RETENTION_DAYS (default 30): a cursor pointing
    before the oldest kept event is a 410 `/problems/cursor-expired` whose `oldest_cursor` is the oldest cursor
    still accepted. A machine poller sends its system user as `X-Acting-User`. Each page is audited naming every
    assessment and subject_ref on it.
    """
    return service.changes(session, caller, cursor=cursor, limit=limit, retention_days=settings.event_retention_days)
