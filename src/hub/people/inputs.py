"""GraphQL inputs of the people domain, each turned into the service's plain arguments."""

from __future__ import annotations

from datetime import date

import strawberry

from hub.people import service
from hub.people.types import MedicationSupport, NhsNumber
from hub.people.vocabulary import MedicationSupport as SupportValue


@strawberry.input(description="Where the person lives.")
class PersonAddressInput:
    line1: str
    line2: str | None = None
    town: str
    postcode: str = strawberry.field(description="A UK postcode; stored as e.g. `NV1 1AA`.")
    latitude: float | None = strawberry.field(
        default=None, description="With `longitude`: the centre of the check-in geofence."
    )
    longitude: float | None = None

    def to_address(self) -> service.Address:
        return service.Address(
            line_1=self.line1,
            line_2=self.line2,
            town=self.town,
            postcode=self.postcode,
            latitude=self.latitude,
            longitude=self.longitude,
        )


@strawberry.input(description="Someone to contact about the person.")
class PersonContactInput:
    name: str
    relationship: str | None = None
    phone: str | None = None
    email: str | None = None
    next_of_kin: bool = False
    key_holder: bool = False

    def to_contact(self) -> service.Contact:
        return service.Contact(
            name=self.name,
            relationship=self.relationship,
            phone=self.phone,
            email=self.email,
            next_of_kin=self.next_of_kin,
            key_holder=self.key_holder,
        )


@strawberry.input(description="The person's risk flags as they now stand (all of them).")
class RiskFlagsInput:
    falls: bool = False
    safeguarding: bool = False
    dnar: bool = False
    escalation_preferences: str | None = None
    lone_working: bool = False
    environmental: str | None = None
    lives_alone: bool = False

    def to_risks(self) -> service.RiskFlags:
        return service.RiskFlags(
            falls=self.falls,
            safeguarding=self.safeguarding,
            dnar=self.dnar,
            escalation_preferences=self.escalation_preferences,
            lone_working=self.lone_working,
            environmental=self.environmental,
            lives_alone=self.lives_alone,
        )


@strawberry.input(description="A person to register, typed in by office staff.")
class RegisterPersonInput:
    given_name: str
    family_name: str
    preferred_name: str | None = None
    date_of_birth: date = strawberry.field(description="Not in the future.")
    nhs_number: NhsNumber | None = strawberry.field(
        default=None, description="Must pass the check; leave out if not known."
    )
    address: PersonAddressInput
    contacts: list[PersonContactInput] = strawberry.field(default_factory=list)
    risk_flags: RiskFlagsInput | None = None
    medication_support: MedicationSupport = MedicationSupport.NONE
    access_details: str | None = strawberry.field(
        default=None, description="How to get in; sealed at rest."
    )
    key_safe_code: str | None = strawberry.field(default=None, description="Sealed at rest.")

    def to_details(self) -> service.PersonDetails:
        return service.PersonDetails(
            given_name=self.given_name,
            family_name=self.family_name,
            preferred_name=self.preferred_name,
            date_of_birth=self.date_of_birth,
            address=self.address.to_address(),
            contacts=[contact.to_contact() for contact in self.contacts],
            risks=self.risk_flags.to_risks() if self.risk_flags else service.RiskFlags(),
            medication_support=SupportValue[self.medication_support.name],
        )


@strawberry.input(description="Replace a person's risk flags (and, if given, medication support).")
class UpdatePersonRisksInput:
    person_id: strawberry.ID
    risk_flags: RiskFlagsInput
    medication_support: MedicationSupport | None = strawberry.field(
        default=None, description="Left out: unchanged."
    )


@strawberry.input(
    description="Replace how carers get in. Both values as they now stand: null or blank clears."
)
class SetAccessDetailsInput:
    person_id: strawberry.ID
    access_details: str | None = None
    key_safe_code: str | None = None
