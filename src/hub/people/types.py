"""GraphQL types of the people domain, and the `NhsNumber` scalar.

`Person` carries its sealed access details privately; `accessDetails` and `keySafeCode` open
them only for a caller `service.people_with_access_open` allows at the time of the request, and
answer null (no error) for everyone else. Whoever returns a `Person` must also record the read
(`info.context.audit.person_read`); `hub.people.loaders.resolve_person` does both.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import Any, NewType

import strawberry
from strawberry.scalars import JSON

from connectors.standards.nhs_number import check_nhs_number, format_nhs_number
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.people import service
from hub.people.models import NhsNumberStatus as StatusValue
from hub.people.models import Person as PersonRow
from hub.people.sealing import sealer_for
from hub.people.vocabulary import MedicationSupport as SupportValue


def _parse_nhs_number(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("an NHS number is written as a string of ten digits, e.g. '943 476 5919'")
    check = check_nhs_number(value)
    if not check.is_valid or check.normalised is None:
        raise ValueError(f"not a valid NHS number: {check.reason}")
    return check.normalised


NhsNumber = NewType("NhsNumber", str)
# The scalar is attached to the NewType directly: `strawberry.scalar(cls)` is deprecated, and the
# recommended `scalar_map` lives in the schema's config, which a domain does not own.
NhsNumber._scalar_definition = strawberry.scalar(  # type: ignore[attr-defined]
    name="NhsNumber",
    description=(
        "An NHS number: ten digits whose last is the modulus-11 check digit. Accepted with or "
        "without spaces or hyphens ('943 476 5919'); always given out as the ten digits. A "
        "value failing the check, of the wrong length or of ten copies of one digit is refused."
    ),
    specified_by_url=("https://www.datadictionary.nhs.uk/attributes/nhs_number.html"),
    serialize=str,
    parse_value=_parse_nhs_number,
)


@strawberry.enum(description="How far carers go with the person's medicines.")
class MedicationSupport(Enum):
    NONE = strawberry.enum_value(SupportValue.NONE.value, description="No medication support.")
    PROMPT = strawberry.enum_value(
        SupportValue.PROMPT.value, description="Remind the person to take their medicines."
    )
    ASSIST = strawberry.enum_value(
        SupportValue.ASSIST.value,
        description="Help with packaging or equipment; the person takes the medicine.",
    )
    ADMINISTER = strawberry.enum_value(
        SupportValue.ADMINISTER.value,
        description="Give the medicine; needs a carer with evidenced medication competence.",
    )


@strawberry.enum(description="How far the hub trusts a person's NHS number.")
class NhsNumberStatus(Enum):
    VERIFIED = strawberry.enum_value(
        StatusValue.VERIFIED.value, description="Passes the check and confirmed (PDS, referrer)."
    )
    UNVERIFIED = strawberry.enum_value(
        StatusValue.UNVERIFIED.value, description="Passes the modulus-11 check; not yet confirmed."
    )
    FAILED_CHECK = strawberry.enum_value(
        StatusValue.FAILED_CHECK.value,
        description="Imported as given but fails the check: someone must verify it.",
    )
    ABSENT = strawberry.enum_value(StatusValue.ABSENT.value, description="No NHS number known.")


@strawberry.type(description="Where the person lives. The location centres the visit geofence.")
class PersonAddress:
    line1: str
    line2: str | None
    town: str
    postcode: str
    latitude: float | None
    longitude: float | None


@strawberry.type(description="Someone to contact about the person: family, friend, advocate.")
class PersonContact:
    name: str
    relationship: str | None = strawberry.field(description="e.g. daughter, neighbour, GP.")
    phone: str | None
    email: str | None
    next_of_kin: bool
    key_holder: bool = strawberry.field(description="Holds a key to the person's home.")


@strawberry.type(description="What carers must know before they walk in.")
class RiskFlags:
    falls: bool = strawberry.field(description="At risk of falls.")
    safeguarding: bool = strawberry.field(description="Safeguarding history or current concern.")
    dnar: bool = strawberry.field(
        description="A Do Not Attempt Resuscitation decision is in place."
    )
    escalation_preferences: str | None = strawberry.field(
        description="Agreed escalation and treatment preferences (e.g. ReSPECT form wishes)."
    )
    lone_working: bool = strawberry.field(description="Lone working needs extra precautions.")
    environmental: str | None = strawberry.field(
        description="Hazards at the home: pets, smoking, access, hoarding, oxygen."
    )
    lives_alone: bool


@strawberry.type(
    description="A person receiving care. Reading any of this is recorded in the access log."
)
class Person(Node):
    id: strawberry.ID
    given_name: str
    family_name: str
    preferred_name: str | None = strawberry.field(description="What the person likes to be called.")
    date_of_birth: date
    nhs_number: NhsNumber | None = strawberry.field(
        description="As held; check `nhsNumberStatus` before matching on it."
    )
    nhs_number_status: NhsNumberStatus
    nhs_number_source: str | None = strawberry.field(
        description="Where the number came from, e.g. `office`, `la-portal`, `gp-referral:Y99901`."
    )
    address: PersonAddress
    contacts: list[PersonContact]
    risk_flags: RiskFlags
    medication_support: MedicationSupport
    created_at: datetime
    updated_at: datetime
    person_id: strawberry.Private[uuid.UUID]
    sealed_access_details: strawberry.Private[bytes | None]
    sealed_key_safe: strawberry.Private[bytes | None]

    @strawberry.field(description="Full name as usually written: given name, then family name.")
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @strawberry.field(description="The NHS number in the 3-3-4 grouping NHS systems display.")
    def nhs_number_formatted(self) -> str | None:
        number = self.nhs_number
        if number is None or len(number) != 10 or not number.isdigit():
            return None
        return format_nhs_number(number)

    @strawberry.field(
        description="How to get in (door, parking, who answers). Office staff always; a carer "
        "only from 30 minutes before to 30 minutes after a visit to this person assigned to "
        "them; null otherwise."
    )
    async def access_details(self, info: Info) -> str | None:
        return await _reveal(
            info, self.person_id, service.ACCESS_DETAILS_FIELD, self.sealed_access_details
        )

    @strawberry.field(description="The key-safe code, on the same terms as `accessDetails`.")
    async def key_safe_code(self, info: Info) -> str | None:
        return await _reveal(info, self.person_id, service.KEY_SAFE_FIELD, self.sealed_key_safe)

    @classmethod
    def from_model(cls, row: PersonRow) -> Person:
        return cls(
            id=strawberry.ID(encode_global_id("Person", row.id)),
            given_name=row.given_name,
            family_name=row.family_name,
            preferred_name=row.preferred_name,
            date_of_birth=row.date_of_birth,
            nhs_number=NhsNumber(row.nhs_number) if row.nhs_number is not None else None,
            nhs_number_status=NhsNumberStatus[row.nhs_number_status.name],
            nhs_number_source=row.nhs_number_source,
            address=PersonAddress(
                line1=row.address_line_1,
                line2=row.address_line_2,
                town=row.town,
                postcode=row.postcode,
                latitude=row.latitude,
                longitude=row.longitude,
            ),
            contacts=[_contact(service.Contact.from_json(c)) for c in row.contacts],
            risk_flags=RiskFlags(
                falls=row.falls_risk,
                safeguarding=row.safeguarding_history,
                dnar=row.dnar,
                escalation_preferences=row.escalation_preferences,
                lone_working=row.lone_working_risk,
                environmental=row.environmental_risks,
                lives_alone=row.lives_alone,
            ),
            medication_support=MedicationSupport[row.medication_support.name],
            created_at=row.created_at,
            updated_at=row.updated_at,
            person_id=row.id,
            sealed_access_details=row.access_details_sealed,
            sealed_key_safe=row.key_safe_sealed,
        )


def _contact(contact: service.Contact) -> PersonContact:
    return PersonContact(
        name=contact.name,
        relationship=contact.relationship,
        phone=contact.phone,
        email=contact.email,
        next_of_kin=contact.next_of_kin,
        key_holder=contact.key_holder,
    )


_AUDIT_FIELDS = {
    service.ACCESS_DETAILS_FIELD: "accessDetails",
    service.KEY_SAFE_FIELD: "keySafeCode",
}


async def _reveal(info: Info, person_id: uuid.UUID, field: str, sealed: bytes | None) -> str | None:
    # Imported here: the loaders module builds these types, so it cannot be imported at the top.
    from hub.people.loaders import access_open_loader

    if sealed is None:
        return None
    if not await access_open_loader(info).load(person_id):
        return None
    value = service.open_sealed(sealer_for(info.context.settings), person_id, field, sealed)
    info.context.audit.person_read(_AUDIT_FIELDS[field], [person_id])
    return value


@strawberry.type(
    description="Nothing was registered or linked: the NHS number given is held for a record "
    "whose date of birth or family name did not match. The record you sent is kept whole and "
    "held for review; nothing of any other record is shown."
)
class PersonHeldForReview:
    code: str = strawberry.field(description="Always `HELD_FOR_REVIEW`.")
    message: str = strawberry.field(description="What happens next, for a person to read.")
    reference: strawberry.ID = strawberry.field(
        description="The hold's reference, to quote when you are contacted about it."
    )
    held_by: str = strawberry.field(
        description="The office whose data-quality worklist reviews it."
    )


@strawberry.type(
    description="A write held for review: it carried an NHS number the hub holds for a record "
    "whose date of birth or family name did not match, so it linked nobody. `submitted` is the "
    "version sent; `existingPerson` is the record it named, shown only to those who may already "
    "see that record (and their read is access-logged)."
)
class PersonLinkHold:
    id: strawberry.ID
    received_at: datetime
    source: str = strawberry.field(description="Where the write came from.")
    submitted: JSON = strawberry.field(description="The person as the sender gave them.")

    existing_person_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The record the NHS number belongs to, if you may see it.")
    async def existing_person(self, info: Info) -> Person | None:
        from hub.people.loaders import resolve_person

        return await resolve_person(info, self.existing_person_id)

    @classmethod
    def from_model(cls, row: Any) -> PersonLinkHold:
        sealed = ("accessDetailsSealed", "keySafeSealed", "id")
        return cls(
            id=strawberry.ID(str(row.id)),
            received_at=row.created_at,
            source=row.source,
            submitted=JSON({k: v for k, v in row.submitted.items() if k not in sealed}),
            existing_person_id=row.existing_person_id,
        )
