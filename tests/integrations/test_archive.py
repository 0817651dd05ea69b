"""The raw inbound archive (brief contract C): exact bytes kept, a delivery key claimed once in
the transaction that applies it, rejections recorded as events for governance."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import pytest
from sqlalchemy import func, select

from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.models import Event
from hub.integrations import archive
from hub.integrations.models import InboundChannel, InboundPayload, InboundStatus
from hub.kit.time import FixedClock

BODY = b'{"delivery_id": "d-1", "data": {"x": 1}}\n'


async def _keep(
    sessions: SessionFactory, clock: FixedClock, key: str = "d-1", body: bytes = BODY
) -> tuple[uuid.UUID, bool]:
    async with unit_of_work(sessions) as session:
        row, is_new = await archive.keep(
            session,
            connector="acme-roster",
            channel="webhook",
            body=body,
            content_type="application/json",
            delivery_key=key,
            organisation_id=None,
            clock=clock,
        )
        return row.id, is_new


async def test_keep_stores_exact_bytes_and_claims_the_key_once(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    first_id, first_new = await _keep(sessions, clock)
    second_id, second_new = await _keep(sessions, clock, body=b"something else")
    assert (first_new, second_new) == (True, False)
    assert second_id == first_id
    async with sessions() as session:
        row = await session.get(InboundPayload, first_id)
        assert row is not None
        assert row.body == BODY
        assert row.sha256 == hashlib.sha256(BODY).hexdigest()
        assert row.channel is InboundChannel.WEBHOOK
        assert row.status is InboundStatus.RECEIVED
        assert row.received_at == clock.now()
        count = await session.scalar(select(func.count()).select_from(InboundPayload))
        assert count == 1


async def test_a_claim_rolls_back_with_its_transaction(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    async def keep_then_fail() -> None:
        async with unit_of_work(sessions) as session:
            await archive.keep(
                session,
                connector="acme-roster",
                channel=InboundChannel.POLL,
                body=BODY,
                content_type="application/json",
                delivery_key="d-1",
                organisation_id=None,
                clock=clock,
            )
            raise RuntimeError("applying failed")

    with pytest.raises(RuntimeError, match="applying failed"):
        await keep_then_fail()
    _, is_new = await _keep(sessions, clock)
    assert is_new is True


async def test_concurrent_first_deliveries_claim_once(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    results = await asyncio.gather(*(_keep(sessions, clock) for _ in range(4)))
    assert sorted(is_new for _, is_new in results) == [False, False, False, True]
    assert len({row_id for row_id, _ in results}) == 1


async def test_rejection_records_the_event_once_and_apply_clears_it(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    payload_id, _ = await _keep(sessions, clock)
    errors = [archive.error("$.data.visit_id", "no such visit", "UNKNOWN_VISIT")]
    for _ in range(2):  # a re-run of the same job changes nothing
        async with unit_of_work(sessions) as session:
            row = await archive.get(session, payload_id)
            assert row is not None
            await archive.mark_rejected(
                session,
                row,
                clock=clock,
                actor="connector:acme-roster",
                errors=errors,
                summary="visit unknown",
            )
    async with sessions() as session:
        events = (await session.scalars(select(Event).where(Event.subject_id == payload_id))).all()
        assert [event.type for event in events] == ["integration.payload_rejected"]
        assert events[0].subject_type == "inbound_payload"
        assert events[0].payload == {
            "connector": "acme-roster",
            "channel": "webhook",
            "errors": errors,
            "summary": "visit unknown",
        }
    async with unit_of_work(sessions) as session:
        row = await archive.get(session, payload_id)
        assert row is not None
        assert row.status is InboundStatus.REJECTED
        await archive.mark_applied(session, row, clock=clock, outcome={"visits": 1})
    async with sessions() as session:
        row = await session.get(InboundPayload, payload_id)
        assert row is not None
        assert (row.status, row.errors, row.outcome) == (InboundStatus.APPLIED, [], {"visits": 1})


async def test_a_rejection_needs_a_readable_problem(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    payload_id, _ = await _keep(sessions, clock)
    async with unit_of_work(sessions) as session:
        row = await archive.get(session, payload_id)
        assert row is not None
        with pytest.raises(ValueError, match="at least one error"):
            await archive.mark_rejected(
                session, row, clock=clock, actor="x", errors=[], summary="nothing"
            )
