from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity, pg_enum


class ServiceType(StrEnum):
    HOMECARE = "homecare"
    REABLEMENT = "reablement"
    COMMUNITY_NURSING = "community_nursing"
    SUPPORTED_LIVING = "supported_living"
    OTHER = "other"


class Contract(Entity):
    """A commissioned service between a commissioner and a provider, with the tolerances the
    exception rules apply and the outcome codes a case may be closed with."""

    __tablename__ = "contracts"

    reference: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    commissioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    service_type: Mapped[ServiceType] = mapped_column(pg_enum(ServiceType, "service_type"))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    # Tolerances, in minutes after the planned start: late, late for time-critical calls, missed.
    late_after_minutes: Mapped[int]
    time_critical_late_after_minutes: Mapped[int]
    missed_after_minutes: Mapped[int]
    # A visit shorter than this share of its planned length is "short".
    minimum_stay_percent: Mapped[int]

    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates_in_order"),
        CheckConstraint(
            "time_critical_late_after_minutes <= late_after_minutes "
            "AND late_after_minutes < missed_after_minutes",
            name="tolerances_in_order",
        ),
        CheckConstraint("minimum_stay_percent BETWEEN 1 AND 100", name="stay_percent_range"),
        Index("ix_contracts_commissioner_id", "commissioner_id"),
        Index("ix_contracts_provider_id", "provider_id"),
    )


class ResolutionOutcome(Entity):
    """A way an exception case on this contract may be closed (seed 003), and what must be
    recorded with it (e.g. `coveredWithinMinutes`, `alternativeWorker`)."""

    __tablename__ = "resolution_outcomes"

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)
    required_fields: Mapped[list[str]] = mapped_column(ARRAY(Text))

    __table_args__ = (UniqueConstraint("contract_id", "code"),)


class KpiDefinition(Entity):
    """A KPI as data: the evidence chain of seed 003 — source events → quality rule →
    exception rule → governance action — and its target."""

    __tablename__ = "kpi_definitions"

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    source_event_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    quality_rule: Mapped[str] = mapped_column(Text)
    exception_rule: Mapped[str] = mapped_column(Text)
    governance_action: Mapped[str] = mapped_column(Text)
    target_percent: Mapped[float | None] = mapped_column(Numeric(5, 2, asdecimal=False))

    __table_args__ = (UniqueConstraint("contract_id", "code"),)
