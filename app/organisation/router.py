"""The organisation's settings: which rule set new assessments use, per questionnaire key; its FHIR identifier
system."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.caller import Caller
from app.auth.dependencies import Authorize
from app.auth.permissions import Operation
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import BadRequest, Forbidden, NotFound, Unauthenticated, ValidationFailed, problem_responses
from app.organisation import service
from app.organisation.schemas import FhirSettingsRead, FhirSettingsUpdate
from app.rulesets import service as ruleset_service
from app.rulesets.schemas import CurrentRuleSetList, CurrentRuleSetRead, CurrentRuleSetUpdate

router = APIRouter(prefix="/v1/organisation", tags=["organisation"])
Reader = Annotated[Caller, Depends(Authorize(Operation.read_content))]
Publisher = Annotated[Caller, Depends(Authorize(Operation.publish_content))]
Admin = Annotated[Caller, Depends(Authorize(Operation.manage_organisation))]
COMMON = problem_responses(BadRequest, Unauthenticated, Forbidden, ValidationFailed)


@router.get("/current-rulesets", responses=COMMON)
def list_current_rulesets(caller: Reader, session: SessionDep) -> CurrentRuleSetList:
    """Per questionnaire key, the rule set that new assessments naming no version use: your choice, else the
    newest published shipped rule set."""
    return ruleset_service.current_rulesets(session, caller.organisation_id)


@router.put("/current-rulesets", responses={**COMMON, **problem_responses(NotFound)})
def set_current_ruleset(
    body: CurrentRuleSetUpdate, caller: Publisher, session: SessionDep, settings: SettingsDep
) -> CurrentRuleSetRead:
    """Adopt a published rule-set version for its questionnaire key, or roll back to an earlier published one.
    Stored assessments keep the version they were scored with. Audited."""
    return ruleset_service.set_current_ruleset(
        session, caller, body.ruleset.key, body.ruleset.version, base_url=settings.base_url
    )


@router.get("/fhir", responses=COMMON)
def get_fhir_settings(caller: Reader, session: SessionDep) -> FhirSettingsRead:
    """Your organisation's FHIR settings: the identifier system of your case ids (`subject_ref`) in FHIR, null
    until an admin sets it (docs/fhir.md)."""
    return service.read_fhir_settings(session, caller.organisation_id)


@router.put("/fhir", responses=COMMON)
def set_fhir_settings(body: FhirSettingsUpdate, caller: Admin, session: SessionDep) -> FhirSettingsRead:
    """Set the identifier system of your case ids in FHIR: an absolute URI of your own pseudonymous case-reference
    system (at most 2048 characters). NHS-number systems (any spelling) and other national patient-number systems
    are refused with a 422. QuestionnaireResponses must name their subject in this system; assessments read as FHIR
    show it. Audited as `organisation.fhir_identifier_system_set`."""
    return service.set_identifier_system(session, caller.organisation_id, body.identifier_system, actor=caller)
