"""The partner README names every element the hub refuses a referral without, and the routing
rule, so a partner never learns a requirement from a refusal alone."""

from __future__ import annotations

from pathlib import Path

from connectors.nhs_referrals import codes

README = (Path(__file__).parents[2] / "connectors" / "nhs_referrals" / "README.md").read_text(
    encoding="utf-8"
)

# Each element a refusal can point at for something missing or not allowed, and the values it
# must take; kept here beside the rules in connectors/nhs_referrals/intake.py and
# src/hub/fhir/service.py (provider routing).
REQUIRED = (
    "application/fhir+json",
    "POST /fhir/ServiceRequest",
    "POST /fhir/$process-message",
    "`ServiceRequest.status`",
    "`active`",
    "`ServiceRequest.intent`",
    "`ServiceRequest.doNotPerform`",
    "`ServiceRequest.subject`",
    "`ServiceRequest.identifier`",
    "`urn:uuid:<uuid>`",
    "`ServiceRequest.performer`",
    "`MessageHeader.destination.receiver`",
    "`focus[0]`",
    codes.BARS_REFERRAL_REQUEST_EVENT,
    codes.UBRN_SYSTEM,
    *sorted(codes.ODS_ORGANISATION_SYSTEMS),
    "referrer-not-sender",
)


def test_the_partner_readme_states_every_element_the_hub_requires() -> None:
    missing = [item for item in REQUIRED if item not in README]
    assert missing == []
