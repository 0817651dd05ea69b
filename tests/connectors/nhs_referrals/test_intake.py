"""FHIR R4 referral intake: the recorded samples, and the rules they exercise."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from connectors.nhs_referrals import (
    IssueSeverity,
    IssueType,
    ReferralRejected,
    issues_for_flags,
    operation_outcome,
    parse_referral,
)
from connectors.records.referral import ReferralPriority, ReferralSource
from connectors.standards import NhsNumberStatus
from tests.connectors.nhs_referrals.samples import load

RECEIVED = datetime(2025, 3, 10, 14, 6, tzinfo=UTC)
CARE_HUB_SOURCE = (
    "https://fhir.care-hub.org.uk/StructureDefinition/Extension-CareHub-SourceOfReferral"
)
UK_CORE_SOURCE = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-SourceOfServiceRequest"
)


def rejected(payload: Any, **options: Any) -> list[tuple[str, str, str | None]]:
    """(severity, code, expression) of every issue, checking the OperationOutcome is valid R4."""
    with pytest.raises(ReferralRejected) as caught:
        parse_referral(payload, received_at=RECEIVED, **options)
    outcome = operation_outcome(caught.value.issues)
    OperationOutcome.model_validate(outcome)  # what partners receive must itself be valid R4
    return [
        (issue["severity"], issue["code"], (issue.get("expression") or [None])[0])
        for issue in outcome["issue"]
    ]


# -- valid samples -------------------------------------------------------------------------


def test_gp_referral_with_contained_patient_maps_every_field() -> None:
    referral = parse_referral(load("valid_gp_referral"), received_at=RECEIVED)

    assert referral.source is ReferralSource.GP
    assert referral.source_code is not None
    assert referral.source_code.code == "108161000000109"
    assert referral.source_identifier.system == "https://fhir.nhs.uk/Id/UBRN"
    assert referral.source_identifier.value == "000000070000"
    assert referral.source_identifier.location == "ServiceRequest.identifier[0]"
    assert referral.priority is ReferralPriority.ROUTINE
    assert referral.received_at == RECEIVED
    assert referral.message is None
    assert referral.flags == ()

    assert referral.referrer.ods_code == "Y99901"
    assert referral.referrer.kind == "Organization"
    assert referral.referrer.organisation_name == "Northvale Medical Practice"

    patient = referral.patient
    assert patient.nhs_number == "9990000018"  # sent as "999 000 0018"
    assert patient.nhs_number_check is not None
    assert patient.nhs_number_check.status is NhsNumberStatus.VALID
    assert patient.nhs_number_check.is_test_number
    assert patient.nhs_number_verification is not None
    assert patient.nhs_number_verification.code == "01"
    assert patient.name is not None
    assert (patient.name.family, patient.name.given) == ("Hartley", ("Margaret", "Ann"))
    assert patient.birth_date == date(1938, 3, 14)
    assert patient.gender == "female"
    assert [address.postcode for address in patient.addresses] == ["LS6 3QT"]
    assert [(point.system, point.value) for point in patient.telecom] == [
        ("phone", "0113 496 0123")
    ]
    assert len(patient.contacts) == 1
    assert patient.contacts[0].name is not None
    assert patient.contacts[0].name.given == ("Susan",)
    assert patient.contacts[0].relationships[0].display == "Next-of-Kin"

    assert referral.service_requested is not None
    assert referral.service_requested.code == "306206005"
    # The coding's display and the concept's text are both kept: neither replaces the other.
    assert referral.service_requested.display == "Referral to service"
    assert referral.service_requested.text == "Home care assessment"
    assert referral.reasons[0].display is None
    assert referral.reasons[0].text is not None
    assert "Two falls" in referral.reasons[0].text

    dataset = referral.dataset
    assert dataset.authored_on == datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
    # Date-only period bounds are UK days: the end date includes the whole of 31 March, which
    # is British Summer Time, so it ends at 23:00 UTC.
    assert dataset.requested_start == datetime(2025, 3, 17, 0, 0, tzinfo=UTC)
    assert dataset.requested_end == datetime(2025, 3, 31, 23, 0, tzinfo=UTC)
    assert dataset.registered_gp_ods == "Y99901"
    assert dataset.patient_instruction == "Please call daughter before visiting"
    assert dataset.notes == ("Lives alone. Key safe by the back door; code held by the daughter.",)


def test_hospital_discharge_message_bundle_maps_envelope_and_referrer() -> None:
    referral = parse_referral(load("valid_hospital_discharge_bundle"), received_at=RECEIVED)

    assert referral.source is ReferralSource.HOSPITAL_DISCHARGE
    assert referral.priority is ReferralPriority.URGENT
    assert referral.source_identifier.value == "0b8f4e2a-3c7d-4f1e-8a6b-5d2c9e1f7a02"
    assert referral.source_identifier.location == "Bundle.entry[1].resource.identifier[0]"
    assert referral.flags == ()

    # requester -> PractitionerRole -> organization -> Organization with the trust's ODS code.
    assert referral.referrer.ods_code == "RX9"
    assert referral.referrer.kind == "PractitionerRole"
    assert referral.referrer.practitioner_name == "Dr Chidi Okafor"
    assert referral.referrer.organisation_name == "Northvale General Hospital"

    message = referral.message
    assert message is not None
    assert message.event is not None
    assert message.event.code == "servicerequest-request"
    assert message.reason is not None
    assert message.reason.code == "new"
    assert message.source_endpoint == "https://discharge.leedsth.example.nhs.uk/fhir/R4"
    assert message.sender_ods == "RX9"
    assert message.message_id == "3f5e1a9c-7b2d-4e8f-a6c1-9d3b5e7f1a00"

    patient = referral.patient
    assert patient.nhs_number == "9990000026"
    assert [item.value for item in patient.other_identifiers] == ["L4098812"]
    assert referral.dataset.interpreter_required is True
    assert referral.dataset.preferred_language is not None
    assert referral.dataset.preferred_language.code == "bn"
    assert referral.dataset.registered_gp_ods == "B86017"
    assert referral.dataset.requested_start == datetime(2025, 3, 11, 10, 0, tzinfo=UTC)


def test_collection_bundle_without_message_header_is_accepted() -> None:
    payload = load("valid_hospital_discharge_bundle")
    payload["type"] = "collection"
    del payload["entry"][0]

    referral = parse_referral(payload, received_at=RECEIVED)

    assert referral.message is None
    assert referral.patient.nhs_number == "9990000026"
    assert referral.source_identifier.location == "Bundle.entry[0].resource.identifier[0]"


# -- invalid samples: exact expression and code --------------------------------------------


def test_failing_check_digit_is_accepted_and_flagged_at_the_exact_element() -> None:
    referral = parse_referral(load("invalid_nhs_number_check_digit"), received_at=RECEIVED)

    assert referral.patient.nhs_number == "9990000019"
    assert referral.patient.nhs_number_check is not None
    assert referral.patient.nhs_number_check.status is NhsNumberStatus.FAILED_CHECK
    assert [(flag.code, flag.location) for flag in referral.flags] == [
        ("nhs-number-check-failed", "Bundle.entry[2].resource.identifier[0].value")
    ]
    outcome = operation_outcome(issues_for_flags(referral.flags))
    OperationOutcome.model_validate(outcome)
    (issue,) = outcome["issue"]
    assert (issue["severity"], issue["code"], issue["expression"]) == (
        "warning",
        "value",
        ["Bundle.entry[2].resource.identifier[0].value"],
    )


def test_failing_check_digit_is_an_error_when_the_deployment_is_strict() -> None:
    issues = rejected(load("invalid_nhs_number_check_digit"), reject_failing_nhs_number=True)

    assert issues == [("error", "value", "Bundle.entry[2].resource.identifier[0].value")]


def test_missing_patient_is_required_at_the_subject() -> None:
    assert rejected(load("invalid_missing_patient")) == [
        ("error", "required", "ServiceRequest.subject")
    ]


def test_wrong_resource_type_is_not_supported() -> None:
    assert rejected(load("invalid_wrong_resource_type")) == [("error", "not-supported", "Patient")]


def test_r5_only_element_is_a_structure_error_not_silently_dropped() -> None:
    assert rejected(load("invalid_r5_element")) == [("error", "structure", "ServiceRequest.reason")]


def test_malformed_birth_date_is_a_value_error_with_the_format_to_use() -> None:
    with pytest.raises(ReferralRejected) as caught:
        parse_referral(load("invalid_malformed_date"), received_at=RECEIVED)

    (issue,) = caught.value.issues
    assert (issue.severity, issue.code, issue.expression) == (
        IssueSeverity.ERROR,
        IssueType.VALUE,
        "Bundle.entry[2].resource.birthDate",
    )
    assert "YYYY-MM-DD" in issue.diagnostics
    assert "02/11/1941" in issue.diagnostics


# -- further rules -------------------------------------------------------------------------


def test_every_problem_is_reported_in_one_answer() -> None:
    payload = load("valid_hospital_discharge_bundle")
    payload["entry"][1]["resource"]["bodyStructure"] = {"reference": "urn:uuid:x"}  # R5 element
    payload["entry"][2]["resource"]["birthDate"] = "1941-13-02"
    payload["entry"].append({"fullUrl": "urn:uuid:t", "resource": {"resourceType": "Transport"}})

    issues = rejected(payload)

    assert ("error", "structure", "Bundle.entry[1].resource.bodyStructure") in issues
    assert ("error", "value", "Bundle.entry[2].resource.birthDate") in issues
    assert ("error", "invalid", "Bundle.entry[6].resource") in issues
    assert len(issues) == 3


def test_unknown_resource_in_contained_is_located_precisely() -> None:
    payload = load("valid_gp_referral")
    payload["contained"].insert(0, {"resourceType": "InventoryItem", "id": "x"})

    assert rejected(payload) == [("error", "invalid", "ServiceRequest.contained[0]")]


def test_a_referral_that_is_not_active_breaks_a_business_rule() -> None:
    payload = load("valid_gp_referral")
    payload["status"] = "draft"

    assert rejected(payload) == [("error", "business-rule", "ServiceRequest.status")]


def test_codes_the_models_do_not_check_are_checked_here() -> None:
    payload = load("valid_gp_referral")
    payload["priority"] = "high"
    payload["intent"] = "request"

    assert rejected(payload) == [
        ("error", "value", "ServiceRequest.intent"),
        ("error", "value", "ServiceRequest.priority"),
    ]


def test_a_referral_without_an_identifier_cannot_be_deduplicated_so_is_refused() -> None:
    payload = load("valid_gp_referral")
    del payload["identifier"]

    assert rejected(payload) == [("error", "required", "ServiceRequest.identifier")]


def test_a_missing_required_element_is_required_at_its_path() -> None:
    payload = load("valid_gp_referral")
    del payload["status"]

    assert rejected(payload) == [("error", "required", "ServiceRequest.status")]


def test_message_bundle_must_start_with_its_header() -> None:
    payload = load("valid_hospital_discharge_bundle")
    payload["entry"].reverse()

    assert rejected(payload) == [("error", "structure", "Bundle.entry[0].resource.resourceType")]


def test_bars_booking_message_is_not_a_referral() -> None:
    payload = load("valid_hospital_discharge_bundle")
    payload["entry"][0]["resource"]["eventCoding"]["code"] = "booking-request"

    assert rejected(payload) == [
        ("error", "not-supported", "Bundle.entry[0].resource.eventCoding.code")
    ]


def test_message_focus_that_is_not_in_the_bundle_is_required() -> None:
    payload = load("valid_hospital_discharge_bundle")
    payload["entry"][0]["resource"]["focus"] = [{"reference": "urn:uuid:nowhere"}]

    assert rejected(payload) == [
        ("error", "required", "Bundle.entry[0].resource.focus[0].reference")
    ]


def test_bundled_patient_missing_is_required_at_the_bundled_subject() -> None:
    payload = load("valid_hospital_discharge_bundle")
    del payload["entry"][2]

    assert rejected(payload) == [("error", "required", "Bundle.entry[1].resource.subject")]


def test_malformed_ods_code_is_a_value_error_at_the_organisation_identifier() -> None:
    payload = load("valid_hospital_discharge_bundle")
    payload["entry"][5]["resource"]["identifier"][0]["value"] = "rr8"

    assert rejected(payload) == [("error", "value", "Bundle.entry[5].resource.identifier[0].value")]


def test_placeholder_nhs_number_is_refused() -> None:
    payload = load("valid_gp_referral")
    payload["contained"][0]["identifier"][0]["value"] = "0000000000"

    assert rejected(payload) == [
        ("error", "value", "ServiceRequest.contained[0].identifier[0].value")
    ]


def test_two_different_nhs_numbers_for_one_patient_are_refused() -> None:
    payload = load("valid_gp_referral")
    identifiers = payload["contained"][0]["identifier"]
    identifiers.append({"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000026"})

    assert rejected(payload) == [
        ("error", "business-rule", "ServiceRequest.contained[0].identifier[1].value")
    ]


def test_missing_nhs_number_and_source_are_warnings_and_the_referral_is_kept() -> None:
    payload = load("valid_gp_referral")
    del payload["contained"][0]["identifier"]
    del payload["extension"]

    referral = parse_referral(payload, received_at=RECEIVED)

    assert referral.patient.nhs_number is None
    assert referral.source is ReferralSource.OTHER
    assert referral.source_code is None
    assert [(flag.code, flag.location) for flag in referral.flags] == [
        ("nhs-number-missing", "ServiceRequest.contained[0].identifier"),
        ("source-of-referral-missing", "ServiceRequest.extension"),
    ]
    outcome = operation_outcome(issues_for_flags(referral.flags))
    assert [issue["code"] for issue in outcome["issue"]] == ["required", "required"]


def test_care_hub_source_extension_wins_over_uk_core() -> None:
    payload = load("valid_hospital_discharge_bundle")
    care_hub, uk_core = payload["entry"][1]["resource"]["extension"]
    assert (care_hub["url"], uk_core["url"]) == (CARE_HUB_SOURCE, UK_CORE_SOURCE)
    care_hub["valueCode"] = "third-sector"

    referral = parse_referral(payload, received_at=RECEIVED)

    assert referral.source is ReferralSource.THIRD_SECTOR


@pytest.mark.parametrize(
    ("snomed", "expected"),
    [
        ("185365002", ReferralSource.SOCIAL_CARE),  # social worker
        ("1065391000000104", ReferralSource.SELF),  # carer
        ("312357002", ReferralSource.HOSPITAL_DISCHARGE),  # consultant
    ],
)
def test_uk_core_source_codes_map_to_hub_categories(snomed: str, expected: ReferralSource) -> None:
    payload = load("valid_gp_referral")
    payload["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = snomed

    assert parse_referral(payload, received_at=RECEIVED).source is expected


def test_unmapped_uk_core_source_falls_back_to_other_keeping_the_code() -> None:
    payload = load("valid_gp_referral")
    payload["extension"][0]["valueCodeableConcept"]["coding"][0] = {
        "system": "http://snomed.info/sct",
        "code": "185369008",
        "display": "Referred by pharmacist",
    }

    referral = parse_referral(payload, received_at=RECEIVED)

    assert referral.source is ReferralSource.OTHER
    assert referral.source_code is not None
    assert referral.source_code.code == "185369008"
    assert [(flag.code, flag.location) for flag in referral.flags] == [
        ("source-of-referral-unmapped", "ServiceRequest.extension[0].valueCodeableConcept")
    ]


def test_unknown_care_hub_source_code_is_refused() -> None:
    payload = load("valid_gp_referral")
    payload["extension"] = [{"url": CARE_HUB_SOURCE, "valueCode": "ambulance"}]

    assert rejected(payload) == [("error", "value", "ServiceRequest.extension[0].valueCode")]


def test_payload_that_is_not_a_resource_has_no_expression() -> None:
    assert rejected([1, 2]) == [("error", "structure", None)]
    assert rejected({"id": "x"}) == [("error", "structure", None)]


def test_received_at_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_referral(load("valid_gp_referral"), received_at=datetime(2025, 3, 10, 9, 0))


def test_rejection_message_names_the_first_error() -> None:
    with pytest.raises(ReferralRejected, match=r"ServiceRequest\.subject"):
        parse_referral(load("invalid_missing_patient"), received_at=RECEIVED)


def test_subject_pointing_at_something_else_is_invalid() -> None:
    payload = load("valid_gp_referral")
    payload["subject"] = {"reference": "#practice"}

    assert rejected(payload) == [("error", "invalid", "ServiceRequest.subject.reference")]


def test_subject_given_only_as_an_nhs_number_is_not_enough() -> None:
    payload = load("valid_gp_referral")
    payload["subject"] = {
        "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}
    }

    with pytest.raises(ReferralRejected) as caught:
        parse_referral(payload, received_at=RECEIVED)

    (issue,) = caught.value.issues
    assert (issue.code, issue.expression) == (IssueType.REQUIRED, "ServiceRequest.subject")
    assert "demographics" in issue.diagnostics


def test_partial_birth_date_is_kept_as_unknown_and_flagged() -> None:
    payload = load("valid_gp_referral")
    payload["contained"][0]["birthDate"] = "1938"

    referral = parse_referral(payload, received_at=RECEIVED)

    assert referral.patient.birth_date is None
    assert [(flag.code, flag.location) for flag in referral.flags] == [
        ("patient-birth-date-partial", "ServiceRequest.contained[0].birthDate")
    ]
