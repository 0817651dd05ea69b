from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity, pg_enum
from hub.staff.competency import CompetencyStatus


class StaffRole(StrEnum):
    CARER = "carer"
    SENIOR_CARER = "senior_carer"
    NURSE = "nurse"
    COORDINATOR = "coordinator"
    REGISTERED_MANAGER = "registered_manager"
    OTHER = "other"


class StaffMember(Entity):
    """Someone employed by a provider; `tupe_origin_id` is the employer they transferred from."""

    __tablename__ = "staff_members"

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    given_name: Mapped[str] = mapped_column(Text)
    family_name: Mapped[str] = mapped_column(Text)
    role: Mapped[StaffRole] = mapped_column(pg_enum(StaffRole, "staff_role"))
    active: Mapped[bool] = mapped_column(default=True)
    tupe_origin_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    tupe_transferred_on: Mapped[date | None]
    # The supplier system's id for this person, with the system it came from.
    external_source: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_staff_members_organisation_id", "organisation_id"),
        UniqueConstraint("external_source", "external_id"),
    )


class Competency(Entity):
    """One competence of one staff member, with its evidence. Its *effective* status is
    expired once past `expires_on`, whatever is stored (see hub.staff.competency)."""

    __tablename__ = "competencies"

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(Text)
    status: Mapped[CompetencyStatus] = mapped_column(pg_enum(CompetencyStatus, "competency_status"))
    evidence_reference: Mapped[str | None] = mapped_column(Text)
    assessed_by: Mapped[str | None] = mapped_column(Text)
    assessed_on: Mapped[date | None]
    expires_on: Mapped[date | None]

    __table_args__ = (UniqueConstraint("staff_id", "code"),)
