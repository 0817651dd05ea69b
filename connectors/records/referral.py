"""The canonical inbound referral: what any referral connector (FHIR/BaRS today, e-RS or a
portal form later) maps its payload to, and what the hub's referrals domain applies.

Frozen dataclasses with no behaviour. Identifiers are kept as given together with their check
result (an NHS number failing modulus 11 is kept and flagged, never dropped), and every upstream
code that was mapped to a hub category is kept beside the category, so nothing is lost in
translation and a later re-mapping can be done from the record alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from connectors.standards.nhs_number import NhsNumberCheck


class ReferralSource(StrEnum):
    """Where the referral came from, in the categories commissioners report on (the Community
    Services Data Set and the 2-hour Urgent Community Response returns count referrals by source).
    """

    GP = "gp"
    HOSPITAL_DISCHARGE = "hospital_discharge"
    SOCIAL_CARE = "social_care"
    SELF = "self"
    THIRD_SECTOR = "third_sector"
    OTHER = "other"


class ReferralPriority(StrEnum):
    """FHIR request priority (R4 `request-priority`); a referral without one is routine."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


@dataclass(frozen=True, slots=True)
class CodedValue:
    """An upstream code as sent (first coding, or text only): kept so mappings can be audited.

    `display` is the coding's display (the terminology's words); `text` is the concept's own
    text, often the clinician's words ("Swollen abdomen"). Both are kept as sent.
    """

    system: str | None
    code: str | None
    display: str | None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class SourceIdentifier:
    """The sender's identifier for a thing; `system` + `value` is the de-duplication key.

    `location` says where in the upstream payload it was read (a FHIRPath expression for FHIR)
    so a "duplicate" answer can point at it. It is not part of the identity: two payloads with
    the same system and value are the same referral wherever the identifier sits.
    """

    system: str
    value: str
    location: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class DataQualityFlag:
    """A problem that did not stop the record being accepted but that someone must look at.

    The hub turns each flag into a data-quality exception (DESIGN.md §7: never a silent drop).
    `code` is stable (e.g. ``nhs-number-check-failed``); `location` is where in the upstream
    payload the problem is.
    """

    code: str
    location: str
    detail: str


@dataclass(frozen=True, slots=True)
class PersonName:
    family: str | None
    given: tuple[str, ...]
    prefix: tuple[str, ...]
    text: str | None


@dataclass(frozen=True, slots=True)
class PostalAddress:
    use: str | None
    lines: tuple[str, ...]
    city: str | None
    district: str | None
    postcode: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class ContactPoint:
    """A phone number, email address or similar (FHIR ContactPoint)."""

    system: str | None
    value: str
    use: str | None


@dataclass(frozen=True, slots=True)
class RelatedContact:
    """Next of kin, carer or another person to contact about the referred person."""

    relationships: tuple[CodedValue, ...]
    name: PersonName | None
    telecom: tuple[ContactPoint, ...]


@dataclass(frozen=True, slots=True)
class ReferredPerson:
    """The person referred. `nhs_number` is the normalised ten digits when the shape is right,
    otherwise exactly as given; `nhs_number_check` says which (None when no number was sent)."""

    nhs_number: str | None
    nhs_number_check: NhsNumberCheck | None
    nhs_number_verification: CodedValue | None
    name: PersonName | None
    birth_date: date | None
    gender: str | None
    addresses: tuple[PostalAddress, ...]
    telecom: tuple[ContactPoint, ...]
    contacts: tuple[RelatedContact, ...]
    other_identifiers: tuple[SourceIdentifier, ...]


@dataclass(frozen=True, slots=True)
class Referrer:
    """Who sent the referral. `ods_code` is the referring organisation's ODS code, as given and
    format-checked; `kind` is the FHIR resource type of the requester (Practitioner,
    PractitionerRole, Organization, Patient, RelatedPerson, Device) when known."""

    ods_code: str | None
    organisation_name: str | None
    kind: str | None
    practitioner_name: str | None
    # Where in the payload the ODS code was read (the requester, or a message's sender).
    ods_location: str | None = None


@dataclass(frozen=True, slots=True)
class ReferralDataset:
    """The minimum dataset a community or social care service needs to triage a referral.

    `requested_start`/`requested_end` is when the referrer wants the service to happen (BaRS
    ``occurrencePeriod``); an end sent as a date alone includes that whole day, so it is stored
    as the following midnight (UK time). `registered_gp_ods` is the person's registered GP
    practice.
    """

    authored_on: datetime | None
    requested_start: datetime | None
    requested_end: datetime | None
    registered_gp_ods: str | None
    preferred_language: CodedValue | None
    interpreter_required: bool | None
    patient_instruction: str | None
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MessageEnvelope:
    """The message header of a messaging-pattern referral (NHS Booking and Referral Standard).

    Kept because replies go back to `source_endpoint`, and `reason` (new/update) tells a first
    referral from a revision of one the hub already holds.
    """

    message_id: str | None
    event: CodedValue | None
    reason: CodedValue | None
    source_endpoint: str | None
    destination_endpoints: tuple[str, ...]
    sender_ods: str | None
    definition: str | None


@dataclass(frozen=True, slots=True)
class InboundReferral:
    """A referral as received, mapped to the hub's vocabulary but not yet triaged.

    `source` is the mapped category and `source_code` the upstream code it came from (None when
    the sender gave none and the category fell back to OTHER).
    """

    source: ReferralSource
    source_code: CodedValue | None
    source_identifier: SourceIdentifier
    other_identifiers: tuple[SourceIdentifier, ...]
    referrer: Referrer
    patient: ReferredPerson
    service_requested: CodedValue | None
    reasons: tuple[CodedValue, ...]
    categories: tuple[CodedValue, ...]
    priority: ReferralPriority
    dataset: ReferralDataset
    message: MessageEnvelope | None
    received_at: datetime
    flags: tuple[DataQualityFlag, ...]
