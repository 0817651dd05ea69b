"""The referral pathway pack as data: the minimum dataset and the maximum safe wait per risk tier.

Seed 002 has provider and commissioner agree, before go-live, "a single referral form, a minimum
dataset, and clear acceptance/exclusion criteria", and "maximum safe waits by risk tier". Both are
tables here, not code paths, so the pack the commissioner signed off can be read (and later made
per contract) without reading the service.

The minimum dataset differs by source: a GP or a hospital holds the NHS number and the clinical
risks; a person referring themselves does not, and their referral is their consent. Field names
follow the NHS Booking and Referral Standard / e-RS vocabulary where one exists (subject,
reason, requester) and are camelCase because they travel in JSON.

A value counts as missing when the key is absent, null, blank text or an empty list/object. A
boolean `false` is *present*: "the person does not consent" is an answer for triage to act on,
not a gap in the form.

All of this is pure: no database, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from hub.errors import InvalidInput
from hub.referrals.models import ReferralSource, RiskTier

S = ReferralSource
ALL_SOURCES: frozenset[ReferralSource] = frozenset(ReferralSource)
# Every source except the person themselves: someone else made the referral.
ON_BEHALF: frozenset[ReferralSource] = ALL_SOURCES - {S.SELF}
# Statutory and clinical referrers, who hold the NHS number and the recorded risks.
CLINICAL: frozenset[ReferralSource] = frozenset({S.GP, S.HOSPITAL_DISCHARGE, S.SOCIAL_CARE})


class FieldKind(StrEnum):
    """How a dataset value is checked when it is present."""

    TEXT = "text"
    DATE = "date"  # ISO 8601 calendar date, e.g. 2026-11-23
    BOOLEAN = "boolean"
    NHS_NUMBER = "nhs_number"  # ten digits; spaces allowed as printed on letters


@dataclass(frozen=True, slots=True)
class DatasetField:
    """One field of the minimum dataset and the sources that must supply it."""

    name: str
    label: str
    kind: FieldKind
    required_for: frozenset[ReferralSource]
    description: str

    def is_required_for(self, source: ReferralSource) -> bool:
        return source in self.required_for


MINIMUM_DATASET: tuple[DatasetField, ...] = (
    DatasetField(
        "nhsNumber",
        "NHS number",
        FieldKind.NHS_NUMBER,
        CLINICAL,
        "The person's NHS number. Clinical and statutory referrers hold it; a person referring "
        "themselves or a charity may not.",
    ),
    DatasetField("givenName", "Given name", FieldKind.TEXT, ALL_SOURCES, "The person's name."),
    DatasetField("familyName", "Family name", FieldKind.TEXT, ALL_SOURCES, "The person's name."),
    DatasetField(
        "dateOfBirth", "Date of birth", FieldKind.DATE, ALL_SOURCES, "ISO date, e.g. 1941-03-09."
    ),
    DatasetField(
        "addressLine1", "Address", FieldKind.TEXT, ALL_SOURCES, "Where care would be delivered."
    ),
    DatasetField("postcode", "Postcode", FieldKind.TEXT, ALL_SOURCES, "Of that address."),
    DatasetField(
        "contactTelephone",
        "Contact telephone",
        FieldKind.TEXT,
        ALL_SOURCES,
        "A number that reaches the person or their carer: interim contacts while waiting "
        "(seed 002) depend on it.",
    ),
    DatasetField(
        "reasonForReferral",
        "Reason for referral",
        FieldKind.TEXT,
        ALL_SOURCES,
        "What help is asked for and why now.",
    ),
    DatasetField(
        "consentToReferral",
        "Consent to referral",
        FieldKind.BOOLEAN,
        ON_BEHALF,
        "Whether the person agreed to being referred. A self-referral is its own consent.",
    ),
    DatasetField(
        "referrerName",
        "Referrer's name",
        FieldKind.TEXT,
        ON_BEHALF,
        "Who to call back about this referral.",
    ),
    DatasetField(
        "referrerContact",
        "Referrer's telephone or email",
        FieldKind.TEXT,
        ON_BEHALF,
        "How to reach the referrer for missing information or to return the referral.",
    ),
    DatasetField(
        "registeredGpPractice",
        "Registered GP practice",
        FieldKind.TEXT,
        frozenset({S.HOSPITAL_DISCHARGE, S.SOCIAL_CARE}),
        "Name or ODS code of the person's GP practice (a GP referral comes from it).",
    ),
    DatasetField(
        "knownRisks",
        "Known risks",
        FieldKind.TEXT,
        CLINICAL,
        "Falls, safeguarding, lone working, DNAR and other risks the referrer knows of; "
        "'none known' is an answer.",
    ),
    DatasetField(
        "dischargeDate",
        "Planned discharge date",
        FieldKind.DATE,
        frozenset({S.HOSPITAL_DISCHARGE}),
        "When the person leaves hospital: care must be ready by then.",
    ),
    DatasetField(
        "dischargeWard",
        "Discharging ward or unit",
        FieldKind.TEXT,
        frozenset({S.HOSPITAL_DISCHARGE}),
        "Where to reach the discharge team.",
    ),
    DatasetField(
        "careAssessmentReference",
        "Care Act assessment reference",
        FieldKind.TEXT,
        frozenset({S.SOCIAL_CARE}),
        "The local authority's assessment the referral follows from.",
    ),
    DatasetField(
        "communicationNeeds",
        "Communication needs",
        FieldKind.TEXT,
        frozenset(),
        "Interpreter, hearing, sight or cognitive needs (optional).",
    ),
    DatasetField(
        "nextOfKin",
        "Next of kin",
        FieldKind.TEXT,
        frozenset(),
        "Name and contact of next of kin (optional).",
    ),
)
"""The minimum dataset, in the order a form shows it and missing fields are listed."""

DATASET_FIELDS: Mapping[str, DatasetField] = MappingProxyType(
    {field.name: field for field in MINIMUM_DATASET}
)


MAXIMUM_SAFE_WAIT_DAYS: Mapping[RiskTier, int] = MappingProxyType(
    {RiskTier.HIGH: 2, RiskTier.MEDIUM: 7, RiskTier.LOW: 28}
)
"""Days from receipt by which a triaged referral must be seen (seed 002's maximum safe wait).

High risk: 2 days, the Urgent Community Response standard for less urgent cases. Medium: a week.
Low: four weeks. Interim contacts (telephone check-ins, written advice) cover the wait.
"""


def maximum_safe_wait_days(tier: RiskTier) -> int:
    """The agreed maximum safe wait for a risk tier, in days from receipt."""
    return MAXIMUM_SAFE_WAIT_DAYS[tier]


def required_fields(source: ReferralSource) -> tuple[DatasetField, ...]:
    """The fields a referral from `source` must carry, in dataset order."""
    return tuple(field for field in MINIMUM_DATASET if field.is_required_for(source))


def is_missing(value: Any) -> bool:
    """Absent, null, blank text, or an empty list/object. `False` and `0` are answers."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict | tuple):
        return not value
    return False


def assess_completeness(source: ReferralSource, dataset: Mapping[str, Any]) -> list[str]:
    """The names of required fields `dataset` lacks for a referral from `source`, in dataset
    order; empty when the referral is complete."""
    return [field.name for field in required_fields(source) if is_missing(dataset.get(field.name))]


_NHS_NUMBER = re.compile(r"^\d{10}$")


def validate_dataset(dataset: Mapping[str, Any], *, path: str = "minimumDataset") -> None:
    """Refuse names the dataset does not have (usually a typo that would otherwise show up only
    as a "missing" field) and present values of the wrong shape. Missing values are not errors
    here: an incomplete referral is still received, and its gaps listed."""
    for name, value in dataset.items():
        field = DATASET_FIELDS.get(name)
        if field is None:
            raise InvalidInput(
                f"{path}.{name}",
                "is not a field of the referral minimum dataset",
                code="UNKNOWN_DATASET_FIELD",
            )
        if is_missing(value):
            continue
        _check_value(field, value, f"{path}.{name}")


def _check_value(field: DatasetField, value: Any, where: str) -> None:
    if field.kind is FieldKind.BOOLEAN:
        if not isinstance(value, bool):
            raise InvalidInput(where, "must be true or false", code="INVALID_DATASET_VALUE")
        return
    if not isinstance(value, str):
        raise InvalidInput(where, "must be text", code="INVALID_DATASET_VALUE")
    if field.kind is FieldKind.DATE:
        try:
            date.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInput(
                where, "must be a date like 2026-11-23", code="INVALID_DATASET_VALUE"
            ) from exc
    elif field.kind is FieldKind.NHS_NUMBER and not _NHS_NUMBER.match(value.replace(" ", "")):
        # Only the shape is checked: an NHS number failing the modulus-11 check is kept and
        # flagged when the person record is made, not refused at the door (domain anchors B4).
        raise InvalidInput(where, "must be 10 digits", code="INVALID_DATASET_VALUE")
