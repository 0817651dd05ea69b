from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity


class Visit(Entity):
    """One planned visit, generated from a schedule entry (or added by hand). Its status is
    derived from facts — check-in, check-out, cancellation — and the contract's tolerances."""

    __tablename__ = "visits"

    package_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_packages.id"))
    schedule_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("schedule_entries.id", ondelete="SET NULL")
    )
    # package:entry:local-date — generating the same range twice creates nothing new.
    idempotency_key: Mapped[str] = mapped_column(Text, unique=True)
    planned_start: Mapped[datetime]
    planned_end: Mapped[datetime]
    # How the local start time was placed on a clock-change day (exact / shifted / first).
    start_resolution: Mapped[str] = mapped_column(Text, server_default=text("'exact'"))
    time_critical: Mapped[bool] = mapped_column(server_default=text("false"))
    double_handed: Mapped[bool] = mapped_column(server_default=text("false"))
    tasks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    checked_in_at: Mapped[datetime | None]
    checked_out_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancellation_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("planned_end > planned_start", name="planned_in_order"),
        Index("ix_visits_package_id_planned_start", "package_id", "planned_start"),
        Index("ix_visits_planned_start", "planned_start"),
    )


class VisitAssignment(Entity):
    """A carer assigned to a visit (two for a double-handed one)."""

    __tablename__ = "visit_assignments"

    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id"))
    assigned_by: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("visit_id", "staff_id"),
        Index("ix_visit_assignments_staff_id", "staff_id"),
    )
