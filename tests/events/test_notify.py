"""The event notifier and the live reader: commits wake listeners (never before commit, never
for a rollback), a lost connection is re-established, a lost notification only delays, and
the reader never skips an event whose transaction commits late — in either order of ids."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.errors import InvalidInput
from hub.events import feed
from hub.events.log import record
from hub.events.models import Event
from hub.events.notify import EventNotifier, follow, listener_dsn, parse_payload
from tests.events.test_contract_feed import _contracts, _event, _write
from tests.support import id_cursor


@pytest.fixture
async def notifier(database_url: str) -> AsyncIterator[EventNotifier]:
    listener = EventNotifier(database_url, fallback_seconds=30)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.close()


async def _next_batch(batches: AsyncIterator[Sequence[Event]], timeout: float = 5.0) -> list[str]:
    async with asyncio.timeout(timeout):
        return [event.type for event in await anext(batches)]


async def _origin(sessions: SessionFactory) -> feed.FeedPosition:
    async with sessions() as session:
        return await feed.current_position(session)


async def test_a_commit_wakes_the_listener_and_a_rollback_or_open_transaction_does_not(
    notifier: EventNotifier, sessions: SessionFactory
) -> None:
    _, contract, _ = await _contracts(sessions)
    assert notifier.listening
    seen = notifier.generation

    rolled_back = sessions()
    await rolled_back.begin()
    await record(rolled_back, _event(contract, "visit.never_committed"))
    await rolled_back.rollback()
    await rolled_back.close()
    open_transaction = sessions()
    await open_transaction.begin()
    row = await record(open_transaction, _event(contract, "visit.checked_in"))
    # Neither the rollback nor the still-open insert says anything to anybody.
    assert await notifier.wait(seen, at_most=0.3) == seen

    await open_transaction.commit()
    await open_transaction.close()
    woke = await notifier.wait(seen, at_most=5)
    assert woke > seen
    assert notifier.latest_event_id == row.id


async def test_one_insert_of_many_rows_notifies_once_with_the_highest_id(
    notifier: EventNotifier, sessions: SessionFactory, database_url: str
) -> None:
    _, contract, _ = await _contracts(sessions)
    before = notifier.notifications
    connection = await asyncpg.connect(listener_dsn(database_url))
    try:
        await connection.execute(
            "INSERT INTO events (type, subject_type, subject_id, contract_id, actor, occurred_at) "
            "SELECT 'case.opened', 'exception_case', gen_random_uuid(), $1, 'test', now() "
            "FROM generate_series(1, 50)",
            contract,
        )
        highest = await connection.fetchval("SELECT max(id) FROM events")
    finally:
        await connection.close()
    async with asyncio.timeout(5):
        while notifier.latest_event_id < highest:
            await notifier.wait(notifier.generation)
    assert notifier.notifications == before + 1
    assert notifier.latest_event_id == highest


async def test_a_notification_wakes_only_the_feeds_of_its_contracts(
    notifier: EventNotifier, sessions: SessionFactory
) -> None:
    _, contract, other = await _contracts(sessions)
    with (
        notifier.watch([contract]) as mine,
        notifier.watch([other]) as theirs,
        notifier.watch(None) as everything,
    ):
        for waiter in (mine, theirs, everything):
            waiter.arm()
        await _write(sessions, contract, "visit.checked_in")
        assert await mine.wait(5)
        # The same notification was handled in one go: had it named `other`, that was set too.
        assert everything.woken
        assert not theirs.woken
    assert notifier.watchers == 0


async def test_an_insert_touching_more_than_a_hundred_contracts_wakes_every_feed(
    notifier: EventNotifier, database_url: str
) -> None:
    connection = await asyncpg.connect(listener_dsn(database_url))
    with notifier.watch([uuid.uuid4()]) as unrelated:
        unrelated.arm()
        try:
            await connection.execute(
                "INSERT INTO events (type, subject_type, subject_id, contract_id, actor, "
                "occurred_at) SELECT 'case.opened', 'exception_case', gen_random_uuid(), "
                "gen_random_uuid(), 'test', now() FROM generate_series(1, 150)"
            )
        finally:
            await connection.close()
        assert await unrelated.wait(5)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("12:", (12, frozenset())),
        ("12:*", (12, None)),
        ("12", (12, None)),  # no contract list: anything may have changed
        ("", (None, None)),
        ("12:not-a-uuid", (12, None)),
        (
            "12:00000000-0000-0000-0000-000000000001",
            (12, frozenset({uuid.UUID(int=1)})),
        ),
    ],
)
def test_notification_payloads_are_read_safely(
    payload: str, expected: tuple[int | None, frozenset[uuid.UUID] | None]
) -> None:
    assert parse_payload(payload) == expected


async def test_the_event_log_stays_append_only_with_the_notify_trigger(
    sessions: SessionFactory,
) -> None:
    _, contract, _ = await _contracts(sessions)
    await _write(sessions, contract, "visit.checked_in")
    with pytest.raises(DBAPIError, match="append-only"):
        async with unit_of_work(sessions) as session:
            await session.execute(text("UPDATE events SET actor = 'someone else'"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with unit_of_work(sessions) as session:
            await session.execute(text("DELETE FROM events"))


async def test_the_listener_reconnects_after_its_connection_is_killed(
    notifier: EventNotifier, sessions: SessionFactory
) -> None:
    _, contract, _ = await _contracts(sessions)
    before_kill = notifier.generation
    async with unit_of_work(sessions) as session:
        killed = await session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'care-hub-listener' AND datname = current_database()"
            )
        )
    assert killed == 1
    # Back after a short, jittered backoff; everyone is woken to re-read what it may have missed.
    assert await notifier.wait(before_kill, at_most=10) > before_kill
    assert notifier.listening
    assert notifier.connections == 2
    seen = notifier.generation
    await _write(sessions, contract, "visit.checked_in")
    assert await notifier.wait(seen, at_most=5) > seen


async def test_the_reader_replays_then_follows_live(
    notifier: EventNotifier, sessions: SessionFactory
) -> None:
    _, contract, foreign = await _contracts(sessions)
    start = await _origin(sessions)
    await _write(sessions, contract, "visit.first")
    await _write(sessions, foreign, "visit.elsewhere")
    batches = follow(sessions, notifier, start, feed.FeedFilter(contract_ids=(contract,)))
    async with contextlib.aclosing(batches):
        assert await _next_batch(batches) == ["visit.first"]  # replayed
        await _write(sessions, contract, "visit.second")
        started = time.monotonic()
        assert await _next_batch(batches) == ["visit.second"]  # live
    # Woken by the commit, not by the 30 s fallback timer; and it stopped watching when closed.
    assert time.monotonic() - started < 10
    assert notifier.watchers == 0


async def test_without_a_listener_the_fallback_timer_still_delivers(
    database_url: str, sessions: SessionFactory
) -> None:
    _, contract, _ = await _contracts(sessions)
    deaf = EventNotifier(database_url, fallback_seconds=0.2)  # never started: hears nothing
    start = await _origin(sessions)
    batches = follow(sessions, deaf, start, feed.FeedFilter(contract_ids=(contract,)))
    async with contextlib.aclosing(batches):
        reading = asyncio.ensure_future(_next_batch(batches))
        await asyncio.sleep(0)  # let the reader make its first, empty read
        await _write(sessions, contract, "visit.checked_in")
        assert await reading == ["visit.checked_in"]
    assert deaf.generation == 0


async def test_a_lower_id_committed_last_is_delivered_first_and_nothing_is_skipped(
    notifier: EventNotifier, sessions: SessionFactory
) -> None:
    _, contract, _ = await _contracts(sessions)
    start = await _origin(sessions)
    slow = sessions()
    await slow.begin()
    await record(slow, _event(contract, "visit.first"))  # lower id, commits last
    await _write(sessions, contract, "visit.second")  # higher id, commits first
    batches = follow(sessions, notifier, start, feed.FeedFilter(contract_ids=(contract,)))
    async with contextlib.aclosing(batches):
        reading = asyncio.ensure_future(_next_batch(batches))
        done, _ = await asyncio.wait({reading}, timeout=0.5)
        assert not done  # "second" is committed but held back behind the open transaction
        await slow.commit()
        await slow.close()
        assert await reading == ["visit.first", "visit.second"]


async def test_an_older_transaction_that_inserts_last_is_not_skipped(
    notifier: EventNotifier, sessions: SessionFactory
) -> None:
    """The case an id cursor gets wrong: the transaction that took its id first inserts its
    event after a younger one did, and commits first. Its event has the higher id and is
    settled while the younger one's lower id is still in flight."""
    _, contract, _ = await _contracts(sessions)
    start = await _origin(sessions)
    older = sessions()
    await older.begin()
    await older.execute(text("SELECT pg_current_xact_id()"))  # e.g. it updated a visit first
    younger = sessions()
    await younger.begin()
    lower = await record(younger, _event(contract, "visit.younger_lower_id"))
    higher = await record(older, _event(contract, "visit.older_higher_id"))
    assert lower.id < higher.id
    assert higher.txid < lower.txid
    await older.commit()
    await older.close()

    batches = follow(sessions, notifier, start, feed.FeedFilter(contract_ids=(contract,)))
    async with contextlib.aclosing(batches):
        assert await _next_batch(batches) == ["visit.older_higher_id"]
        # An id cursor would now stand past the younger event's id and never see it.
        async with sessions() as session:
            by_id = await id_cursor.contract_events_after(session, contract, higher.id)
        assert by_id == []
        await younger.commit()
        await younger.close()
        assert await _next_batch(batches) == ["visit.younger_lower_id"]


