"""National patient-number identifier systems: direct identifiers, refused as a case-id system and in a subject."""

from __future__ import annotations

import re

# Compared after `_normalised` (http and https alike, any case, trailing slashes dropped); besides these, any system
# that names `nhs-number` is refused.
NATIONAL_PATIENT_NUMBER_SYSTEMS = frozenset(
    {
        "fhir.nhs.uk/id/nhs-number",  # NHS number (England, Wales, Isle of Man): UK Core
        "fhir.nhs.net/id/nhs-number",  # its earlier spelling (NHS Digital's DSTU2/STU3 profiles)
        "urn:oid:2.16.840.1.113883.2.1.4.1",  # the NHS number's OID
        "hl7.org/fhir/sid/us-ssn",  # US Social Security number (HL7's identifier system)
        "urn:oid:2.16.840.1.113883.4.1",  # the US Social Security number's OID
        "hl7.org/fhir/sid/us-medicare",  # US Medicare number (HL7)
        "hl7.org/fhir/sid/us-mbi",  # US Medicare Beneficiary Identifier (HL7)
    }
)
_HTTP = re.compile(r"^https?://", re.IGNORECASE)


def _normalised(system: str) -> str:
    return _HTTP.sub("", system.strip()).rstrip("/").lower()


def is_national_patient_number_system(system: str) -> bool:
    """True for an NHS-number (or other national patient-number) identifier system, however spelt."""
    normalised = _normalised(system)
    return normalised in NATIONAL_PATIENT_NUMBER_SYSTEMS or "nhs-number" in normalised
