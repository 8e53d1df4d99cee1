"""Canonical URLs (identity, not addresses: nothing is served at them; GET /v1/fhir/<type>?url= resolves them).

Shipped content lives under SHIPPED_CANONICAL_BASE in every deployment, so a questionnaire means the same thing
across trusts; an organisation's own content under `<RISKAPI_PUBLIC_BASE_URL>/fhir`. Keys are unique across the
service (shipped and every organisation's), so a key names one document under either base.
"""

from __future__ import annotations

SHIPPED_CANONICAL_BASE = "https://riskapi.org.uk/fhir"

# The linkIds of what the export adds to our items (item and section ids are snake_case: they never hold a dot).
SECTION_SUFFIX = ".section"
UNKNOWN_SUFFIX = ".unknown"
HELP_SUFFIX = ".help"

YES_NO_UNKNOWN_SYSTEM = f"{SHIPPED_CANONICAL_BASE}/CodeSystem/yes-no-unknown"
YES_NO_UNKNOWN_VERSION = "1"
YES_NO_UNKNOWN_DISPLAY = {"yes": "Yes", "no": "No", "unknown": "Unknown"}


def canonical_base(owner_organisation_id: str | None, public_base_url: str) -> str:
    """The base of a document's canonicals: the fixed one for shipped content, else the deployment's."""
    if owner_organisation_id is None:
        return SHIPPED_CANONICAL_BASE
    return f"{public_base_url.rstrip('/')}/fhir"


def questionnaire_url(base: str, key: str) -> str:
    return f"{base}/Questionnaire/{key}"


def ruleset_url(base: str, key: str) -> str:
    return f"{base}/RuleSet/{key}"


def option_system(base: str, questionnaire_key: str, item_id: str) -> str:
    """The CodeSystem of one choice item's option codes (versioned with the questionnaire)."""
    return f"{base}/CodeSystem/{questionnaire_key}.{item_id}"


def levels_system(base: str, ruleset_key: str) -> str:
    """The CodeSystem of a rule set's levels (versioned with the rule set)."""
    return f"{base}/CodeSystem/{ruleset_key}.levels"
