from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base


class AccessLogEntry(Base):
    """One read of identifiable personal data: who, as what, through which operation, why,
    whose records and how many rows. Append-only (the database refuses UPDATE and DELETE).

    `person_ids` names person records. Data about a person can also be read before any person
    record exists (an unlinked referral's minimum dataset, an inbound payload body, a portal
    import row): `records` names those ("Referral:<uuid>") and `nhs_numbers` the NHS numbers
    they carried, so a search by NHS number finds those reads as well."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    account_id: Mapped[uuid.UUID | None]
    subject: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    organisation_id: Mapped[uuid.UUID | None]
    operation_name: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    purpose: Mapped[str | None] = mapped_column(Text)
    person_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    records: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    nhs_numbers: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    row_count: Mapped[int]
    request_id: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_access_log_person_ids", "person_ids", postgresql_using="gin"),
        Index("ix_access_log_occurred_at", "occurred_at"),
        Index("ix_access_log_nhs_numbers", "nhs_numbers", postgresql_using="gin"),
        Index("ix_access_log_records", "records", postgresql_using="gin"),
    )
