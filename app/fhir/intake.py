"""A QuestionnaireResponse read into the terms of a JSON create (docs/fhir.md): the organisation's identifier
system and the questionnaire its canonical names, from the database; the reading itself is app/fhir/response.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.core.errors import FhirNotConfigured, FieldError, ValidationFailed
from app.fhir.canonical import canonical_base
from app.fhir.identifiers import is_national_patient_number_system
from app.fhir.response import (
    ResponseAnswers,
    answers_from_response,
    check_structure,
    direct_identifier_errors,
    questionnaire_canonical,
)
from app.questionnaires import service as questionnaire_service
from app.scoring import DefinitionError


def read_questionnaire_response(
    session: Session, organisation_id: str, document: Any, *, public_base_url: str
) -> ResponseAnswers:
    """The answers of a QuestionnaireResponse sent to create an assessment, checked in the order of
    app/fhir/response.py: structure 400, direct identifiers 422, no identifier system 409, the rest 422."""
    if not isinstance(document, dict):
        detail = f"expected a QuestionnaireResponse object, got {type(document).__name__}"
        raise ValidationFailed(detail, errors=[FieldError(pointer="", detail=detail)])
    check_structure(document)
    refused = direct_identifier_errors(document, is_national_patient_number_system)
    if refused:
        count = len(refused)
        raise ValidationFailed(
            f"{count} element{'s' if count != 1 else ''} could identify a person directly and "
            f"{'are' if count != 1 else 'is'} refused; nothing was stored",
            errors=refused,
        )
    identifier_system = auth_service.fhir_identifier_system(session, organisation_id)
    if identifier_system is None:
        raise FhirNotConfigured("Set your organisation's FHIR identifier system first: PUT /v1/organisation/fhir")
    own_base = canonical_base(organisation_id, public_base_url)
    canonical = questionnaire_canonical(document, own_base)
    not_ours = (
        f"{document['questionnaire']!r}: no questionnaire {canonical.key} version {canonical.version} is visible to "
        "your organisation under this canonical"
    )
    try:
        found = questionnaire_service.model_with_owner(session, organisation_id, canonical.key, canonical.version)
    except DefinitionError:
        found = None
    if found is None or canonical_base(found[0], public_base_url) != canonical.base:
        raise ValidationFailed(not_ours, errors=[FieldError(pointer="/questionnaire", detail=not_ours)])
    return answers_from_response(document, found[1], base=canonical.base, identifier_system=identifier_system)
