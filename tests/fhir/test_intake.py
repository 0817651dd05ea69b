"""FHIR referral intake over real HTTP against the ASGI app: UK Core and BaRS-shaped referrals
in, referrals and archive rows out; every refusal an OperationOutcome pointing at the exact
element, archived and raised as a data-quality event; re-sends applied once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import select

from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.events.models import Event
from hub.fhir.models import FhirSubmission, Interaction, SubmissionOutcome
from hub.integrations.models import InboundPayload, InboundStatus
from hub.referrals.models import Referral, ReferralSource, ReferralStatus
from tests.fhir.conftest import FHIR_JSON, Partner, encode, payload

UBRN = "https://fhir.nhs.uk/Id/UBRN"
REQUESTER_ODS = "ServiceRequest.contained[1].identifier[0].value"


def outcome_of(response: Any) -> list[dict[str, Any]]:
    """The issues of an OperationOutcome answer, after checking it is valid R4 FHIR JSON."""
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    OperationOutcome.model_validate(body)
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def brief(issues: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str | None]]:
    """(severity, code, expression, Care Hub code) of each issue: what a sender acts on."""
    return [
        (
            issue["severity"],
            issue["code"],
            (issue.get("expression") or [None])[0],
            (issue.get("details") or {}).get("coding", [{}])[0].get("code"),
        )
        for issue in issues
    ]


async def referrals(sessions: SessionFactory) -> list[Referral]:
    async with read_only(sessions) as session:
        return list(await session.scalars(select(Referral).order_by(Referral.received_at)))


async def archived(sessions: SessionFactory) -> list[InboundPayload]:
    async with read_only(sessions) as session:
        return list(
            await session.scalars(select(InboundPayload).order_by(InboundPayload.received_at))
        )


async def events(sessions: SessionFactory, event_type: str) -> list[Event]:
    async with read_only(sessions) as session:
        return list(await session.scalars(select(Event).where(Event.type == event_type)))


# --- accepted referrals ---------------------------------------------------------------------


async def test_a_uk_core_gp_referral_becomes_a_referral_with_its_dataset(
    partner: Partner, provider: uuid.UUID, sessions: SessionFactory
) -> None:
    body = encode(payload("gp_referral"))

    response = await partner.post("ServiceRequest", body)

    assert response.status_code == 201, response.text
    [referral] = await referrals(sessions)
    assert response.headers["location"] == f"http://testserver/fhir/ServiceRequest/{referral.id}"
    # The practice the referral names (B86044) is not the federation that sent it (Y99901):
    # both are kept, and the sender is told the hub noticed.
    assert brief(outcome_of(response)) == [
        ("warning", "business-rule", REQUESTER_ODS, "referrer-not-sender"),
        ("information", "informational", None, "referral-received"),
    ]
    assert referral.source is ReferralSource.GP
    assert referral.status is ReferralStatus.RECEIVED
    assert referral.provider_id == provider
    # B86044 is not an organisation the hub holds: the code is kept, the sender is recorded.
    assert referral.referrer_organisation_id is None
    assert referral.referrer_ods_code == "B86044"
    assert referral.delivered_by_organisation_id == partner.organisation_id
    assert (referral.source_system, referral.source_identifier) == (UBRN, "000000070000")
    assert referral.minimum_dataset == {
        "nhsNumber": "9990000018",
        "givenName": "Margaret Ann",
        "familyName": "Hartley",
        "dateOfBirth": "1938-03-14",
        "addressLine1": "12 Tannery Lane",
        "postcode": "LS6 3QT",
        "contactTelephone": "0113 496 0123",
        # The referrer's words ("Home care assessment") beside the code's display.
        "reasonForReferral": "Home care assessment (Referral to service). Two falls at home "
        "in the last month; struggling with washing and dressing. Instruction: Please call "
        "daughter before visiting. Lives alone. Key safe by the back door; code held by the "
        "daughter.",
        "referrerName": "Tannery Lane Surgery",
        "registeredGpPractice": "B86044",
        "nextOfKin": "Susan Hartley (Daughter (Next-of-Kin)) 07700 900123",
    }
    # What FHIR cannot carry stays missing, for triage to ask about.
    assert referral.missing_fields == ["consentToReferral", "referrerContact", "knownRisks"]
    [kept] = await archived(sessions)
    assert bytes(kept.body) == body
    assert (kept.connector, kept.channel.value, kept.status) == (
        "nhs_referrals",
        "fhir",
        InboundStatus.APPLIED,
    )
    assert kept.outcome == {"referral_id": str(referral.id), "created": True, "warnings": 1}
    async with read_only(sessions) as session:
        submission = await session.scalar(select(FhirSubmission))
    assert submission is not None
    assert (submission.payload_id, submission.referral_id) == (kept.id, referral.id)
    assert (submission.interaction, submission.outcome, submission.priority) == (
        Interaction.CREATE,
        SubmissionOutcome.CREATED,
        "routine",
    )
    assert len(await events(sessions, "referral.received")) == 1


async def test_the_same_message_sent_again_is_answered_with_the_referral_already_held(
    partner: Partner, sessions: SessionFactory
) -> None:
    body = encode(payload("gp_referral"))
    first = await partner.post("ServiceRequest", body)

    again = await partner.post("ServiceRequest", body)

    assert (first.status_code, again.status_code) == (201, 200)
    [referral] = await referrals(sessions)
    assert again.headers["content-location"].endswith(f"/ServiceRequest/{referral.id}")
    assert brief(outcome_of(again)) == [
        ("warning", "business-rule", REQUESTER_ODS, "referrer-not-sender"),
        ("information", "duplicate", None, "message-already-received"),
        ("information", "informational", None, "referral-held"),
    ]
    assert len(await archived(sessions)) == 1  # the same delivery, archived once
    assert len(await events(sessions, "referral.received")) == 1


async def test_a_resend_with_the_same_identifier_applies_once(
    partner: Partner, sessions: SessionFactory
) -> None:
    document = payload("gp_referral")
    await partner.post("ServiceRequest", encode(document))
    document["note"] = [{"text": "Resent by the practice: daughter's number has changed"}]

    response = await partner.post("ServiceRequest", encode(document))

    assert response.status_code == 200
    [referral] = await referrals(sessions)
    assert brief(outcome_of(response)) == [
        ("warning", "business-rule", REQUESTER_ODS, "referrer-not-sender"),
        ("information", "duplicate", "ServiceRequest.identifier[0]", "referral-already-received"),
        ("information", "informational", None, "referral-held"),
    ]
    assert "Key safe by the back door" in referral.minimum_dataset["reasonForReferral"]
    kept = await archived(sessions)
    assert [row.status for row in kept] == [InboundStatus.APPLIED, InboundStatus.APPLIED]
    async with read_only(sessions) as session:
        outcomes = list(await session.scalars(select(FhirSubmission.outcome)))
    assert sorted(outcomes) == [SubmissionOutcome.CREATED, SubmissionOutcome.DUPLICATE]


async def test_a_bars_discharge_message_is_answered_with_a_response_message(
    partner: Partner, sessions: SessionFactory
) -> None:
    response = await partner.post("$process-message", encode(payload("discharge_message")))

    assert response.status_code == 201, response.text
    reply = response.json()
    Bundle.model_validate(reply)
    assert reply["type"] == "message"
    header, outcome, task = (entry["resource"] for entry in reply["entry"])
    assert header["resourceType"] == "MessageHeader"
    assert header["response"]["identifier"] == "6e6e8f3b-5a0c-4d61-9a0d-1b1f3c2a7e01"
    assert header["response"]["code"] == "ok"
    assert header["destination"] == [
        {"endpoint": "https://discharge.leedsth.example.nhs.uk/fhir/R4"}
    ]
    assert outcome["resourceType"] == "OperationOutcome"
    [referral] = await referrals(sessions)
    assert (task["resourceType"], task["id"], task["status"], task["priority"]) == (
        "Task",
        str(referral.id),
        "received",
        "urgent",
    )
    assert task["owner"]["identifier"]["value"] == "AX123"
    assert referral.source is ReferralSource.HOSPITAL_DISCHARGE
    assert referral.minimum_dataset["dischargeDate"] == "2026-11-24"
    assert referral.minimum_dataset["communicationNeeds"] == (
        "Interpreter required, preferred language Bengali"
    )
    async with read_only(sessions) as session:
        submission = await session.scalar(select(FhirSubmission))
    assert submission is not None
    assert submission.interaction is Interaction.PROCESS_MESSAGE
    assert submission.message_id == "3f5e1a9c-7b2d-4e8f-a6c1-9d3b5e7f1a00"


async def test_a_transaction_bundle_names_its_provider_through_a_bundled_organization(
    partner: Partner, provider: uuid.UUID, sessions: SessionFactory
) -> None:
    response = await partner.post("ServiceRequest", encode(payload("social_care_transaction")))

    assert response.status_code == 201, response.text
    [referral] = await referrals(sessions)
    assert (referral.source, referral.provider_id) == (ReferralSource.SOCIAL_CARE, provider)
    assert referral.source_identifier == "CAA-2026-04417"


async def test_an_nhs_number_failing_its_check_digit_is_accepted_with_a_warning(
    partner: Partner, sessions: SessionFactory
) -> None:
    document = payload("discharge_message")
    document["entry"][2]["resource"]["identifier"][0]["value"] = "9990000027"

    response = await partner.post("$process-message", encode(document))

    assert response.status_code == 201
    outcome = response.json()["entry"][1]["resource"]
    assert brief(outcome["issue"])[0] == (
        "warning",
        "value",
        "Bundle.entry[2].resource.identifier[0].value",
        "nhs-number-check-failed",
    )
    [referral] = await referrals(sessions)
    assert referral.minimum_dataset["nhsNumber"] == "9990000027"  # kept, for a person to verify
    async with read_only(sessions) as session:
        submission = await session.scalar(select(FhirSubmission))
    assert submission is not None
    assert [item["details"]["coding"][0]["code"] for item in submission.warnings] == [
        "nhs-number-check-failed",
        "referrer-not-sender",  # the hospital's message, delivered by the GP federation's client
    ]


async def test_prefer_return_representation_answers_with_the_received_service_request(
    partner: Partner, sessions: SessionFactory
) -> None:
    response = await partner.post(
        "ServiceRequest", encode(payload("gp_referral")), prefer="return=representation"
    )

    assert response.status_code == 201
    [referral] = await referrals(sessions)
    body = response.json()
    assert (body["resourceType"], body["id"]) == ("ServiceRequest", str(referral.id))
    assert body["identifier"] == [{"system": UBRN, "value": "000000070000"}]


# --- refusals -------------------------------------------------------------------------------


def _r5_element(document: dict[str, Any]) -> None:
    document["reason"] = [{"concept": {"text": "falls"}}]  # R5's name for reasonCode


def _malformed_birth_date(document: dict[str, Any]) -> None:
    document["contained"][0]["birthDate"] = "14/03/1938"


def _no_patient(document: dict[str, Any]) -> None:
    document["subject"] = {"reference": "#nobody"}


def _malformed_nhs_number(document: dict[str, Any]) -> None:
    document["contained"][0]["identifier"][0]["value"] = "0000000000"


def _no_provider(document: dict[str, Any]) -> None:
    del document["performer"]


def _unknown_provider(document: dict[str, Any]) -> None:
    document["performer"][0]["identifier"]["value"] = "ZZ999"


def _not_active(document: dict[str, Any]) -> None:
    document["status"] = "draft"


@pytest.mark.parametrize(
    ("change", "status", "expected"),
    [
        (
            _r5_element,
            400,
            ("error", "structure", "ServiceRequest.reason", "unknown-element"),
        ),
        (
            _malformed_birth_date,
            400,
            ("error", "value", "ServiceRequest.contained[0].birthDate", "invalid-value"),
        ),
        (
            _no_patient,
            422,
            ("error", "required", "ServiceRequest.subject", None),
        ),
        (
            _malformed_nhs_number,
            422,
            (
                "error",
                "value",
                "ServiceRequest.contained[0].identifier[0].value",
                "nhs-number-malformed",
            ),
        ),
        (
            _not_active,
            422,
            ("error", "business-rule", "ServiceRequest.status", None),
        ),
        (
            _no_provider,
            422,
            ("error", "required", "ServiceRequest.performer", "provider-missing"),
        ),
        (
            _unknown_provider,
            422,
            (
                "error",
                "not-found",
                "ServiceRequest.performer[0].identifier.value",
                "provider-unknown",
            ),
        ),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
async def test_an_invalid_referral_is_refused_at_the_exact_element_archived_and_surfaced(
    partner: Partner,
    sessions: SessionFactory,
    change: Any,
    status: int,
    expected: tuple[str, str, str, str | None],
) -> None:
    document = payload("gp_referral")
    change(document)
    body = encode(document)

    response = await partner.post("ServiceRequest", body)

    assert response.status_code == status, response.text
    errors = [issue for issue in brief(outcome_of(response)) if issue[0] == "error"]
    severity, code, expression, detail = expected
    assert errors[0][:3] == (severity, code, expression)
    if detail is not None:
        assert errors[0][3] == detail
    assert await referrals(sessions) == []
    [kept] = await archived(sessions)
    assert bytes(kept.body) == body
    assert kept.status is InboundStatus.REJECTED
    assert kept.errors[0]["path"] == expression
    [rejected] = await events(sessions, "integration.payload_rejected")
    assert rejected.subject_id == kept.id
    assert rejected.payload["channel"] == "fhir"
    assert rejected.payload["errors"][0]["path"] == expression


async def test_a_rejected_message_sent_again_is_answered_again_without_a_second_case(
    partner: Partner, sessions: SessionFactory
) -> None:
    document = payload("gp_referral")
    _r5_element(document)
    body = encode(document)

    first = await partner.post("ServiceRequest", body)
    again = await partner.post("ServiceRequest", body)

    assert first.status_code == again.status_code == 400
    assert brief(outcome_of(again)) == brief(outcome_of(first))
    assert len(await archived(sessions)) == 1
    assert len(await events(sessions, "integration.payload_rejected")) == 1


async def test_a_body_that_is_not_json_is_refused_and_kept(
    partner: Partner, sessions: SessionFactory
) -> None:
    response = await partner.post("ServiceRequest", b'{"resourceType": "ServiceRequest", ')

    assert response.status_code == 400
    [issue] = brief(outcome_of(response))
    assert issue == ("error", "structure", None, "not-json")
    [kept] = await archived(sessions)
    assert kept.status is InboundStatus.REJECTED


async def test_each_interaction_takes_only_its_own_shape(partner: Partner) -> None:
    to_create = await partner.post("ServiceRequest", encode(payload("discharge_message")))
    to_message = await partner.post("$process-message", encode(payload("gp_referral")))

    assert to_create.status_code == to_message.status_code == 400
    assert brief(outcome_of(to_create)) == [
        ("error", "not-supported", "Bundle.type", "wrong-endpoint")
    ]
    assert brief(outcome_of(to_message)) == [
        ("error", "not-supported", "ServiceRequest", "wrong-endpoint")
    ]


async def test_another_senders_identifier_is_its_own_referral(
    partner: Partner, sessions: SessionFactory, http: Any, identities: Any
) -> None:
    """Identifiers are scoped to their sender: a 409 here would tell one partner that another
    had referred someone under that identifier."""
    from tests.fhir.conftest import make_partner

    first = await partner.post("ServiceRequest", encode(payload("gp_referral")))
    other = await make_partner(http, identities, sessions, ods_code="Y99902")

    response = await other.post("ServiceRequest", encode(payload("gp_referral")))

    assert first.status_code == response.status_code == 201
    first_id = first.headers["location"].rsplit("/", 1)[1]
    assert response.headers["location"].rsplit("/", 1)[1] != first_id
    assert first_id not in response.text
    assert len(await referrals(sessions)) == 2
    assert [row.status for row in await archived(sessions)] == [
        InboundStatus.APPLIED,
        InboundStatus.APPLIED,
    ]


# --- HTTP ------------------------------------------------------------------------------------


async def test_only_fhir_json_is_taken_and_given(partner: Partner) -> None:
    body = encode(payload("gp_referral"))

    wrong_type = await partner.post("ServiceRequest", body, **{"content-type": "text/plain"})
    wrong_accept = await partner.post("ServiceRequest", body, accept="application/fhir+xml")
    plain_json = await partner.post(
        "ServiceRequest", body, **{"content-type": "application/json; charset=utf-8"}
    )

    assert wrong_type.status_code == 415
    assert brief(outcome_of(wrong_type)) == [
        ("error", "not-supported", None, "unsupported-media-type")
    ]
    assert wrong_accept.status_code == 406
    assert plain_json.status_code == 201


async def test_unknown_paths_and_methods_answer_as_fhir(partner: Partner) -> None:
    unknown = await partner.get("Patient/123")
    wrong_method = await partner.http.delete("/fhir/ServiceRequest", headers=partner.headers())

    assert unknown.status_code == 404
    assert brief(outcome_of(unknown)) == [("error", "not-supported", None, "unknown-path")]
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert outcome_of(wrong_method)[0]["code"] == "not-supported"


async def test_an_oversized_body_is_refused_as_an_operation_outcome(partner: Partner) -> None:
    response = await partner.post("ServiceRequest", b" " * (1024 * 1024 + 1))

    assert response.status_code == 413
    assert brief(outcome_of(response)) == [("error", "too-costly", None, "REQUEST_TOO_LARGE")]


async def test_prefer_return_minimal_answers_with_headers_only(
    partner: Partner, sessions: SessionFactory
) -> None:
    response = await partner.post(
        "ServiceRequest", encode(payload("gp_referral")), prefer="return=minimal"
    )

    assert (response.status_code, response.content) == (201, b"")
    [referral] = await referrals(sessions)
    assert response.headers["location"].endswith(f"/ServiceRequest/{referral.id}")
