from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import JSONB
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
