"""The level orders the fan-out's `matches` (app/webhooks/service.py) ranks events by, read once per rule-set
version."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.rulesets.models import RuleSetVersion

LevelOrderOf = Callable[[str, int], Sequence[str]]


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
