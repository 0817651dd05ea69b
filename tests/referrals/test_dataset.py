"""The referral pathway pack as data: completeness per source, value checks, safe waits."""

from __future__ import annotations

from typing import Any

import pytest

from hub.errors import InvalidInput
from hub.referrals.dataset import (
    DATASET_FIELDS,
    MAXIMUM_SAFE_WAIT_DAYS,
    MINIMUM_DATASET,
    assess_completeness,
    maximum_safe_wait_days,
    required_fields,
    validate_dataset,
)
from hub.referrals.models import ReferralSource, RiskTier

S = ReferralSource

COMMON = [
    "givenName",
    "familyName",
    "dateOfBirth",
    "addressLine1",
    "postcode",
    "contactTelephone",
    "reasonForReferral",
]
ON_BEHALF = ["consentToReferral", "referrerName", "referrerContact"]

EXPECTED_REQUIRED: dict[ReferralSource, set[str]] = {
    S.GP: {"nhsNumber", *COMMON, *ON_BEHALF, "knownRisks"},
    S.HOSPITAL_DISCHARGE: {
        "nhsNumber",
        *COMMON,
        *ON_BEHALF,
        "registeredGpPractice",
        "knownRisks",
        "dischargeDate",
        "dischargeWard",
    },
    S.SOCIAL_CARE: {
        "nhsNumber",
        *COMMON,
        *ON_BEHALF,
        "registeredGpPractice",
        "knownRisks",
        "careAssessmentReference",
    },
    S.SELF: set(COMMON),
    S.THIRD_SECTOR: {*COMMON, *ON_BEHALF},
    S.OTHER: {*COMMON, *ON_BEHALF},
}


def complete_dataset(source: ReferralSource) -> dict[str, Any]:
    values: dict[str, Any] = {
        "nhsNumber": "943 476 5919",
        "givenName": "Edith",
        "familyName": "Crawley",
        "dateOfBirth": "1938-05-02",
        "addressLine1": "4 Mill Lane",
        "postcode": "NV2 3QT",
        "contactTelephone": "01632 960123",
        "reasonForReferral": "Needs help with personal care after a fall",
        "consentToReferral": True,
        "referrerName": "Dr Okafor",
        "referrerContact": "01632 960999",
        "registeredGpPractice": "Y12345",
        "knownRisks": "falls",
        "dischargeDate": "2026-11-25",
        "dischargeWard": "Ward 7",
        "careAssessmentReference": "CA-1182",
    }
    return {name: values[name] for name in EXPECTED_REQUIRED[source]}


@pytest.mark.parametrize("source", list(ReferralSource))
def test_each_source_requires_its_agreed_fields(source: ReferralSource) -> None:
    assert {f.name for f in required_fields(source)} == EXPECTED_REQUIRED[source]
    # An empty referral lacks every one of them, listed in dataset order.
    order = [f.name for f in MINIMUM_DATASET]
    missing = assess_completeness(source, {})
    assert set(missing) == EXPECTED_REQUIRED[source]
    assert missing == sorted(missing, key=order.index)


@pytest.mark.parametrize("source", list(ReferralSource))
def test_a_complete_referral_lacks_nothing(source: ReferralSource) -> None:
    assert assess_completeness(source, complete_dataset(source)) == []


def test_a_self_referral_needs_no_nhs_number_consent_or_referrer() -> None:
    dataset = complete_dataset(S.SELF)
    assert "nhsNumber" not in dataset
    assert assess_completeness(S.SELF, dataset) == []
    # The same form from a GP is incomplete.
    assert assess_completeness(S.GP, dataset) == [
        "nhsNumber",
        "consentToReferral",
        "referrerName",
        "referrerContact",
        "knownRisks",
    ]


def test_a_hospital_discharge_needs_the_discharge_details() -> None:
    dataset = complete_dataset(S.HOSPITAL_DISCHARGE)
    del dataset["dischargeDate"]
    dataset["dischargeWard"] = "   "
    assert assess_completeness(S.HOSPITAL_DISCHARGE, dataset) == ["dischargeDate", "dischargeWard"]


@pytest.mark.parametrize("empty", [None, "", "  ", [], {}])
def test_blank_values_count_as_missing(empty: Any) -> None:
    dataset = complete_dataset(S.SELF) | {"reasonForReferral": empty}
    assert assess_completeness(S.SELF, dataset) == ["reasonForReferral"]


def test_a_recorded_refusal_of_consent_is_an_answer_not_a_gap() -> None:
    dataset = complete_dataset(S.GP) | {"consentToReferral": False}
    assert assess_completeness(S.GP, dataset) == []


def test_optional_fields_are_never_missing() -> None:
    optional = [f.name for f in MINIMUM_DATASET if not f.required_for]
    assert optional == ["communicationNeeds", "nextOfKin"]
    for source in ReferralSource:
        assert not set(optional) & set(assess_completeness(source, {}))


def test_every_field_name_is_unique_and_labelled() -> None:
    assert len(DATASET_FIELDS) == len(MINIMUM_DATASET)
    assert all(f.label and f.description for f in MINIMUM_DATASET)


@pytest.mark.parametrize(
    ("dataset", "field", "reason"),
    [
        ({"dateofBirth": "1938-05-02"}, "minimumDataset.dateofBirth", "is not a field"),
        ({"dateOfBirth": "02/05/1938"}, "minimumDataset.dateOfBirth", "must be a date"),
        ({"dateOfBirth": 1938}, "minimumDataset.dateOfBirth", "must be text"),
        ({"nhsNumber": "94347659"}, "minimumDataset.nhsNumber", "must be 10 digits"),
        ({"consentToReferral": "yes"}, "minimumDataset.consentToReferral", "true or false"),
        ({"givenName": ["Edith"]}, "minimumDataset.givenName", "must be text"),
    ],
)
def test_malformed_values_are_refused_naming_the_field(
    dataset: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_dataset(dataset)
    assert refused.value.field == field
    assert reason in refused.value.reason


def test_well_formed_and_blank_values_pass_validation() -> None:
    validate_dataset(complete_dataset(S.HOSPITAL_DISCHARGE))
    # Blank values are gaps for the completeness check, not malformed values.
    validate_dataset({"dateOfBirth": "", "nhsNumber": None})
    # An NHS number failing the modulus-11 check is kept (flagged later), not refused.
    validate_dataset({"nhsNumber": "4123456879"})


def test_maximum_safe_waits_shorten_as_risk_rises() -> None:
    assert dict(MAXIMUM_SAFE_WAIT_DAYS) == {RiskTier.HIGH: 2, RiskTier.MEDIUM: 7, RiskTier.LOW: 28}
    assert set(MAXIMUM_SAFE_WAIT_DAYS) == set(RiskTier)
    assert maximum_safe_wait_days(RiskTier.HIGH) < maximum_safe_wait_days(RiskTier.MEDIUM)
    assert maximum_safe_wait_days(RiskTier.MEDIUM) < maximum_safe_wait_days(RiskTier.LOW)