async def test_an_event_held_back_by_a_transaction_without_events_is_read_without_a_notification(
    sessions: SessionFactory, database_url: str
) -> None:
    """The blocking transaction writes no event, so its end notifies nobody: the reader must
    re-read on its own, well before the fallback timer."""
    _, contract, _ = await _contracts(sessions)
    deaf = EventNotifier(database_url, fallback_seconds=30)  # hears nothing at all
    start = await _origin(sessions)
    blocker = sessions()
    await blocker.begin()
    await blocker.execute(text("SELECT pg_current_xact_id()"))  # a write transaction, no event
    await _write(sessions, contract, "visit.checked_in")
    batches = follow(sessions, deaf, start, feed.FeedFilter(contract_ids=(contract,)))
    async with contextlib.aclosing(batches):
        reading = asyncio.ensure_future(_next_batch(batches, timeout=10))
        done, _ = await asyncio.wait({reading}, timeout=0.3)
        assert not done
        await blocker.rollback()
        await blocker.close()
        started = time.monotonic()
        assert await reading == ["visit.checked_in"]
    assert time.monotonic() - started < 10


async def test_start_from_now_skips_what_settled_before_and_keeps_what_was_held_back(
    notifier: EventNotifier, sessions: SessionFactory
) -> None:
    _, contract, _ = await _contracts(sessions)
    await _write(sessions, contract, "visit.before_now")
    blocker = sessions()
    await blocker.begin()
    await record(blocker, _event(contract, "visit.in_flight_at_start"))
    await _write(sessions, contract, "visit.committed_but_held_back")
    now = await _origin(sessions)
    batches = follow(sessions, notifier, now, feed.FeedFilter(contract_ids=(contract,)))
    async with contextlib.aclosing(batches):
        await blocker.commit()
        await blocker.close()
        assert await _next_batch(batches) == [
            "visit.in_flight_at_start",
            "visit.committed_but_held_back",
        ]


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [
        ("812.44", feed.FeedPosition(812, 44)),
        ("44", 44),
    ],
)
def test_cursors_parse_as_positions_or_legacy_ids(
    cursor: str, expected: feed.FeedPosition | int
) -> None:
    assert feed.parse_cursor(cursor) == expected


@pytest.mark.parametrize("cursor", ["", "abc", "1.2.3", "-1", "1." + "9" * 40, "1e5"])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        feed.parse_cursor(cursor)
    assert refused.value.code == "INVALID_CURSOR"


def test_positions_sort_by_transaction_then_id() -> None:
    positions = [feed.FeedPosition(9, 1), feed.FeedPosition(7, 5), feed.FeedPosition(7, 2)]
    assert sorted(positions) == [
        feed.FeedPosition(7, 2),
        feed.FeedPosition(7, 5),
        feed.FeedPosition(9, 1),
    ]
    assert feed.parse_cursor(positions[0].encode()) == positions[0]
