"""What the OpenAPI document says about access, derived from each route's policy and GRANTS (never written per
route): the roles that may call an operation (and those some of its requests need), and whether it requires
X-Acting-User."""

from __future__ import annotations

from typing import Any

from fastapi.dependencies.models import Dependant

from app.auth.dependencies import Authorize, AuthorizeWhen, Public, conditional_policies, route_policy
from app.auth.permissions import granting_roles

PUBLIC_PARAGRAPH = "**Public:** no API key needed."

ACTING_USER_REQUIRED = (
    "Required on this operation (case data): the opaque id of the professional on whose behalf your system calls,"
    " 1-256 characters (an id from your system, not a name). It is kept with what the request stores and in the"
    " audit trail. Checked after the API key: a request without it is a 400."
)
ACTING_USER_OPTIONAL = (
    "Optional on this operation: the opaque id of the professional on whose behalf your system calls, 1-256"
    " characters. When sent, it is recorded in the audit trail with any event the request writes."
)


def roles_paragraph(policy: Authorize) -> str:
    roles = ", ".join(f"`{role.value}`" for role in granting_roles(policy.operation))
    return f"**Roles:** {roles} (operation `{policy.operation.value}`)."


def conditional_paragraph(policy: AuthorizeWhen) -> str:
    roles = ", ".join(f"`{role.value}`" for role in granting_roles(policy.operation))
    return (
        f"**With {policy.when}:** also operation `{policy.operation.value}`, granted to {roles}; a key without it"
        " gets a 403."
    )


def describe_access(dependant: Dependant, operation: dict[str, Any]) -> None:
    """Ends the operation's description with who may call it (any further operation some requests need, then the
    route's own) and sets whether X-Acting-User is required."""
    policy = route_policy(dependant)
    if isinstance(policy, Authorize):
        for further in conditional_policies(dependant):
            _append_paragraph(operation, conditional_paragraph(further))
        _append_paragraph(operation, roles_paragraph(policy))
        _document_acting_user(operation, required=policy.case_data)
    elif isinstance(policy, Public):
        _append_paragraph(operation, PUBLIC_PARAGRAPH)


def _append_paragraph(operation: dict[str, Any], paragraph: str) -> None:
    description = str(operation.get("description", "")).rstrip()
    operation["description"] = f"{description}\n\n{paragraph}" if description else paragraph


def _document_acting_user(operation: dict[str, Any], *, required: bool) -> None:
    # The dependency declares the header optional for every route: were it required there, FastAPI would refuse a
    # request without it (422) before the key is checked, and an unauthenticated request must get its 401 first.
    # Authorize enforces it on case data after authorisation; this says so operation by operation.
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name", "").lower() == "x-acting-user":
            description = ACTING_USER_REQUIRED if required else ACTING_USER_OPTIONAL
            parameter["required"] = required
            parameter["description"] = description
            schema = parameter.setdefault("schema", {})
            schema.pop("anyOf", None)  # string or null: a header is never null, it is sent or not
            schema.update(type="string", minLength=1, maxLength=256, description=description)
