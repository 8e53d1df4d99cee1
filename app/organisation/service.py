"""The organisation's FHIR settings: the identifier system of its pseudonymous case ids (docs/fhir.md)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth import service as auth_service
from app.auth.caller import Caller
from app.core.errors import FieldError, ValidationFailed
from app.fhir.identifiers import is_national_patient_number_system
from app.organisation.schemas import FhirSettingsRead

IDENTIFIER_SYSTEM_MAX_LENGTH = 2048  # the column's size (organisations.fhir_identifier_system)
CLI_ACTING_USER = "riskapi-cli"

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def identifier_system_problem(system: str) -> str | None:
    """Why `system` cannot be an organisation's case-id system, or None when it can."""
    if len(system) > IDENTIFIER_SYSTEM_MAX_LENGTH:
        return f"must be at most {IDENTIFIER_SYSTEM_MAX_LENGTH} characters"
    if not system or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in system):
        return "must be an absolute URI without spaces or control characters"
    if not _SCHEME.match(system):
        return "must be an absolute URI (with a scheme, e.g. https://your-trust.example/Id/case-reference)"
    parts = urlsplit(system)
    if parts.scheme.lower() in ("http", "https") and not parts.netloc:
        return "an http(s) URI needs a host"
    if parts.scheme.lower() not in ("http", "https") and not system.split(":", 1)[1]:
        return "must be an absolute URI with something after the scheme"
    if is_national_patient_number_system(system):
        return (
            "is a national patient-number system (NHS number or similar): a direct identifier, never a "
            "pseudonymous case id; use your organisation's own case-reference system"
        )
    return None


def read_fhir_settings(session: Session, organisation_id: str) -> FhirSettingsRead:
    return FhirSettingsRead(identifier_system=auth_service.fhir_identifier_system(session, organisation_id))


def set_identifier_system(
    session: Session, organisation_id: str, system: str, *, actor: Caller | None
) -> FhirSettingsRead:
    """Check and store the system, audited as `organisation.fhir_identifier_system_set` in the same transaction:
    `actor` is the admin over HTTP, None for the operator's CLI (acting user 'riskapi-cli')."""
    problem = identifier_system_problem(system)
    if problem is not None:
        raise ValidationFailed(
            f"identifier_system {problem}", errors=[FieldError(pointer="/identifier_system", detail=problem)]
        )
    previous = auth_service.fhir_identifier_system(session, organisation_id)
    auth_service.store_fhir_identifier_system(session, organisation_id, system)
    details = {"identifier_system": system, "previous": previous}
    action, resource_type = "organisation.fhir_identifier_system_set", "organisation"
    if actor is not None:
        audit.record(
            session,
            caller=actor,
            action=action,
            resource_type=resource_type,
            resource_id=organisation_id,
            details=details,
        )
    else:
        audit.record_system(
            session,
            organisation_id=organisation_id,
            acting_user=CLI_ACTING_USER,
            action=action,
            resource_type=resource_type,
            resource_id=organisation_id,
            details=details,
        )
    return FhirSettingsRead(identifier_system=system)
