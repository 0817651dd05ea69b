"""Tables of the mobile domain (see ../shared/DESIGN.md §4): the carers' devices, the
per-device command log and the office's resolutions of quarantined commands.

`command_log` and `command_resolutions` are append-only (database triggers refuse UPDATE,
DELETE and TRUNCATE): a command the hub received is evidence, whatever became of it. A device is
state (its cursor, its clock, its outbox health) and is updated in place.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, Entity, pg_enum


class DeviceStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Device(Entity):
    """A carer's app installation, bound to the carer (and their employer) when registered.

    `id` is the UUID the app created at install: a reinstall is a new device, and its command
    sequence starts again at 1. `last_seq` is the highest sequence number the hub has settled
    (applied, quarantined or recognised as a duplicate); the next command must carry
    `last_seq + 1`. `last_command_hash` is the head of the device's hash chain.
    """

    __tablename__ = "devices"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id"))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    registered_by: Mapped[str] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    app_version: Mapped[str] = mapped_column(Text)
    protocol_version: Mapped[int]
    status: Mapped[DeviceStatus] = mapped_column(
        pg_enum(DeviceStatus, "device_status"), server_default=text("'active'")
    )
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(Text)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    last_seq: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_command_hash: Mapped[str | None] = mapped_column(Text)
    # The device's clock as last measured: offset = server receive time - device wall time,
    # and an anchor (server time ↔ monotonic milliseconds) valid while `clock_boot_id` lasts.
    clock_offset_ms: Mapped[int | None] = mapped_column(BigInteger)
    clock_boot_id: Mapped[str | None] = mapped_column(Text)
    clock_anchor_server_at: Mapped[datetime | None]
    clock_anchor_monotonic_ms: Mapped[int | None] = mapped_column(BigInteger)
    clock_measured_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    # Outbox health as the device last reported it (adjusted for what that upload settled).
    outbox_depth: Mapped[int] = mapped_column(server_default=text("0"))
    oldest_pending_at: Mapped[datetime | None]
    outbox_reported_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_devices_staff_id", "staff_id"),
        Index("ix_devices_organisation_id_outbox", "organisation_id", "oldest_pending_at"),
    )


class CommandStatus(StrEnum):
    """What became of a received command. DUPLICATE rows record a known command that came
    back under a new sequence number; a resend under its own number stores nothing new."""

    APPLIED = "applied"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


class CommandLogEntry(Base):
    """One command as the hub received it, whole, with the result it was answered with.

    `id` is the receipt id given to the app. `server_seq` orders every command the hub ever
    received (audit order); `(device_id, seq)` is the device's own gap-free order. The command
    id is claimed once (`original`): a later row with the same id is a duplicate or a reuse.
    """

    __tablename__ = "command_log"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    server_seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    # Null only for an altered resend of an already settled sequence number (kept as evidence).
    seq: Mapped[int | None] = mapped_column(BigInteger)
    command_id: Mapped[uuid.UUID]
    original: Mapped[bool]
    body_type: Mapped[str | None] = mapped_column(Text)
    # The command as received, in canonical form (hub.mobile.canonical), and its idempotency
    # fingerprint (the hash of what it records, without seq/prevHash/sig).
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    payload_sha256: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str | None] = mapped_column(Text)
    status: Mapped[CommandStatus] = mapped_column(pg_enum(CommandStatus, "command_status"))
    code: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id"))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    person_id: Mapped[uuid.UUID | None]
    visit_id: Mapped[uuid.UUID | None]
    occurred_at: Mapped[datetime | None]
    device_occurred_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    actor: Mapped[str] = mapped_column(Text)
    app_version: Mapped[str] = mapped_column(Text)
    protocol_version: Mapped[int]
    document_id: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("device_id", "seq"),
        Index(
            "uq_command_log_command_id_original",
            "command_id",
            unique=True,
            postgresql_where=text("original"),
        ),
        Index("ix_command_log_command_id", "command_id"),
        Index("ix_command_log_organisation_id_status", "organisation_id", "status", "server_seq"),
    )


class ResolutionOutcome(StrEnum):
    """How the office settled a quarantined command."""

    RECORDED_ELSEWHERE = "recorded_elsewhere"
    NOT_REQUIRED = "not_required"
    ESCALATED = "escalated"


class CommandResolution(Base):
    """The office's decision on one quarantined command (one per command, never changed)."""

    __tablename__ = "command_resolutions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    command_log_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("command_log.id"), unique=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    outcome: Mapped[ResolutionOutcome] = mapped_column(
        pg_enum(ResolutionOutcome, "command_resolution_outcome")
    )
    note: Mapped[str] = mapped_column(Text)
    resolved_by: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime]
