from __future__ import annotations

import uuid
from datetime import date, time
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity, pg_enum
from hub.packages.lifecycle import PackageStatus
from hub.packages.triage import Rag


class CarePackage(Entity):
    """The care commissioned for one person under one contract, delivered by one provider."""

    __tablename__ = "care_packages"

    reference: Mapped[str] = mapped_column(Text, unique=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[PackageStatus] = mapped_column(pg_enum(PackageStatus, "package_status"))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    # Mobilisation triage (seed 001): the rating, the reasons that produced it, and whether the
    # package is held out of rota conversion until someone validates it.
    rag: Mapped[Rag | None] = mapped_column(pg_enum(Rag, "rag_rating"))
    rag_reasons: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    held_out_of_rota: Mapped[bool] = mapped_column(server_default=text("false"))
    information_gaps: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    incumbent_provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    transferred_on: Mapped[date | None]

    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates_in_order"),
        Index("ix_care_packages_contract_id_status", "contract_id", "status"),
        Index("ix_care_packages_provider_id", "provider_id"),
        Index("ix_care_packages_person_id", "person_id"),
    )


class ScheduleEntry(Entity):
    """One recurring visit of a package's weekly schedule, in Europe/London local time."""

    __tablename__ = "schedule_entries"

    package_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("care_packages.id", ondelete="CASCADE")
    )
    # ISO weekdays, 1 = Monday.
    weekdays: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger))
    start_time: Mapped[time]
    duration_minutes: Mapped[int]
    time_critical: Mapped[bool] = mapped_column(server_default=text("false"))
    double_handed: Mapped[bool] = mapped_column(server_default=text("false"))
    # [{"code": "administer_medication", "description": "...", "requires": "medication"}]
    tasks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))

    __table_args__ = (
        CheckConstraint("duration_minutes BETWEEN 5 AND 1440", name="duration_range"),
        Index("ix_schedule_entries_package_id", "package_id"),
    )
