"""Which endpoints an event goes to: the event type subscribed, and `min_levels` (per rule set, the lowest final
level delivered, in that rule-set version's level order). Events of a rule set the list does not name, and events
without a level, are always delivered, so a rule set with its own levels never loses its urgent events."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.rulesets.models import RuleSetVersion
from app.webhooks.models import WebhookEndpoint

LevelOrderOf = Callable[[str, int], Sequence[str]]


def matches(endpoint: WebhookEndpoint, event_type: str, data: dict[str, Any], level_order_of: LevelOrderOf) -> bool:
    """The endpoint subscribes to the event: its type, and its level when the endpoint names the event's rule set."""
    if event_type not in endpoint.event_types:
        return False
    ruleset = data.get("ruleset")
    level = data.get("level")
    if not isinstance(ruleset, dict) or not isinstance(level, str):
        return True
    for minimum in endpoint.min_levels or ():
        if minimum.get("ruleset_key") != ruleset.get("key"):
            continue
        order = list(level_order_of(str(ruleset.get("key")), int(ruleset.get("version", 0))))
        wanted = minimum.get("level")
        if level not in order or wanted not in order:
            return True  # a version without the named level cannot rank it: deliver rather than lose it
        return order.index(level) >= order.index(wanted)
    return True


class LevelOrders:
    """Each rule-set version's `levels` (least to most concerning), read once: published content never changes."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int], tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def bound_to(self, session: Session) -> LevelOrderOf:
        def level_order_of(key: str, version: int) -> Sequence[str]:
            with self._lock:
                if (key, version) in self._known:
                    return self._known[(key, version)]
            document = session.execute(
                select(RuleSetVersion.document).where(RuleSetVersion.key == key, RuleSetVersion.version == version)
            ).scalar_one_or_none()
            levels = document.get("levels") if isinstance(document, dict) else None
            order = tuple(v for v in levels if isinstance(v, str)) if isinstance(levels, list) else ()
            if order:  # an unknown version may be stored later; a known one never changes
                with self._lock:
                    self._known[(key, version)] = order
            return order

        return level_order_of
