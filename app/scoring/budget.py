"""A deterministic work budget for the checks of a definition: counted steps, never wall-clock time.

A step is one condition node (or `in` value) visited by a static check, one rule, item, band or term looked at,
or, for each embedded test run, the size of the evaluation it costs (`CompiledRuleSet.evaluation_steps`). The same
document always costs the same number of steps, so a refusal is reproducible (docs/rule-language.md).
"""

from __future__ import annotations

from app.scoring.errors import WorkLimitExceeded


class StepBudget:
    """Counts steps; `spend` raises `WorkLimitExceeded` (pointing where the work was) once they pass `limit`."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, steps: int, pointer: str) -> None:
        self.used += steps
        if self.used > self.limit:
            raise WorkLimitExceeded(self.limit, pointer)


def unlimited() -> StepBudget:
    """A budget that only counts (direct callers of the engine, such as the CLI and the compiler's own check)."""
    return StepBudget(limit=2**63)
