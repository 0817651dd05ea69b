from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity, pg_enum
from hub.people.vocabulary import MedicationSupport


class NhsNumberStatus(StrEnum):
    VERIFIED = "verified"  # passed the check and confirmed against PDS / by the referrer
    UNVERIFIED = "unverified"  # passes the modulus-11 check, not yet confirmed
    FAILED_CHECK = "failed_check"  # imported as given, fails the check: kept and flagged
    ABSENT = "absent"


class Person(Entity):
    """A person receiving care. Access details and the key-safe code are encrypted at rest."""

    __tablename__ = "people"

    nhs_number: Mapped[str | None] = mapped_column(Text)
    nhs_number_status: Mapped[NhsNumberStatus] = mapped_column(
        pg_enum(NhsNumberStatus, "nhs_number_status")
    )
    # Where the identifier came from (e.g. "gp-referral:Y99901", "la-portal", "office").
    nhs_number_source: Mapped[str | None] = mapped_column(Text)
    given_name: Mapped[str] = mapped_column(Text)
    family_name: Mapped[str] = mapped_column(Text)
    preferred_name: Mapped[str | None] = mapped_column(Text)
    date_of_birth: Mapped[date]
    address_line_1: Mapped[str] = mapped_column(Text)
    address_line_2: Mapped[str | None] = mapped_column(Text)
    town: Mapped[str] = mapped_column(Text)
    postcode: Mapped[str] = mapped_column(Text)
    # The home's location, the centre of the check-in geofence.
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    access_details_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_safe_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    falls_risk: Mapped[bool] = mapped_column(server_default=text("false"))
    safeguarding_history: Mapped[bool] = mapped_column(server_default=text("false"))
    dnar: Mapped[bool] = mapped_column(server_default=text("false"))
    escalation_preferences: Mapped[str | None] = mapped_column(Text)
    lone_working_risk: Mapped[bool] = mapped_column(server_default=text("false"))
    environmental_risks: Mapped[str | None] = mapped_column(Text)
    lives_alone: Mapped[bool] = mapped_column(server_default=text("false"))
    # The organisation whose office registered the person: it may see them before any package
    # or referral links them (None for records imported from a referral or a portal export).
    registered_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    medication_support: Mapped[MedicationSupport] = mapped_column(
        pg_enum(MedicationSupport, "medication_support")
    )

    __table_args__ = (
        # One record per real NHS number; records whose number fails the check may repeat.
        Index(
            "uq_people_nhs_number",
            "nhs_number",
            unique=True,
            postgresql_where=text("nhs_number_status IN ('verified', 'unverified')"),
        ),
        Index("ix_people_family_name", "family_name"),
    )


class LinkBasis(StrEnum):
    REGISTERED = "registered"  # the organisation's office registered the person
    DEMOGRAPHIC_MATCH = "demographic_match"  # NHS number, date of birth and family name matched


class PersonLink(Entity):
    """An organisation linked to a person it did not register, and the evidence it gave.

    A person belongs to the organisation that registered them and to the organisations their
    packages and referrals name. Another organisation's write (a portal row, a registration,
    a referral) reaches an existing person only through a recorded demographic match; this row
    is that record, and `hub.tenancy.person_visible` lets the linked organisation see the person.
    """

    __tablename__ = "person_links"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    basis: Mapped[LinkBasis] = mapped_column(pg_enum(LinkBasis, "person_link_basis"))
    # Where the write came from (e.g. "la-portal:LA-2026-07", "office").
    source: Mapped[str] = mapped_column(Text)
    # The fields that matched, e.g. ["nhs_number", "date_of_birth", "family_name"].
    matched_fields: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    actor: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("person_id", "organisation_id"),)


class PersonLinkHold(Entity):
    """A write that named an existing person's NHS number without matching their date of birth
    and family name: kept whole, linked to nobody, held for the receiving office to review.

    `submitted` is the version the sender gave (their own data); the existing record is only
    referred to by id and is shown to nobody who could not already see it.
    """

    __tablename__ = "person_link_holds"

    existing_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    # The office whose data-quality worklist holds it (the provider the write was for).
    receiving_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id")
    )
    # Who sent it (a commissioner, a partner, the registering office itself).
    sender_organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    source: Mapped[str] = mapped_column(Text)
    submitted: Mapped[dict[str, Any]] = mapped_column(JSONB)
    actor: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_person_link_holds_existing_person_id", "existing_person_id"),)
