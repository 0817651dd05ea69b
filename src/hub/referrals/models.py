from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity, pg_enum


class ReferralSource(StrEnum):
    GP = "gp"
    HOSPITAL_DISCHARGE = "hospital_discharge"
    SOCIAL_CARE = "social_care"
    SELF = "self"
    THIRD_SECTOR = "third_sector"
    OTHER = "other"


class ReferralPriority(StrEnum):
    """How soon the referrer needs the referral acted on (FHIR R4 request-priority)."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


class ReferralStatus(StrEnum):
    RECEIVED = "received"
    TRIAGED = "triaged"
    ACCEPTED = "accepted"
    EXCLUDED = "excluded"
    CONVERTED = "converted"  # became a care package
    WITHDRAWN = "withdrawn"


class RiskTier(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Referral(Entity):
    """A request for care from a GP, hospital, social worker, the person or a charity, with
    the minimum dataset it carried, what is missing, and what was decided."""

    __tablename__ = "referrals"

    reference: Mapped[str] = mapped_column(Text, unique=True)
    source: Mapped[ReferralSource] = mapped_column(pg_enum(ReferralSource, "referral_source"))
    # The referrer the referral itself names (a FHIR requester, a BaRS sender): the organisation
    # when the hub knows its ODS code, and the code as named either way.
    referrer_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id")
    )
    referrer_ods_code: Mapped[str | None] = mapped_column(Text)
    # Whose system delivered it: a partner client's organisation, which may send on behalf of
    # the referrer (e-RS, a discharge hub); the office's own organisation for a hand entry.
    delivered_by_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id")
    )
    priority: Mapped[ReferralPriority] = mapped_column(
        pg_enum(ReferralPriority, "referral_priority"), server_default=text("'routine'")
    )
    provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    contract_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contracts.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    # The organisation that sent it (a partner for itself, an office receiving for itself; None
    # when an admin entered it). Re-sends are recognised per sender: one sender's identifier
    # never answers for, or reveals, another's.
    sent_by_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id")
    )
    # The sender's own identifier, for applying a re-sent referral once.
    source_system: Mapped[str | None] = mapped_column(Text)
    source_identifier: Mapped[str | None] = mapped_column(Text)
    minimum_dataset: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    missing_fields: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    status: Mapped[ReferralStatus] = mapped_column(pg_enum(ReferralStatus, "referral_status"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    risk_tier: Mapped[RiskTier | None] = mapped_column(pg_enum(RiskTier, "risk_tier"))
    maximum_safe_wait_days: Mapped[int | None]
    received_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    package_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("care_packages.id"))

    __table_args__ = (
        # One referral per (sender, identifier); admins (no sender) share one scope, and
        # referrals without an identifier are not keyed at all.
        Index(
            "uq_referrals_sender_source_identifier",
            "sent_by_organisation_id",
            "source_system",
            "source_identifier",
            unique=True,
            postgresql_nulls_not_distinct=True,
            postgresql_where=text("source_identifier IS NOT NULL"),
        ),
        Index("ix_referrals_provider_id_status", "provider_id", "status"),
        Index("ix_referrals_referrer_organisation_id", "referrer_organisation_id"),
        Index("ix_referrals_delivered_by_organisation_id", "delivered_by_organisation_id"),
    )
