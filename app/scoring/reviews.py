"""Review dates: a level's review interval in a rule set, and the review date after a supervisor's override.

An assessment's own review date is its creation time plus its computed level's `review_within_days`. An override
never removes or postpones a review: the review date after it is the earlier of the date in force before it and
the override's time plus the interval of the level it sets. A missing interval (no policy for the level, or
`review_within_days: null`) takes no part; the date is null only when neither side has one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.scoring.models import RuleSet


def review_within_days(ruleset: RuleSet, level: str) -> int | None:
    """The level's review interval in days, or None when the rule set sets none for it."""
    policy = ruleset.level_policies.get(level)
    return policy.review_within_days if policy is not None else None


def review_by_after_override(before: datetime | None, overridden_at: datetime, days: int | None) -> datetime | None:
    """The review date in force after an override made at `overridden_at` that sets a level reviewed within `days`
    days, when `before` was the review date in force before it."""
    own = overridden_at + timedelta(days=days) if days is not None else None
    defined = [date for date in (before, own) if date is not None]
    return min(defined) if defined else None
