"""What NHS England and HL7 publish arrives intact: their example referrals sent to the hub
over real HTTP (uvicorn on loopback), against real PostgreSQL and Redis.

The examples are in `outside_examples/` as published (README.md there names each source and
commit); every change a hub rule requires is made here, in one function per example, and is
listed with its reason in that README.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.organisations.models import OrganisationKind
from hub.referrals.models import ReferralPriority
from tests import builders
from tests.fhir.conftest import Partner, encode, make_partner
from tests.fhir.test_intake import brief, outcome_of, referrals
from tests.support.identity import Identities

EXAMPLES = Path(__file__).parent / "outside_examples"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
UBRN = "https://fhir.nhs.uk/Id/UBRN"
BARS_REQUEST_FULL_URL = "urn:uuid:236bb75d-90ef-461f-b71e-fde7f899802c"


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data


async def organisation(
    sessions: SessionFactory, kind: OrganisationKind, ods_code: str
) -> uuid.UUID:
    async with unit_of_work(sessions) as session:
        row = await builders.create_organisation(
            session, kind=kind, name=f"Organisation {ods_code}", ods_code=ods_code
        )
    return row.id


def message_outcome(response: httpx.Response) -> list[tuple[str, str, str | None, str | None]]:
    """The issues of the OperationOutcome a $process-message response message carries."""
    body = response.json()
    assert body["resourceType"] == "Bundle", body
    outcome = next(
        entry["resource"]
        for entry in body["entry"]
        if entry["resource"]["resourceType"] == "OperationOutcome"
    )
    return brief(outcome["issue"])


def in_a_bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    """Adaptation: the hub needs the Patient in the payload, so a ServiceRequest that refers to
    resources on the publisher's server travels with them in a collection Bundle (each entry's
    fullUrl ends Type/id, which is how the ServiceRequest refers to it)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"https://examples.invalid/fhir/{item['resourceType']}/{item['id']}",
                "resource": item,
            }
            for item in resources
        ],
    }


def addressed_to(request: dict[str, Any], ods_code: str) -> None:
    """Adaptation: the hub routes a referral to a provider by ODS code; add it as a performer."""
    request.setdefault("performer", []).append(
        {"identifier": {"system": ODS, "value": ods_code}, "display": "the provider"}
    )


# --- NHS England: Booking and Referral Standard ---------------------------------------------


@pytest.fixture
async def bars_parties(
    live: httpx.AsyncClient, identities: Identities, sessions: SessionFactory
) -> tuple[Partner, uuid.UUID]:
    """The example's receiving organisation (RYE) as a provider, and its sender (RND)."""
    provider = await organisation(sessions, OrganisationKind.PROVIDER, "RYE")
    return await make_partner(live, identities, sessions, ods_code="RND"), provider


async def test_a_bars_validation_request_is_accepted_exactly_as_nhs_england_publishes_it(
    bars_parties: tuple[Partner, uuid.UUID], sessions: SessionFactory
) -> None:
    sender, provider = bars_parties
    document = example("bars_servicerequest_request_validation")

    response = await sender.post("$process-message", encode(document))

    assert response.status_code == 201, response.text
    assert message_outcome(response) == [
        (
            "warning",
            "value",
            "Bundle.entry[5].resource.identifier[0].value",
            "nhs-number-check-failed",
        ),
        ("warning", "required", "Bundle.entry[1].resource.extension", "source-of-referral-missing"),
        ("warning", "required", "Bundle.entry[1].resource.authoredOn", "authored-on-missing"),
        ("information", "informational", None, "referral-received"),
    ]
    [referral] = await referrals(sessions)
    # No identifier: the ServiceRequest's urn:uuid is what BaRS keeps for the whole exchange.
    assert (referral.source_system, referral.source_identifier) == (
        "urn:ietf:rfc:3986",
        BARS_REQUEST_FULL_URL,
    )
    assert referral.provider_id == provider  # performer → HealthcareService → providedBy (RYE)
    # The ODS system spelt .../id/... is read: the sender RND is the referrer and deliverer.
    assert referral.referrer_ods_code == "RND"
    assert referral.referrer_organisation_id == sender.organisation_id
    assert referral.delivered_by_organisation_id == sender.organisation_id
    assert referral.priority is ReferralPriority.ROUTINE
    assert referral.minimum_dataset["familyName"] == "Jones"
    assert referral.minimum_dataset["referrerName"] == "Marcy BLAKE"


async def test_a_bars_message_sent_again_with_a_new_envelope_is_the_same_referral(
    bars_parties: tuple[Partner, uuid.UUID], sessions: SessionFactory
) -> None:
    sender, _ = bars_parties
    document = example("bars_servicerequest_request_validation")
    await sender.post("$process-message", encode(document))
    again = copy.deepcopy(document)
    again["id"] = str(uuid.uuid4())
    again["timestamp"] = "2021-11-26T15:05:00+00:00"

    response = await sender.post("$process-message", encode(again))

    assert response.status_code == 200, response.text
    assert ("information", "duplicate", "Bundle.entry[1].fullUrl", "referral-already-received") in (
        message_outcome(response)
    )
    assert len(await referrals(sessions)) == 1


