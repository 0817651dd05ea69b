from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Text, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from hub.change_requests.lifecycle import ChangeRequestKind, ChangeRequestStatus
from hub.db.base import Entity, pg_enum


class ChangeRequest(Entity):
    """A supplier software update, contract variation or commissioner amendment, assessed for
    its capacity, risk and cost impact and approved before it may take effect (seed 000)."""

    __tablename__ = "change_requests"

    reference: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[ChangeRequestKind] = mapped_column(
        pg_enum(ChangeRequestKind, "change_request_kind")
    )
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    raised_by_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    contract_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contracts.id"))
    affected_package_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(Uuid), server_default=text("'{}'::uuid[]")
    )
    affected_workflows: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    capacity_impact: Mapped[str | None] = mapped_column(Text)
    risk_impact: Mapped[str | None] = mapped_column(Text)
    cost_impact_pence: Mapped[int | None]
    assurance_plan: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ChangeRequestStatus] = mapped_column(
        pg_enum(ChangeRequestStatus, "change_request_status")
    )
    effective_from: Mapped[date | None]

    __table_args__ = (
        Index("ix_change_requests_contract_id", "contract_id"),
        Index("ix_change_requests_raised_by_organisation_id", "raised_by_organisation_id"),
    )


class ChangeDecision(Entity):
    """One move of a change request through its workflow: who, when, from what, to what, why."""

    __tablename__ = "change_decisions"

    change_request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("change_requests.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[ChangeRequestStatus | None] = mapped_column(
        pg_enum(ChangeRequestStatus, "change_request_status")
    )
    to_status: Mapped[ChangeRequestStatus] = mapped_column(
        pg_enum(ChangeRequestStatus, "change_request_status")
    )
    decided_by: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
