"""Named test seams: points in a use case where a test, through the app's Settings, can hold one request while
another reaches a chosen point, so that a race is forced instead of hoped for. Production leaves every seam None.

A seam's name and contract are stable: a rewrite of the code around one keeps calling it at the same point.
"""

from __future__ import annotations

from collections.abc import Callable

StateReadSeam = Callable[[str, str], None]
"""`Settings.state_read_seam(operation, assessment_id)`: called once per state-changing request on an assessment
(`operation` is the audit action: "assessment.amend", "assessment.override" or "assessment.entered_in_error"),
in the request's thread and session, immediately before the statement that locks the assessment and reads its state
(superseded by, overrides, entered-in-error mark), and before that request's first statement on its session. It may
block for as long as it likes; whatever it returns, the request then reads the state and goes on as usual."""
