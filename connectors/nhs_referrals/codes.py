"""Identifier systems, extension URLs and code maps the FHIR referral intake understands.

Kept in one module so the contract with partner systems can be read in one place (and is
repeated in README.md beside this file).

Source of referral. FHIR R4 has no element for it, so it arrives as an extension. Two are read:

1. UK Core's ``Extension-UKCore-SourceOfServiceRequest`` (valueCodeableConcept, SNOMED CT from
   the "Referred by person" and "Self-referral" hierarchies). It names the *person* who referred,
   so it is mapped to the hub's categories by the table below; a code not in the table maps to
   OTHER with the original code kept and a flag raised.
2. Care Hub's own ``Extension-CareHub-SourceOfReferral`` (valueCode from
   `CARE_HUB_SOURCE_OF_REFERRAL_CODES`), for senders that can state the category directly —
   including hospital discharge and third-sector referrals, which the UK Core value set cannot
   express.

When both are present Care Hub's wins (it is the sender's explicit statement of the category);
when neither is, the source is OTHER and the referral carries a flag.
"""

from __future__ import annotations

from typing import Final

from connectors.records.referral import ReferralSource

NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"
ODS_ORGANISATION_SYSTEM: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
# NHS England's own BaRS examples spell the ODS system with a lower-case "id". FHIR system URIs
# are case-sensitive, but refusing the spelling the national standard's examples use would turn
# away conformant senders; both spellings name the same ODS code system.
ODS_ORGANISATION_SYSTEMS: Final = frozenset(
    {ODS_ORGANISATION_SYSTEM, "https://fhir.nhs.uk/id/ods-organization-code"}
)
# e-RS Unique Booking Reference Number: preferred as the de-duplication key when present.
UBRN_SYSTEM: Final = "https://fhir.nhs.uk/Id/UBRN"
# The system of an identifier that is itself a URI (RFC 3986). A BaRS ServiceRequest carries no
# identifier; its UUID (``id``, or the entry's ``urn:uuid:`` fullUrl) names the referral for the
# whole BaRS exchange, so the hub keys a resend on it in this system.
URI_IDENTIFIER_SYSTEM: Final = "urn:ietf:rfc:3986"
SNOMED_SYSTEM: Final = "http://snomed.info/sct"

NHS_NUMBER_VERIFICATION_EXTENSION: Final = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
INTERPRETER_REQUIRED_EXTENSION: Final = (
    "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"
)
UK_CORE_SOURCE_OF_REFERRAL_EXTENSION: Final = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-SourceOfServiceRequest"
)

# Canonical base for the artefacts Care Hub defines itself. Partner systems put these URLs in
# their payloads, so the value is part of the published contract (README.md) and must not change
# once partners use it.
CARE_HUB_FHIR_BASE: Final = "https://fhir.care-hub.org.uk"
CARE_HUB_SOURCE_OF_REFERRAL_EXTENSION: Final = (
    f"{CARE_HUB_FHIR_BASE}/StructureDefinition/Extension-CareHub-SourceOfReferral"
)
CARE_HUB_REFERRAL_ID_SYSTEM: Final = f"{CARE_HUB_FHIR_BASE}/Id/referral"
CARE_HUB_TRIAGE_STATUS_SYSTEM: Final = f"{CARE_HUB_FHIR_BASE}/CodeSystem/referral-triage-status"
CARE_HUB_ISSUE_SYSTEM: Final = f"{CARE_HUB_FHIR_BASE}/CodeSystem/referral-intake-issue"

CARE_HUB_SOURCE_OF_REFERRAL_CODES: Final[dict[str, ReferralSource]] = {
    "gp": ReferralSource.GP,
    "hospital-discharge": ReferralSource.HOSPITAL_DISCHARGE,
    "social-care": ReferralSource.SOCIAL_CARE,
    "self": ReferralSource.SELF,
    "third-sector": ReferralSource.THIRD_SECTOR,
    "other": ReferralSource.OTHER,
}

# UK Core source-of-referral SNOMED CT codes → hub category. Hospital clinicians map to hospital
# discharge because a referral from secondary care into community or social care is, in practice,
# a discharge referral; carers and family map to SELF as the Urgent Community Response returns
# count "the person, their carer or relative" together. Everything else (community nurses,
# pharmacists, dentists…) stays OTHER, with the original code kept on the record.
UK_CORE_SOURCE_OF_REFERRAL_SNOMED: Final[dict[str, ReferralSource]] = {
    "108161000000109": ReferralSource.GP,  # Referred by general practitioner
    "185359002": ReferralSource.GP,  # Referred by another GP
    "2021000124102": ReferralSource.GP,  # Referred by primary care physician
    "276491000": ReferralSource.GP,  # Referred by member of Primary Health Care Team
    "185360007": ReferralSource.HOSPITAL_DISCHARGE,  # Referred by hospital doctor
    "312357002": ReferralSource.HOSPITAL_DISCHARGE,  # Referred by consultant
    "2031000124104": ReferralSource.HOSPITAL_DISCHARGE,  # Referred by specialist physician
    "185365002": ReferralSource.SOCIAL_CARE,  # Referred by social worker
    "1991000124105": ReferralSource.SELF,  # Referred by self
    "310434002": ReferralSource.SELF,  # Self-referral to service
    "1065391000000104": ReferralSource.SELF,  # Referred by carer
    "185373006": ReferralSource.SELF,  # Referred by family
}

# NHS Booking and Referral Standard (BaRS) message vocabulary.
BARS_MESSAGE_EVENT_SYSTEM: Final = "https://fhir.nhs.uk/CodeSystem/message-events-bars"
BARS_REFERRAL_REQUEST_EVENT: Final = "servicerequest-request"

# FHIR R4 required value sets that fhir.resources does not enforce (it checks types, not codes).
REQUEST_STATUS_CODES: Final = frozenset(
    {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
)
REQUEST_INTENT_CODES: Final = frozenset(
    {
        "proposal",
        "plan",
        "directive",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    }
)
REQUEST_PRIORITY_CODES: Final = frozenset({"routine", "urgent", "asap", "stat"})
BUNDLE_TYPE_CODES: Final = frozenset(
    {
        "document",
        "message",
        "transaction",
        "transaction-response",
        "batch",
        "batch-response",
        "history",
        "searchset",
        "collection",
    }
)
