"""Imports every ORM model so Base.metadata is complete (Alembic autogenerate and `alembic check`)."""

from app.assessments import models as assessment_models  # noqa: F401
from app.audit import models as audit_models  # noqa: F401
from app.auth import models as auth_models
from app.core import ratelimit
from app.core.db import Base
from app.events import models as event_models  # noqa: F401
from app.questionnaires import models as questionnaire_models
from app.rulesets import models as ruleset_models
from app.verifiable_log import models as verifiable_log_models  # noqa: F401
from app.webhooks import models as webhook_models  # noqa: F401

__all__ = ["Base", "auth_models", "questionnaire_models", "ratelimit", "ruleset_models"]
