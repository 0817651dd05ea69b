from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.log import NewEvent, events_for_subject, record
from hub.events.models import Event


def _event(subject_id: uuid.UUID, kind: str = "visit.checked_in") -> NewEvent:
    return NewEvent(
        type=kind,
        subject_type="visit",
        subject_id=subject_id,
        actor="staff:test",
        occurred_at=datetime(2026, 11, 23, 9, 5, tzinfo=UTC),
        payload={"method": "gps"},
    )


async def test_an_event_commits_with_its_transaction(sessions: SessionFactory) -> None:
    subject = uuid.uuid4()
    async with unit_of_work(sessions) as session:
        row = await record(session, _event(subject))
        assert row.id is not None
    async with sessions() as session:
        timeline = await events_for_subject(session, "visit", subject)
    assert [e.type for e in timeline] == ["visit.checked_in"]
    assert timeline[0].txid > 0
    assert timeline[0].recorded_at.tzinfo is not None
    assert timeline[0].payload == {"method": "gps"}


async def test_an_event_rolls_back_with_its_transaction(sessions: SessionFactory) -> None:
    subject = uuid.uuid4()

    async def failing_unit_of_work() -> None:
        async with unit_of_work(sessions) as session:
            await record(session, _event(subject))
            raise RuntimeError("the business write failed")

    with pytest.raises(RuntimeError):
        await failing_unit_of_work()
    async with sessions() as session:
        assert await events_for_subject(session, "visit", subject) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET payload = '{}'::jsonb",
        "DELETE FROM events",
        "TRUNCATE events",
    ],
)
async def test_the_database_refuses_to_change_the_log(
    sessions: SessionFactory, statement: str
) -> None:
    async with unit_of_work(sessions) as session:
        await record(session, _event(uuid.uuid4()))
    with pytest.raises(DBAPIError, match="append-only"):
        async with unit_of_work(sessions) as session:
            await session.execute(text(statement))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 1


def test_event_types_and_times_are_checked() -> None:
    with pytest.raises(ValueError, match=r"entity\.past_tense"):
        NewEvent(
            type="checkin",
            subject_type="visit",
            subject_id=uuid.uuid4(),
            actor="a",
            occurred_at=datetime.now(UTC),
        )
    with pytest.raises(ValueError, match="timezone"):
        NewEvent(
            type="visit.checked_in",
            subject_type="visit",
            subject_id=uuid.uuid4(),
            actor="a",
            occurred_at=datetime(2026, 1, 1, 9, 0),
        )
