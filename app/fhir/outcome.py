"""Problems as a FHIR OperationOutcome, for requests whose Accept (or `_format`) asks for FHIR (docs/fhir.md).

The status code stays the problem's. Each field error becomes one issue: severity `error`, a code from the status
(and the field), `diagnostics` = what is wrong, and where it is: for a QuestionnaireResponse body, `expression` is a
FHIRPath into it, either the element's indexed path (`QuestionnaireResponse.item[0].item[2].answer[0].valueCoding`)
or, for an item the answer checks name that the document does not hold,
`QuestionnaireResponse.repeat(item).where(linkId='<item id>')`. For any other body or a parameter there is no FHIRPath
to give: the JSON pointer (or parameter) leads `diagnostics` instead. A problem without field errors is one issue.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
from fastapi import Request, Response

from app.fhir.media import fhir_response, wants_fhir

# Set by the create body dependency when the body is a QuestionnaireResponse: item id -> JSON pointer of the item
# of the document that holds its answer (the answer checks name items by id, as `/answers/<item id>`).
QUESTIONNAIRE_RESPONSE_ITEMS_KEY = "riskapi.fhir.questionnaire_response_items"
ANSWERS_PREFIX = "/answers/"
# The create model's fields a QuestionnaireResponse stands for (rule-set resolution names them): its elements.
CREATE_FIELD_ELEMENTS = {"questionnaire": "/questionnaire", "ruleset": "/questionnaire", "subject_ref": "/subject"}
MISSING_PREFIX = "required item is missing"

ISSUE_CODES = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    431: "too-long",
    503: "transient",
}


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def fhirpath_of_pointer(pointer: str) -> str:
    """`/item/0/answer/1/valueCoding` -> `QuestionnaireResponse.item[0].answer[1].valueCoding`."""
    path = "QuestionnaireResponse"
    for segment in pointer.split("/")[1:] if pointer else []:
        name = _unescape(segment)
        path += f"[{name}]" if name.isdigit() else f".{name}"
    return path


def _item_expression(item_id: str, items: Mapping[str, str]) -> str:
    located = items.get(item_id)
    if located is not None:
        return fhirpath_of_pointer(located)
    quoted = item_id.replace("\\", "\\\\").replace("'", "\\'")
    return f"QuestionnaireResponse.repeat(item).where(linkId='{quoted}')"


def _code(status: int, error: Mapping[str, Any]) -> str:
    if status == 422:
        detail = str(error.get("detail", ""))
        if detail.startswith(MISSING_PREFIX):
            return "required"
        if error.get("location", "body") != "body" or "outside the allowed range" in detail:
            return "value"
        return "invalid"
    if status == 400 and error.get("location", "body") != "body":
        return "invalid"
    return ISSUE_CODES.get(status, "exception")


def _issue(status: int, error: Mapping[str, Any], items: Mapping[str, str] | None) -> dict[str, Any]:
    pointer, detail = str(error.get("pointer", "")), str(error.get("detail", ""))
    location = str(error.get("location", "body"))
    issue: dict[str, Any] = {"severity": "error", "code": _code(status, error)}
    if location == "body" and items is not None:
        if pointer.startswith(ANSWERS_PREFIX) and pointer.count("/") == 2:
            issue["expression"] = [_item_expression(_unescape(pointer.removeprefix(ANSWERS_PREFIX)), items)]
        elif not pointer.startswith(ANSWERS_PREFIX):
            field = pointer.split("/")[1] if pointer else ""
            issue["expression"] = [fhirpath_of_pointer(CREATE_FIELD_ELEMENTS.get(field, pointer))]
    where = pointer if location == "body" else f"{location} {pointer.lstrip('/')}"
    issue["diagnostics"] = detail if "expression" in issue else f"{where or '(the body)'}: {detail}"
    return issue


def outcome_from_problem(problem: Mapping[str, Any], items: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The OperationOutcome (a JSON-ready dict, checked by the R4B model) of an RFC 9457 problem document;
    `items` when the request's body was a QuestionnaireResponse (see QUESTIONNAIRE_RESPONSE_ITEMS_KEY)."""
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    status = int(problem.get("status", 500))
    summary = str(problem.get("detail") or problem.get("title") or "error")
    issues = [_issue(status, error, items) for error in problem.get("errors") or []]
    if not issues:
        issues = [{"severity": "error", "code": ISSUE_CODES.get(status, "exception"), "diagnostics": summary}]
    kind = f"{problem.get('title', '')} ({problem.get('type', '')})"
    for issue in issues:
        issue["details"] = {"text": kind}
    resource: dict[str, Any] = {"resourceType": "OperationOutcome", "issue": issues}
    dumped: dict[str, Any] = OperationOutcome.model_validate(resource).model_dump(mode="json", exclude_none=True)
    return dumped


def negotiate(scope: MutableMapping[str, Any], problem: Response) -> Response:
    """The problem response as an OperationOutcome (`application/fhir+json`, same status and headers) when the
    request asked for FHIR; as it is otherwise. The app's error handlers and the middleware call it for every
    problem (app/core/errors.py `negotiated`)."""
    if scope.get("type") != "http" or not wants_fhir(Request(scope)):
        return problem
    document = orjson.loads(bytes(problem.body))
    outcome = outcome_from_problem(document, scope.get(QUESTIONNAIRE_RESPONSE_ITEMS_KEY))
    headers = {
        name: value
        for name, value in problem.headers.items()
        if name.lower() not in ("content-type", "content-length", "vary")
    }
    return fhir_response(outcome, status_code=problem.status_code, headers=headers)
