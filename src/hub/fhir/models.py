"""Tables of the fhir domain: which archived FHIR message fed which referral.

The referral itself lives in the referrals domain and the message bytes in the inbound archive
(`hub.integrations`); a submission joins the two and keeps what FHIR says about the referral
that the referral's own columns do not hold: the request priority (for the Task partners read),
the message id, and the warnings the sender was answered with.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity, pg_enum


class Interaction(StrEnum):
    """How the referral arrived: ``POST /fhir/ServiceRequest`` or ``/fhir/$process-message``."""

    CREATE = "create"
    PROCESS_MESSAGE = "process_message"


class SubmissionOutcome(StrEnum):
    CREATED = "created"  # the message made the referral
    DUPLICATE = "duplicate"  # the referral was already held (same identifier): nothing changed


class FhirSubmission(Entity):
    """One accepted FHIR referral message (a first receipt or a re-send)."""

    __tablename__ = "fhir_submissions"

    # One submission per archived message: the same bytes re-posted are answered from here.
    payload_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inbound_payloads.id"), unique=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id"))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    client_id: Mapped[str | None] = mapped_column(Text)
    interaction: Mapped[Interaction] = mapped_column(pg_enum(Interaction, "fhir_interaction"))
    outcome: Mapped[SubmissionOutcome] = mapped_column(
        pg_enum(SubmissionOutcome, "fhir_submission_outcome")
    )
    # R4 request priority as sent (routine when absent): the Task partners read repeats it.
    priority: Mapped[str] = mapped_column(Text)
    # Bundle.identifier of a BaRS message, for tracing a message end to end.
    message_id: Mapped[str | None] = mapped_column(Text)
    # The warning issues the sender was answered with (OperationOutcome.issue JSON).
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    received_at: Mapped[datetime]

    __table_args__ = (Index("ix_fhir_submissions_referral_id", "referral_id"),)
