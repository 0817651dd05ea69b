from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, Entity, pg_enum


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
    # When the hub judged the visit late, then missed, for its current planned times
    # (`hub.visits.judgement`). Null until judged, so every visit — generated, planned by a
    # supplier after its time, or inserted any other way — waits to be judged; a reschedule
    # clears both, so the visit is judged again against its new times.
    late_judged_at: Mapped[datetime | None]
    missed_judged_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("planned_end > planned_start", name="planned_in_order"),
        Index("ix_visits_package_id_planned_start", "package_id", "planned_start"),
        Index("ix_visits_planned_start", "planned_start"),
        # The due-visit scan reads only visits still awaiting a judgement: unattended, not
        # cancelled, not yet judged missed. Judged, attended and cancelled visits leave it, so
        # its size follows the visits of the last few hours, not the table.
        Index(
            "ix_visits_awaiting_judgement",
            "planned_start",
            postgresql_where=text(
                "missed_judged_at IS NULL AND cancelled_at IS NULL "
                "AND checked_in_at IS NULL AND checked_out_at IS NULL"
            ),
        ),
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


class FactKind(StrEnum):
    """What a visit fact records."""

    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    TASK_CONFIRMATION = "task_confirmation"
    OBSERVATION = "observation"
    CONCERN = "concern"


class VisitFact(Base):
    """One thing recorded about a visit in the field: a check-in or check-out, a task
    confirmation, an observation, a concern. Immutable — the table refuses UPDATE and DELETE —
    so a correction is a new fact naming the one it `supersedes`.

    `id` is the mobile command's id (a client UUIDv7) for facts from the app, which makes a
    resent command land on the same row; a fresh UUIDv7 otherwise. `occurred_at` is the
    server-corrected business time; what the device said is kept beside it as evidence, with
    the time the hub received the fact and the flags raised when it was recorded.
    """

    __tablename__ = "visit_facts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"))
    kind: Mapped[FactKind] = mapped_column(pg_enum(FactKind, "visit_fact_kind"))
    staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_members.id"))
    # "mobile", "supplier:<instance>" or "office".
    source: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    # The carer's device for mobile facts (the mobile domain sits above visits: no foreign key).
    device_id: Mapped[uuid.UUID | None]
    occurred_at: Mapped[datetime]
    device_occurred_at: Mapped[datetime | None]
    # How `occurred_at` was derived from the device's clock (monotonic, anchor, trusted,
    # wall_offset) or "server" when nothing was corrected.
    time_basis: Mapped[str] = mapped_column(Text, server_default=text("'server'"))
    device_boot_id: Mapped[str | None] = mapped_column(Text)
    device_monotonic_ms: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    # Evidence of presence (check-in and check-out): gps, nfc, qr, manual or supplier.
    verification_method: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    accuracy_m: Mapped[float | None]
    # From the person's home, when both locations are known.
    distance_m: Mapped[float | None]
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # What the fact says: the task and its outcome, the observation's values, the concern.
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visit_facts.id"))

    __table_args__ = (
        CheckConstraint(
            "supersedes_id IS NULL OR supersedes_id <> id", name="not_self_superseding"
        ),
        Index("ix_visit_facts_visit_id_kind", "visit_id", "kind", "occurred_at"),
        Index("ix_visit_facts_staff_id", "staff_id", "occurred_at"),
        Index("ix_visit_facts_supersedes_id", "supersedes_id"),
    )


class PresenceTagKind(StrEnum):
    NFC = "nfc"
    QR = "qr"


class PresenceTag(Entity):
    """An NFC tag or a printed QR token placed in a person's home: scanning it at check-in or
    check-out is evidence the carer was there. Only a hash of the value is kept, so the table
    cannot be used to forge a token; a tag taken out of use is deactivated, never deleted."""

    __tablename__ = "presence_tags"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[PresenceTagKind] = mapped_column(pg_enum(PresenceTagKind, "presence_tag_kind"))
    value_sha256: Mapped[str] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)
    registered_by: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    deactivated_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("kind", "value_sha256"),
        Index("ix_presence_tags_person_id", "person_id"),
    )
