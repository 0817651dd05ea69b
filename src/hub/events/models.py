"""The event log: one append-only table of everything that happened.

It is at once the outbox, the audit timeline, the KPI evidence and the subscription feed.
`txid` (the writing transaction's id, `pg_current_xact_id()`) lets feed readers never skip an
event when transactions commit out of id order: a reader only advances past ids whose
transactions are older than its snapshot's xmin.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    # xid8 is a 64-bit epoch-extended transaction id; as bigint it compares and indexes simply.
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    type: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[uuid.UUID]
    organisation_id: Mapped[uuid.UUID | None]
    contract_id: Mapped[uuid.UUID | None]
    person_id: Mapped[uuid.UUID | None]
    actor: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    correlation_id: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        Index("ix_events_subject", "subject_type", "subject_id", "id"),
        Index("ix_events_contract_id", "contract_id", "id"),
        Index("ix_events_organisation_id", "organisation_id", "id"),
        Index("ix_events_person_id", "person_id", "id"),
        Index("ix_events_type", "type", "id"),
        # Feed readers walk the log in (txid, id) order: see hub.events.feed.FeedPosition.
        Index("ix_events_txid", "txid", "id"),
        Index("ix_events_contract_txid", "contract_id", "txid", "id"),
    )
