"""The CapabilityStatement served at ``GET /fhir/metadata``: what this endpoint does, for the
partner developer (and their tooling) before they write a line of code.

Kept beside the routes it describes and checked against them by a test, so it cannot advertise
an interaction the hub does not serve.
"""

from __future__ import annotations

from typing import Any

import hub
from connectors.nhs_referrals.codes import CARE_HUB_FHIR_BASE, UBRN_SYSTEM

FHIR_VERSION = "4.0.1"
# When what this statement says last changed (change it with the statement).
PUBLISHED = "2026-11-23"
MESSAGE_DEFINITION = (
    "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral"
)


def capability_statement(*, base_url: str) -> dict[str, Any]:
    """The statement as JSON; `base_url` is the endpoint's address as the caller reached it."""
    return {
        "resourceType": "CapabilityStatement",
        "url": f"{CARE_HUB_FHIR_BASE}/CapabilityStatement/care-hub-referrals",
        "name": "CareHubReferralIntake",
        "title": "Care Hub referral intake",
        "status": "active",
        "date": PUBLISHED,
        "publisher": "Care Hub",
        "description": "Receives referrals into community and social care (UK Core "
        "ServiceRequest with its Patient, or an NHS Booking and Referral Standard message) and "
        "answers partners' questions about their progress as a Task. Problems are answered "
        "with an OperationOutcome naming the exact element.",
        "kind": "instance",
        "software": {"name": "Care Hub", "version": hub.__version__},
        "implementation": {"description": "Care Hub FHIR R4 endpoint", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "OAuth2 client credentials: a bearer token of a partner "
                "client with scope referrals:write (to send) or referrals:read (to read). A "
                "re-sent referral (same identifier) is applied once and answered with the "
                "referral already held.",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "OAuth",
                                }
                            ]
                        }
                    ],
                    "description": "Bearer tokens (RFC 6750); 401 without one, 403 without the "
                    "scope, both as OperationOutcome.",
                },
                "resource": [
                    {
                        "type": "ServiceRequest",
                        "profile": "https://fhir.hl7.org.uk/StructureDefinition/"
                        "UKCore-ServiceRequest",
                        "documentation": "POST a ServiceRequest whose subject is a contained "
                        "Patient, or a 'collection' / 'transaction' Bundle holding the "
                        "ServiceRequest and the resources it references. Name the provider in "
                        "performer (an Organization's ODS code). GET returns the referral as "
                        f"it was received. The identifier ({UBRN_SYSTEM} preferred) is the "
                        "de-duplication key.",
                        "interaction": [{"code": "create"}, {"code": "read"}],
                    },
                    {
                        "type": "Task",
                        "documentation": "The hub's progress on a referral: status, "
                        "businessStatus (the hub's triage state), owner, restriction.period.end "
                        "(the maximum safe wait).",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {
                                "name": "focus",
                                "type": "reference",
                                "documentation": "ServiceRequest/<id> as answered on receipt.",
                            },
                            {
                                "name": "identifier",
                                "type": "token",
                                "documentation": "system|value of the referral's own identifier "
                                "(e.g. its UBRN).",
                            },
                        ],
                    },
                ],
                "operation": [
                    {
                        "name": "process-message",
                        "definition": "http://hl7.org/fhir/OperationDefinition/"
                        "MessageHeader-process-message",
                        "documentation": "A BaRS referral request message (event "
                        "servicerequest-request): MessageHeader first, focus = the "
                        "ServiceRequest; the provider is performer or destination.receiver.",
                    }
                ],
            }
        ],
        "messaging": [
            {
                "documentation": "Synchronous $process-message.",
                "supportedMessage": [{"mode": "receiver", "definition": MESSAGE_DEFINITION}],
            }
        ],
    }