async def test_a_message_whose_service_request_has_no_identifier_and_no_uuid_is_told_what_to_add(
    bars_parties: tuple[Partner, uuid.UUID], sessions: SessionFactory
) -> None:
    sender, _ = bars_parties
    document = example("bars_servicerequest_request_validation")
    document["entry"][1]["fullUrl"] = "https://sender.example/fhir/ServiceRequest/abc"
    document["entry"][0]["resource"]["focus"][0]["reference"] = document["entry"][1]["fullUrl"]

    response = await sender.post("$process-message", encode(document))

    assert response.status_code == 422, response.text
    [issue] = [item for item in outcome_of(response) if item["severity"] == "error"]
    assert issue["expression"] == ["Bundle.entry[1].resource.identifier"]
    assert UBRN in issue["diagnostics"]
    assert "urn:uuid:" in issue["diagnostics"]
    assert await referrals(sessions) == []


async def test_a_provider_named_under_an_unknown_system_is_refused_saying_what_was_found(
    bars_parties: tuple[Partner, uuid.UUID],
) -> None:
    sender, _ = bars_parties
    document = example("bars_servicerequest_request_validation")
    receiving = document["entry"][10]["resource"]
    assert receiving["identifier"][0]["value"] == "RYE"
    receiving["identifier"][0]["system"] = "https://example.org/not-ods"

    response = await sender.post("$process-message", encode(document))

    assert response.status_code == 422, response.text
    [issue] = outcome_of(response)[:1]
    assert issue["details"]["coding"][0]["code"] == "provider-missing"
    assert ODS in issue["diagnostics"]
    assert "Bundle.entry[10].resource" in issue["diagnostics"]
    assert "https://example.org/not-ods" in issue["diagnostics"]


# --- UK Core ----------------------------------------------------------------------------------


def ukcore_colonoscopy_referral() -> dict[str, Any]:
    request = example("ukcore_servicerequest_colonoscopy")
    # Adaptation: outside a BaRS message the hub needs an identifier to recognise a resend.
    request["identifier"] = [{"system": UBRN, "value": "000000070101"}]
    addressed_to(request, "AX123")
    return in_a_bundle(
        request,
        example("ukcore_patient_richardsmith"),
        example("ukcore_practitioner_paulrastall"),
    )


async def test_the_uk_core_colonoscopy_referral_keeps_the_clinicians_words(
    live: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    provider: uuid.UUID,
) -> None:
    sender = await make_partner(live, identities, sessions, ods_code="Y99901")

    response = await sender.post("ServiceRequest", encode(ukcore_colonoscopy_referral()))

    assert response.status_code == 201, response.text
    [referral] = await referrals(sessions)
    reason = referral.minimum_dataset["reasonForReferral"]
    # reasonCode.text and the coding's display are both there, the clinician's words first.
    assert "Swollen abdomen (Abdominal distension, gaseous)" in reason
    assert reason.startswith("Colonoscopy requested (Colonoscopy)")
    assert referral.minimum_dataset["nhsNumber"] == "9912003888"
    assert referral.minimum_dataset["referrerName"] == "Dr Paul Rastall"
    assert referral.provider_id == provider


# --- HL7 FHIR R4 ------------------------------------------------------------------------------


async def test_the_hl7_lipid_panel_request_is_accepted_with_its_own_identifier(
    live: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    provider: uuid.UUID,
) -> None:
    sender = await make_partner(live, identities, sessions, ods_code="Y99901")
    request = example("hl7_r4_servicerequest_lipid")
    addressed_to(request, "AX123")

    response = await sender.post(
        "ServiceRequest", encode(in_a_bundle(request, example("hl7_r4_patient_example")))
    )

    assert response.status_code == 201, response.text
    [referral] = await referrals(sessions)
    assert (referral.source_system, referral.source_identifier) == (
        "urn:oid:1.3.4.5.6.7",
        "2345234234234",
    )
    assert referral.minimum_dataset["familyName"] == "Chalmers"
    assert "Lipid Panel" in referral.minimum_dataset["reasonForReferral"]
    assert "patient is afraid of needles" in referral.minimum_dataset["reasonForReferral"]


async def test_the_hl7_do_not_turn_order_is_refused_not_read_as_a_request_to_turn(
    live: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    provider: uuid.UUID,
) -> None:
    sender = await make_partner(live, identities, sessions, ods_code="Y99901")
    request = example("hl7_r4_servicerequest_do_not_turn")
    assert request["doNotPerform"] is True
    assert request["priority"] == "stat"
    addressed_to(request, "AX123")

    response = await sender.post(
        "ServiceRequest", encode(in_a_bundle(request, example("hl7_r4_patient_example")))
    )

    assert response.status_code == 422, response.text
    errors = [issue for issue in brief(outcome_of(response)) if issue[0] == "error"]
    assert errors == [
        ("error", "not-supported", "Bundle.entry[0].resource.doNotPerform", "do-not-perform")
    ]
    assert await referrals(sessions) == []


# --- Task search --------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["identifier=", "identifier=%20", "identifier=|", "focus="])
async def test_a_task_search_with_an_empty_value_is_a_bad_request(
    live: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    provider: uuid.UUID,
    query: str,
) -> None:
    reader = await make_partner(live, identities, sessions, ods_code="Y99901")

    response = await live.get(
        f"/fhir/Task?{query}",
        headers={"authorization": f"Bearer {reader.token}", "accept": "application/fhir+json"},
    )

    assert response.status_code == 400, response.text
    [issue] = outcome_of(response)
    assert issue["severity"] == "error"
    assert issue["code"] == "value"
    assert "needs a value" in issue["diagnostics"]
