"""The raw inbound archive: what exactly did the upstream send, and what became of it.

Every payload from outside — a webhook delivery, a polled page, an uploaded file, a FHIR
message — is kept here byte for byte before anything is applied (brief contract C). Three
calls, all in the caller's transaction, none of which commits:

- `keep` inserts the payload unless (connector, delivery_key) is already there, and says
  which. That unique key is the hub's `ReplayGuard` (connectors.base): the claim commits or
  rolls back with whatever the payload applies, so a crash in between never loses a delivery
  and a re-delivery never applies twice.
- `mark_applied` records the outcome.
- `mark_rejected` records the errors and the `integration.payload_rejected` event, from which
  governance opens a data-quality case. Nothing is ever silently dropped.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.events.log import NewEvent, record
from hub.integrations.models import InboundChannel, InboundPayload, InboundStatus
from hub.kit.ids import uuid7
from hub.kit.time import Clock

PAYLOAD_REJECTED = "integration.payload_rejected"
MAX_DELIVERY_KEY_LENGTH = 300
MAX_ERRORS = 200
MAX_SUMMARY_LENGTH = 500


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def keep(
    session: AsyncSession,
    *,
    connector: str,
    channel: InboundChannel | str,
    body: bytes,
    content_type: str,
    delivery_key: str,
    organisation_id: uuid.UUID | None,
    clock: Clock,
) -> tuple[InboundPayload, bool]:
    """Archive one payload; returns (row, is_new).

    `is_new` is False when (connector, delivery_key) was kept before: the caller must apply
    nothing and answer as for the first delivery. The earlier row is returned unchanged, even
    if this body differs (compare `row.sha256` to tell a replay from a reused key). A
    concurrent first delivery of the same key waits on the other transaction and then sees its
    row, or takes the key over if that transaction rolled back.
    """
    if not delivery_key or len(delivery_key) > MAX_DELIVERY_KEY_LENGTH:
        raise ValueError(f"delivery_key must be 1..{MAX_DELIVERY_KEY_LENGTH} characters")
    if not connector:
        raise ValueError("connector must name the sender")
    row_id = uuid7()
    inserted = await session.scalar(
        insert(InboundPayload)
        .values(
            id=row_id,
            connector=connector,
            channel=InboundChannel(channel),
            organisation_id=organisation_id,
            delivery_key=delivery_key,
            content_type=content_type,
            body=body,
            sha256=sha256_hex(body),
            received_at=clock.now(),
        )
        .on_conflict_do_nothing(index_elements=["connector", "delivery_key"])
        .returning(InboundPayload.id)
    )
    is_new = inserted is not None
    row = await session.scalar(
        select(InboundPayload)
        .where(
            InboundPayload.connector == connector,
            InboundPayload.delivery_key == delivery_key,
        )
        .execution_options(populate_existing=True)
    )
    if row is None:  # pragma: no cover - the row was inserted or conflicted just above
        raise RuntimeError(f"archived payload {connector}/{delivery_key} vanished")
    return row, is_new


async def get(session: AsyncSession, payload_id: uuid.UUID) -> InboundPayload | None:
    """One archived payload by id, unscoped: for jobs keyed by the archive id."""
    return await session.get(InboundPayload, payload_id)


async def mark_applied(
    session: AsyncSession, payload: InboundPayload, *, clock: Clock, outcome: dict[str, Any]
) -> None:
    """The payload was applied (possibly on a retry after an earlier rejection)."""
    payload.status = InboundStatus.APPLIED
    payload.outcome = outcome
    payload.errors = []
    payload.summary = None
    payload.processed_at = clock.now()
    await session.flush()


async def mark_rejected(
    session: AsyncSession,
    payload: InboundPayload,
    *,
    clock: Clock,
    actor: str,
    errors: list[dict[str, Any]],
    summary: str,
    contract_id: uuid.UUID | None = None,
) -> None:
    """The payload cannot be mapped or applied: keep the errors beside it and record
    `integration.payload_rejected` (governance opens a data-quality case from it).

    `errors` are `{path, problem, code}` dicts. Rejecting an already-rejected payload with the
    same errors records nothing new, so a re-run of the same job changes nothing.
    """
    cleaned = [_clean_error(error) for error in errors[:MAX_ERRORS]]
    if not cleaned:
        raise ValueError("a rejection needs at least one error")
    short = summary.strip()[:MAX_SUMMARY_LENGTH] or cleaned[0]["problem"]
    if (
        payload.status is InboundStatus.REJECTED
        and payload.errors == cleaned
        and payload.summary == short
    ):
        return
    now = clock.now()
    payload.status = InboundStatus.REJECTED
    payload.errors = cleaned
    payload.summary = short
    payload.outcome = None
    payload.processed_at = now
    await session.flush()
    await record(
        session,
        NewEvent(
            type=PAYLOAD_REJECTED,
            subject_type="inbound_payload",
            subject_id=payload.id,
            actor=actor,
            occurred_at=now,
            organisation_id=payload.organisation_id,
            contract_id=contract_id,
            payload={
                "connector": payload.connector,
                "channel": payload.channel.value,
                "errors": cleaned,
                "summary": short,
            },
        ),
    )


def error(path: str, problem: str, code: str) -> dict[str, str]:
    """One `{path, problem, code}` entry of a rejection."""
    return {"path": path, "problem": problem, "code": code}


def _clean_error(entry: Mapping[str, Any]) -> dict[str, str]:
    problem = str(entry.get("problem") or "").strip()
    if not problem:
        raise ValueError("every rejection error needs a problem a person can read")
    return {
        "path": str(entry.get("path") or "$"),
        "problem": problem[:MAX_SUMMARY_LENGTH],
        "code": str(entry.get("code") or "UNMAPPABLE"),
    }
