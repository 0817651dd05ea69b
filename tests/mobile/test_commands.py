"""The command upload (`hub.mobile.upload.submit_commands`) against the real database, case by
case from the failure catalogue (../shared/reference/mobile-sync-anchors.md, section c):
delivery and idempotency (F1-F5), ordering (F7, F8), stuck queues (F12, F13), backlog (F19,
F20), time (F23-F25, F27), versions (F28-F30), verification and tamper evidence (F33-F39), and
the events the exception engine reads. The GraphQL face is in test_commands_graphql.py, the
process kill (F6) in test_commands_kill.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.models import Event
from hub.kit.ids import uuid7
from hub.kit.time import FixedClock
from hub.mobile import devices
from hub.mobile.canonical import GENESIS_HASH, canonical_bytes, command_hash
from hub.mobile.errors import (
    BatchTooLarge,
    DeviceBusy,
    DeviceNotRegistered,
    DeviceStateMismatch,
    UnsupportedProtocol,
)
from hub.mobile.models import CommandLogEntry, CommandStatus, Device
from hub.mobile.upload import (
    AnswerStatus,
    StopReason,
    UploadAnswer,
    UploadPolicy,
    submit_commands,
)
from hub.mobile.versions import MobileVersions
from hub.organisations.models import Organisation
from hub.staff.competency import CompetencyStatus
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from hub.visits import service as visits
from hub.visits.models import PresenceTagKind, Visit, VisitAssignment, VisitFact
from hub.visits.presence import register_presence_tag
from hub.visits.status import VisitStatus
from tests import builders
from tests.mobile.command_builder import Phone, gps, upload_of, visit_gid

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HOME = (53.4808, -2.2426)
VERSIONS = MobileVersions(current_protocol=2, min_app_version="1.0.0")
POLICY = UploadPolicy(device_lock_wait_ms=100, command_lock_timeout_ms=300)
MEDICATION_TASK = {
    "code": "administer_medication",
    "description": "Administer medication",
    "requires": "medication",
}
WASH_TASK = {"code": "personal_care", "description": "Washing and dressing", "requires": None}


@dataclass
class World:
    provider: Organisation
    carer: StaffMember
    other_carer: StaffMember
    visits: list[Visit]
    foreign_visit: Visit
    phone: Phone

    @property
    def visit(self) -> Visit:
        return self.visits[0]

    @property
    def scope(self) -> AccessScope:
        return AccessScope(Role.CARER, self.provider.id, self.carer.id)


@pytest.fixture
async def world(sessions: SessionFactory, clock: FixedClock) -> World:
    clock.current = START + timedelta(minutes=5)
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        other_provider = await builders.create_organisation(session, name="Hilltop Care")
        contract = await builders.create_contract(session, provider=provider)
        other_contract = await builders.create_contract(session, provider=other_provider)
        person = await builders.create_person(session, latitude=HOME[0], longitude=HOME[1])
        package = await builders.create_package(session, contract=contract, person=person)
        other_package = await builders.create_package(session, contract=other_contract)
        carer = await builders.create_staff(
            session,
            organisation=provider,
            competencies={"medication": CompetencyStatus.RESTRICTED},
            expires_on=date(2027, 12, 31),
        )
        other_carer = await builders.create_staff(session, organisation=provider)
        visit_list = [
            await builders.create_visit(
                session,
                package=package,
                carers=(carer,),
                planned_start=START + timedelta(hours=hour),
                tasks=[WASH_TASK, MEDICATION_TASK],
            )
            for hour in (0, 3, 6, 9)
        ]
        foreign = await builders.create_visit(session, package=other_package, planned_start=START)
    phone = Phone()
    async with unit_of_work(sessions) as session:
        await devices.register_device(
            session,
            scope=AccessScope(Role.CARER, provider.id, carer.id),
            actor=f"staff:{carer.id}",
            clock=clock,
            device_id=phone.device_id,
            platform="android",
            model="Pixel 8",
            app_version="1.0.0",
            protocol_version=2,
        )
    return World(provider, carer, other_carer, visit_list, foreign, phone)


async def submit(
    sessions: SessionFactory,
    world: World,
    clock: FixedClock,
    *,
    phone: Phone | None = None,
    limit: int | None = None,
    batch: dict[str, Any] | None = None,
    policy: UploadPolicy = POLICY,
    versions: MobileVersions = VERSIONS,
) -> UploadAnswer:
    """One upload of the phone's outbox head, sent now; the phone deletes what was acked."""
    device = phone or world.phone
    value = batch or device.batch(clock.now(), limit)
    answer = await submit_commands(
        sessions,
        scope=world.scope,
        actor=f"staff:{world.carer.id}",
        clock=clock,
        versions=versions,
        policy=policy,
        upload=upload_of(value),
    )
    device.acknowledge(answer.acked_through_seq)
    return answer


async def log_rows(sessions: SessionFactory) -> list[CommandLogEntry]:
    async with sessions() as session:
        rows = await session.scalars(select(CommandLogEntry).order_by(CommandLogEntry.server_seq))
        return list(rows.all())


async def fact_rows(sessions: SessionFactory) -> list[VisitFact]:
    async with sessions() as session:
        rows = await session.scalars(select(VisitFact).order_by(VisitFact.recorded_at))
        return list(rows.all())


async def events_of(sessions: SessionFactory, event_type: str) -> list[Event]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == event_type).order_by(Event.id)
        )
        return list(rows.all())


async def device_row(sessions: SessionFactory, world: World) -> Device:
    async with sessions() as session:
        row = await session.get(Device, world.phone.device_id)
        assert row is not None
        return row


def statuses(answer: UploadAnswer) -> list[tuple[int, AnswerStatus, str | None]]:
    return [(r.seq, r.status, r.code) for r in answer.results]


@asynccontextmanager
async def row_locked(engine: AsyncEngine, visit: Visit) -> AsyncIterator[AsyncConnection]:
    """Another transaction holding the visit's row lock (an office edit in progress)."""
    async with engine.connect() as connection:
        await connection.execute(
            text("SELECT id FROM visits WHERE id = :id FOR UPDATE"), {"id": visit.id}
        )
        try:
            yield connection
        finally:
            await connection.rollback()


# --- delivery and idempotency -------------------------------------------------------------------


async def test_a_lost_response_resent_answers_duplicate_with_the_stored_result(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F1/F4: the commit happened, the response (or the outbox's bookkeeping) was lost."""
    phone = world.phone
    phone.check_in(world.visit.id, START + timedelta(minutes=2))
    phone.hydration(world.visit.id, START + timedelta(minutes=4), 250)
    batch = phone.batch(clock.now())

    first = await submit(sessions, world, clock, batch=batch)
    clock.advance(timedelta(minutes=1))
    again = await submit(sessions, world, clock, batch=batch)

    assert statuses(first) == [(1, AnswerStatus.APPLIED, None), (2, AnswerStatus.APPLIED, None)]
    assert first.acked_through_seq == again.acked_through_seq == 2
    assert [r.status for r in again.results] == [AnswerStatus.DUPLICATE] * 2
    for applied, duplicate in zip(first.results, again.results, strict=True):
        assert duplicate.first_status is AnswerStatus.APPLIED
        assert duplicate.receipt_id == applied.receipt_id
        assert duplicate.received_at == applied.received_at
        assert duplicate.entity_ids == applied.entity_ids == (str(applied.command_id),)
        assert duplicate.flags == applied.flags
    assert len(await log_rows(sessions)) == 2
    assert len(await fact_rows(sessions)) == 2
    assert len(await events_of(sessions, "visit.checked_in")) == 1
    assert {f.id for f in await fact_rows(sessions)} == {r.command_id for r in first.results}


async def test_a_command_id_reused_for_another_payload_is_quarantined_and_the_original_stands(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F2, under a new sequence number and as an altered resend of a settled one."""
    phone = world.phone
    original = phone.hydration(world.visit.id, START + timedelta(minutes=2), 250)
    await submit(sessions, world, clock)
    reused_id = uuid.UUID(original["commandId"])
    phone.record(
        "hydrationV1",
        {"visitId": visit_gid(world.visit.id), "fluidMl": 900},
        at=START + timedelta(minutes=3),
        command_id=reused_id,
    )
    reuse = await submit(sessions, world, clock)

    altered = dict(
        original, body={"hydrationV1": {"visitId": visit_gid(world.visit.id), "fluidMl": 5}}
    )
    resend = phone.batch(clock.now())
    resend["commands"] = [altered]
    twice = [await submit(sessions, world, clock, batch=resend) for _ in range(2)]

    assert statuses(reuse) == [(2, AnswerStatus.QUARANTINED, "IDEMPOTENCY_KEY_REUSED")]
    assert reuse.acked_through_seq == 2
    for answer in twice:
        assert statuses(answer) == [(1, AnswerStatus.QUARANTINED, "IDEMPOTENCY_KEY_REUSED")]
    [fact] = await fact_rows(sessions)
    assert fact.id == reused_id
    assert fact.details["values"] == {"fluid_ml": 250}
    rows = await log_rows(sessions)
    assert [(r.seq, r.status, r.original, r.code) for r in rows] == [
        (1, CommandStatus.APPLIED, True, None),
        (2, CommandStatus.QUARANTINED, False, "IDEMPOTENCY_KEY_REUSED"),
        (None, CommandStatus.QUARANTINED, False, "IDEMPOTENCY_KEY_REUSED"),  # kept once
    ]
    assert rows[1].payload["body"]["hydrationV1"]["fluidMl"] == 900
    assert rows[2].payload["body"]["hydrationV1"]["fluidMl"] == 5
    quarantined = await events_of(sessions, "mobile.command_quarantined")
    assert [e.payload["code"] for e in quarantined] == ["IDEMPOTENCY_KEY_REUSED"] * 2


async def test_a_command_requeued_under_a_new_number_is_a_duplicate(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """An app bug put a settled command back in the outbox: same id, same content, new seq."""
    phone = world.phone
    first = phone.hydration(world.visit.id, START + timedelta(minutes=2), 250)
    applied = await submit(sessions, world, clock)
    phone.record(
        "hydrationV1",
        first["body"]["hydrationV1"],
        at=START + timedelta(minutes=2),
        command_id=uuid.UUID(first["commandId"]),
    )
    again = await submit(sessions, world, clock)

    [result] = again.results
    assert (result.seq, result.status, result.first_status) == (
        2,
        AnswerStatus.DUPLICATE,
        AnswerStatus.APPLIED,
    )
    assert result.receipt_id == applied.results[0].receipt_id
    assert again.acked_through_seq == 2
    assert [(r.seq, r.status, r.original) for r in await log_rows(sessions)] == [
        (1, CommandStatus.APPLIED, True),
        (2, CommandStatus.DUPLICATE, False),
    ]
    assert len(await fact_rows(sessions)) == 1


async def test_two_concurrent_uploads_of_one_device_one_applies_the_other_is_busy(
    sessions: SessionFactory, world: World, clock: FixedClock, engine: AsyncEngine
) -> None:
    """F3: a foreground sync and a background task send the same outbox at once."""
    phone = world.phone
    phone.check_in(world.visit.id, START + timedelta(minutes=2))
    batch = phone.batch(clock.now())
    patient = replace(POLICY, command_lock_timeout_ms=10_000)

    async with row_locked(engine, world.visit) as blocker:
        first = asyncio.create_task(submit(sessions, world, clock, batch=batch, policy=patient))
        # Wait until the first upload holds the device's lock (and waits on the row).
        for _ in range(200):
            held = await blocker.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            )
            if held:
                break
            await asyncio.sleep(0.02)
        assert held == 1
        with pytest.raises(DeviceBusy) as busy:
            await submit(sessions, world, clock, batch=batch, policy=patient)
    answer = await first

    assert busy.value.retry_after_ms == POLICY.busy_retry_after_ms
    assert statuses(answer) == [(1, AnswerStatus.APPLIED, None)]
    assert len(await fact_rows(sessions)) == 1
    assert len(await log_rows(sessions)) == 1


async def test_a_second_check_in_with_another_id_is_kept_and_flagged(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F5: a double tap made two commands."""
    world.phone.check_in(world.visit.id, START + timedelta(minutes=2))
    world.phone.check_in(world.visit.id, START + timedelta(minutes=2, seconds=1))
    answer = await submit(sessions, world, clock)

    assert [r.flags for r in answer.results] == [(), ("DUPLICATE_ACTION",)]
    assert len(await fact_rows(sessions)) == 2
    [flagged] = await events_of(sessions, "visit.fact_flagged")
    assert flagged.payload["flags"] == ["DUPLICATE_ACTION"]
    assert flagged.payload["device_id"] == str(world.phone.device_id)


# --- ordering ----------------------------------------------------------------------------------


async def test_a_gap_stops_the_batch_and_names_the_sequence_expected(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F7: last settled 3, the batch jumps to 5."""
    phone = world.phone
    for minute in range(5):
        phone.hydration(world.visit.id, START + timedelta(minutes=minute), 100)
    await submit(sessions, world, clock, limit=3)
    batch = phone.batch(clock.now())
    batch["commands"] = batch["commands"][1:]  # 5 without 4

    answer = await submit(sessions, world, clock, batch=batch)

    assert answer.results == ()
    assert answer.stop is StopReason.SEQ_GAP
    assert answer.expected_seq == 4
    assert answer.acked_through_seq == 3
    assert (await device_row(sessions, world)).last_seq == 3


async def test_a_settled_number_with_an_unknown_command_is_a_state_mismatch(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F8: the phone was restored from a backup and numbers its commands again."""
    phone = world.phone
    phone.hydration(world.visit.id, START, 100)
    phone.hydration(world.visit.id, START + timedelta(minutes=1), 100)
    await submit(sessions, world, clock)
    restored = Phone(device_id=phone.device_id)
    restored.hydration(world.visit.id, START + timedelta(minutes=3), 300)

    with pytest.raises(DeviceStateMismatch) as mismatch:
        await submit(sessions, world, clock, phone=restored)

    assert mismatch.value.seq == 1
    assert mismatch.value.acked_through_seq == 2
    assert len(await fact_rows(sessions)) == 2


async def test_an_unregistered_or_another_carers_device_is_refused(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    stranger = Phone()
    stranger.hydration(world.visit.id, START, 100)
    with pytest.raises(DeviceNotRegistered):
        await submit(sessions, world, clock, phone=stranger)
    world.phone.hydration(world.visit.id, START, 100)
    with pytest.raises(DeviceNotRegistered):
        await submit_commands(
            sessions,
            scope=AccessScope(Role.CARER, world.provider.id, world.other_carer.id),
            actor="test",
            clock=clock,
            versions=VERSIONS,
            policy=POLICY,
            upload=upload_of(world.phone.batch(clock.now())),
        )
    assert await log_rows(sessions) == []


# --- stuck queues --------------------------------------------------------------------------------


async def test_poison_commands_are_quarantined_and_the_queue_moves_on(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F12: commands that cannot be applied do not block the ones behind them."""
    phone = world.phone
    at = START + timedelta(minutes=3)
    phone.record(
        "taskConfirmationV1",
        {"visitId": visit_gid(world.visit.id), "taskIndex": 9, "outcome": "DONE"},
        at=at,
    )
    phone.record("painScoreV1", {"visitId": visit_gid(world.visit.id), "score": 42}, at=at)
    phone.record("hydrationV1", {"visitId": visit_gid(uuid7()), "fluidMl": 100}, at=at)
    phone.record(
        "hydrationV1", {"visitId": visit_gid(world.foreign_visit.id), "fluidMl": 100}, at=at
    )
    phone.record("hydrationV1", {"visitId": "not-an-id", "fluidMl": 100}, at=at)
    phone.record(
        "hydrationV1",
        {"visitId": visit_gid(world.visit.id), "fluidMl": 100},
        at=at,
        command_id=uuid.uuid4(),
    )
    phone.check_in(world.visit.id, at)
    phone.hydration(world.visit.id, at, 200)

    answer = await submit(sessions, world, clock)

    assert statuses(answer) == [
        (1, AnswerStatus.QUARANTINED, "TASK_NOT_FOUND"),
        (2, AnswerStatus.QUARANTINED, "VALIDATION_FAILED"),
        (3, AnswerStatus.QUARANTINED, "VISIT_NOT_FOUND"),
        (4, AnswerStatus.QUARANTINED, "VISIT_NOT_FOUND"),
        (5, AnswerStatus.QUARANTINED, "VALIDATION_FAILED"),
        (6, AnswerStatus.QUARANTINED, "VALIDATION_FAILED"),
        (7, AnswerStatus.APPLIED, None),
        (8, AnswerStatus.APPLIED, None),
    ]
    assert answer.acked_through_seq == 8
    assert answer.stop is None
    assert "values.score" in (answer.results[1].message or "")
    assert "UUIDv7" in (answer.results[5].message or "")
    rows = await log_rows(sessions)
    quarantined = [r for r in rows if r.status is CommandStatus.QUARANTINED]
    assert len(quarantined) == 6
    assert all(r.payload["seq"] == r.seq for r in quarantined)  # kept whole, as received
    # The office may read about its own person, not the other provider's.
    assert quarantined[0].person_id is not None
    assert quarantined[3].visit_id == world.foreign_visit.id
    assert quarantined[3].person_id is None
    events = await events_of(sessions, "mobile.command_quarantined")
    assert [e.payload["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e.subject_id for e in events} == {world.phone.device_id}
    assert len(await fact_rows(sessions)) == 2


async def test_a_row_lock_held_elsewhere_defers_and_only_the_committed_prefix_is_acked(
    sessions: SessionFactory, world: World, clock: FixedClock, engine: AsyncEngine
) -> None:
    """F13: a real lock_timeout from PostgreSQL, not a mock."""
    phone = world.phone
    phone.hydration(world.visits[1].id, START + timedelta(minutes=1), 150)
    phone.check_in(world.visit.id, START + timedelta(minutes=2))
    phone.hydration(world.visit.id, START + timedelta(minutes=3), 150)

    async with row_locked(engine, world.visit):
        deferred = await submit(sessions, world, clock)
    resumed = await submit(sessions, world, clock)

    assert statuses(deferred) == [(1, AnswerStatus.APPLIED, None)]
    assert deferred.stop is StopReason.DEFERRED
    assert deferred.retry_after_ms == POLICY.deferred_retry_after_ms
    assert deferred.acked_through_seq == 1
    assert statuses(resumed) == [(2, AnswerStatus.APPLIED, None), (3, AnswerStatus.APPLIED, None)]
    assert resumed.stop is None
    assert len(await fact_rows(sessions)) == 3
    assert [r.seq for r in await log_rows(sessions)] == [1, 2, 3]


async def test_a_batch_past_its_time_budget_stops_with_batch_limit(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    for minute in range(3):
        world.phone.hydration(world.visit.id, START + timedelta(minutes=minute), 100)
    hurried = replace(POLICY, time_budget=timedelta(0))
    answers = [await submit(sessions, world, clock, policy=hurried) for _ in range(3)]
    assert [(a.acked_through_seq, a.stop) for a in answers] == [
        (1, StopReason.BATCH_LIMIT),
        (2, StopReason.BATCH_LIMIT),
        (3, None),
    ]


# --- backlog ------------------------------------------------------------------------------------


async def test_six_hundred_commands_after_three_days_offline_drain_in_batches(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F19: progress is acknowledged batch by batch; nothing doubled, nothing lost."""
    phone = world.phone
    offline_from = START
    for n in range(600):
        phone.hydration(world.visit.id, offline_from + timedelta(minutes=7 * n), 50)
    clock.current = offline_from + timedelta(hours=72)

    progress = []
    while phone.outbox:
        answer = await submit(sessions, world, clock, limit=100)
        assert len(answer.results) == 100
        progress.append(answer.acked_through_seq)
        device = await device_row(sessions, world)
        assert device.outbox_depth == len(phone.outbox)

    assert progress == [100, 200, 300, 400, 500, 600]
    assert len(await fact_rows(sessions)) == 600
    assert len(await log_rows(sessions)) == 600
    device = await device_row(sessions, world)
    assert device.last_seq == 600
    assert device.oldest_pending_at is None
    late = [f for f in await fact_rows(sessions) if "LATE_SYNC" in f.flags]
    # The last was recorded 70 h in and every one arrived at 72 h: each reached the office more
    # than an hour after both its own time and the visit's end.
    assert clock.now() - (offline_from + timedelta(minutes=7 * 599)) > timedelta(hours=1)
    assert len(late) == 600


async def test_a_batch_over_the_limits_is_refused_with_them(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F20: too many commands, or too many bytes; nothing applied either way."""
    phone = world.phone
    for minute in range(101):
        phone.hydration(world.visit.id, START + timedelta(seconds=minute), 10)
    with pytest.raises(BatchTooLarge) as too_many:
        await submit(sessions, world, clock)
    assert (too_many.value.max_commands, too_many.value.max_bytes) == (100, 256 * 1024)

    wordy = Phone(device_id=phone.device_id)
    for _ in range(90):
        wordy.record(
            "concernV1",
            {
                "visitId": visit_gid(world.visit.id),
                "category": "HEALTH",
                "safeguarding": False,
                "description": "x" * 3000,
            },
            at=START,
        )
    with pytest.raises(BatchTooLarge, match="bytes"):
        await submit(sessions, world, clock, phone=wordy)
    assert await log_rows(sessions) == []


# --- time --------------------------------------------------------------------------------------


async def test_a_phone_clock_three_hours_out_is_corrected_and_flagged(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F23: applied, CLOCK_SKEW_SUSPECT, the corrected time beside the device's."""
    phone = world.phone
    phone.wall_skew = timedelta(hours=3)
    phone.check_in(world.visit.id, START + timedelta(minutes=2))

    answer = await submit(sessions, world, clock)

    assert answer.results[0].status is AnswerStatus.APPLIED
    assert answer.results[0].flags == ("CLOCK_SKEW_SUSPECT",)
    assert answer.clock_offset_ms == -3 * 3600 * 1000
    assert answer.server_time == clock.now()
    [fact] = await fact_rows(sessions)
    assert fact.occurred_at == START + timedelta(minutes=2)
    assert fact.device_occurred_at == START + timedelta(hours=3, minutes=2)
    assert fact.time_basis == "monotonic"
    device = await device_row(sessions, world)
    assert device.clock_offset_ms == -3 * 3600 * 1000
    assert device.clock_boot_id == "boot-1"
    assert device.clock_measured_at == clock.now()


async def test_a_stay_is_measured_on_the_monotonic_clock_when_the_boot_matches(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F24: the user moved the wall clock two hours between check-in and check-out."""
    phone = world.phone
    phone.check_in(world.visit.id, START + timedelta(minutes=1))
    checked_in = await submit(sessions, world, clock)
    phone.wall_skew = timedelta(hours=2)
    phone.check_out(world.visit.id, START + timedelta(minutes=31))
    clock.current = START + timedelta(minutes=32)

    answer = await submit(sessions, world, clock)

    assert checked_in.results[0].flags == ()
    assert answer.results[0].flags == ("CLOCK_SKEW_SUSPECT",)
    [event] = await events_of(sessions, "visit.checked_out")
    assert event.payload["stay_minutes"] == 30.0
    assert event.occurred_at == START + timedelta(minutes=31)
    check_in, check_out = await fact_rows(sessions)
    assert check_in.occurred_at == START + timedelta(minutes=1)
    assert check_out.device_occurred_at == START + timedelta(hours=2, minutes=31)


async def test_after_a_reboot_the_earlier_boots_anchor_corrects_its_commands(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    phone = world.phone
    await submit(sessions, world, clock)  # a contact: the hub anchors boot-1
    phone.wall_skew = timedelta(hours=-1)  # and then the wall clock goes wrong
    phone.check_in(world.visit.id, START + timedelta(minutes=6))
    phone.reboot(START + timedelta(minutes=7), "boot-2")
    clock.current = START + timedelta(minutes=8)

    answer = await submit(sessions, world, clock)

    [fact] = await fact_rows(sessions)
    assert fact.time_basis == "anchor"
    assert fact.occurred_at == START + timedelta(minutes=6)
    assert answer.results[0].flags == ("CLOCK_SKEW_SUSPECT",)


async def test_future_and_late_arrivals_are_flagged(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F25: no anchor for the boot and a wall clock set back since: the time lands in the
    future. A command more than 24 hours old arrives LATE_SYNC."""
    phone = world.phone
    phone.hydration(world.visit.id, START + timedelta(minutes=4), 100)
    phone.reboot(START + timedelta(minutes=4, seconds=30), "boot-2")
    phone.wall_skew = timedelta(hours=-1)
    future = await submit(sessions, world, clock)
    assert future.results[0].flags == ("CLOCK_SKEW_SUSPECT", "FUTURE_TIMESTAMP")

    phone.wall_skew = timedelta(0)
    phone.hydration(world.visit.id, clock.now(), 100)
    clock.advance(timedelta(hours=30))
    late = await submit(sessions, world, clock)
    assert late.results[0].flags == ("LATE_SYNC",)


async def test_an_offline_check_in_after_the_visit_showed_missed_reconciles_it(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F27 (fact side): in progress, then completed; both times kept; LATE_SYNC."""
    phone = world.phone
    phone.check_in(world.visit.id, START + timedelta(minutes=3))
    phone.check_out(world.visit.id, START + timedelta(minutes=33))
    clock.current = START + timedelta(hours=2)
    async with sessions() as session:
        before = await visits.get_visit(session, AccessScope.system(), world.visit.id)
    assert visits.visit_status(before, clock.now()) is VisitStatus.MISSED

    answer = await submit(sessions, world, clock, limit=1)
    async with sessions() as session:
        middle = await visits.get_visit(session, AccessScope.system(), world.visit.id)
    await submit(sessions, world, clock)
    async with sessions() as session:
        after = await visits.get_visit(session, AccessScope.system(), world.visit.id)

    assert answer.results[0].flags == ("LATE_SYNC",)
    assert visits.visit_status(middle, clock.now()) is VisitStatus.IN_PROGRESS
    assert visits.visit_status(after, clock.now()) is VisitStatus.COMPLETED
    check_in, _ = await fact_rows(sessions)
    assert check_in.occurred_at == START + timedelta(minutes=3)
    assert check_in.received_at == START + timedelta(hours=2)
    [event] = await events_of(sessions, "visit.checked_in")
    assert event.occurred_at == START + timedelta(minutes=3)
    assert event.payload["received_at"] == (START + timedelta(hours=2)).isoformat()
    assert event.payload["flags"] == ["LATE_SYNC"]


# --- versions ------------------------------------------------------------------------------------


async def test_body_versions_decode_under_the_protocols_that_know_them(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F28: an outbox written by protocol 1 drains under protocol 2; a V2 member sent under
    protocol 1 is quarantined UNKNOWN_BODY_VERSION."""
    phone = world.phone
    phone.check_in(world.visits[0].id, START + timedelta(minutes=2))
    phone.record(
        "checkInV2",
        {"visitId": visit_gid(world.visits[1].id), "verification": gps(), "note": "door open"},
        at=START + timedelta(minutes=3),
    )
    under_two = await submit(sessions, world, clock)

    phone.protocol_version = 1
    phone.record(
        "checkInV2",
        {"visitId": visit_gid(world.visits[2].id), "verification": gps()},
        at=START + timedelta(minutes=4),
    )
    phone.check_in(world.visits[3].id, START + timedelta(minutes=4))
    under_one = await submit(sessions, world, clock)

    assert [r.status for r in under_two.results] == [AnswerStatus.APPLIED] * 2
    assert statuses(under_one) == [
        (3, AnswerStatus.QUARANTINED, "UNKNOWN_BODY_VERSION"),
        (4, AnswerStatus.APPLIED, None),
    ]
    notes = [e.payload["note"] for e in await events_of(sessions, "visit.checked_in")]
    assert notes == [None, "door open", None]


async def test_an_app_below_the_minimum_may_still_upload(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F29 (upload side): accepted, and told it is drain-only."""
    world.phone.hydration(world.visit.id, START, 100)
    strict = MobileVersions(current_protocol=2, min_app_version="1.4.0")
    answer = await submit(sessions, world, clock, versions=strict)
    assert answer.results[0].status is AnswerStatus.APPLIED
    assert answer.drain_only is True
    assert answer.min_app_version == "1.4.0"


@pytest.mark.parametrize("protocol", [3, 0])
async def test_an_unsupported_protocol_is_refused_listing_the_supported(
    sessions: SessionFactory, world: World, clock: FixedClock, protocol: int
) -> None:
    """F30."""
    world.phone.protocol_version = protocol
    world.phone.hydration(world.visit.id, START, 100)
    with pytest.raises(UnsupportedProtocol) as refused:
        await submit(sessions, world, clock)
    assert refused.value.supported == (2, 1)
    assert await log_rows(sessions) == []


# --- verification and tamper evidence -----------------------------------------------------------


async def test_presence_evidence_flags_arrive_with_the_answer(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F33 (mock), F34 (outside / no fix), F35 (another home's tag)."""
    async with unit_of_work(sessions) as session:
        stranger = await builders.create_person(session)
        await register_presence_tag(
            session,
            scope=AccessScope.system(),
            actor="test",
            clock=clock,
            person_id=stranger.id,
            kind=PresenceTagKind.NFC,
            value="04:99:88:77",
        )
    phone = world.phone
    at = START + timedelta(minutes=2)
    phone.check_in(world.visits[0].id, at, **gps(isMock=True))
    phone.check_in(world.visits[1].id, at, **gps(lat=53.4900))
    phone.check_in(world.visits[2].id, at, method="GPS")
    phone.check_in(world.visits[3].id, at, method="NFC", tag="04:99:88:77")

    answer = await submit(sessions, world, clock)

    assert [r.status for r in answer.results] == [AnswerStatus.APPLIED] * 4
    assert [r.flags[:1] for r in answer.results] == [
        ("MOCK_LOCATION",),
        ("OUTSIDE_GEOFENCE",),
        ("LOCATION_UNVERIFIED",),
        ("TAG_MISMATCH",),
    ]


async def test_an_edited_outbox_row_breaks_the_chain_and_is_still_applied(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F36: the second command was edited on the phone after the third was chained to it."""
    phone = world.phone
    phone.hydration(world.visit.id, START + timedelta(minutes=1), 100)
    phone.hydration(world.visit.id, START + timedelta(minutes=2), 100)
    phone.hydration(world.visit.id, START + timedelta(minutes=3), 100)
    phone.outbox[1]["body"]["hydrationV1"]["fluidMl"] = 1000

    answer = await submit(sessions, world, clock)

    assert [r.flags for r in answer.results] == [(), (), ("CHAIN_BREAK",)]
    assert [r.status for r in answer.results] == [AnswerStatus.APPLIED] * 3
    rows = await log_rows(sessions)
    assert rows[0].prev_hash == GENESIS_HASH
    assert (await device_row(sessions, world)).last_command_hash == command_hash(rows[2].payload)
    [flagged] = await events_of(sessions, "visit.fact_flagged")
    assert flagged.payload["flags"] == ["CHAIN_BREAK"]


async def test_a_revoked_devices_commands_are_quarantined_and_kept(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F37: the phone was lost; what it sends later waits for the office."""
    phone = world.phone
    phone.hydration(world.visit.id, START, 100)
    await submit(sessions, world, clock)
    async with unit_of_work(sessions) as session:
        await devices.revoke_device(
            session,
            scope=AccessScope(Role.COORDINATOR, world.provider.id, None),
            actor="coordinator",
            clock=clock,
            device_id=phone.device_id,
            reason="reported lost",
        )
    phone.check_in(world.visit.id, START + timedelta(minutes=2))
    phone.hydration(world.visit.id, START + timedelta(minutes=3), 100)

    answer = await submit(sessions, world, clock)

    assert statuses(answer) == [
        (2, AnswerStatus.QUARANTINED, "REVOKED_DEVICE"),
        (3, AnswerStatus.QUARANTINED, "REVOKED_DEVICE"),
    ]
    assert answer.acked_through_seq == 3
    assert len(await fact_rows(sessions)) == 1
    rows = await log_rows(sessions)
    assert rows[1].payload["body"]["checkInV1"]["visitId"] == visit_gid(world.visit.id)
    assert rows[1].visit_id == world.visit.id


async def test_a_visit_reassigned_while_offline_is_applied_and_flagged(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F38."""
    world.phone.check_in(world.visit.id, START + timedelta(minutes=2))
    async with unit_of_work(sessions) as session:
        await session.execute(
            text("DELETE FROM visit_assignments WHERE visit_id = :id"), {"id": world.visit.id}
        )
        session.add(
            VisitAssignment(visit_id=world.visit.id, staff_id=world.other_carer.id, assigned_by="t")
        )
    answer = await submit(sessions, world, clock)
    assert answer.results[0].status is AnswerStatus.APPLIED
    assert answer.results[0].flags == ("VISIT_REASSIGNED",)


async def test_a_medication_task_done_without_the_competence_is_flagged_for_the_engine(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    world.phone.record(
        "taskConfirmationV1",
        {"visitId": visit_gid(world.visit.id), "taskIndex": 1, "outcome": "DONE"},
        at=START + timedelta(minutes=4),
    )
    answer = await submit(sessions, world, clock)
    assert answer.results[0].flags == ("COMPETENCE_MISSING",)
    [flagged] = await events_of(sessions, "visit.fact_flagged")
    assert flagged.payload["fact_kind"] == "task_confirmation"
    assert flagged.payload["device_id"] == str(world.phone.device_id)
    [confirmed] = await events_of(sessions, "visit.task_confirmed")
    assert confirmed.payload["competence_ok"] is False


async def test_the_command_log_refuses_update_and_delete(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    """F39: corrections go through `supersedes`, never through the log."""
    world.phone.hydration(world.visit.id, START, 100)
    await submit(sessions, world, clock)
    for statement in (
        "UPDATE command_log SET code = 'X'",
        "DELETE FROM command_log",
        "TRUNCATE command_log CASCADE",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with unit_of_work(sessions) as session:
                await session.execute(text(statement))
    assert len(await log_rows(sessions)) == 1


async def test_outbox_health_is_stored_with_each_upload(
    sessions: SessionFactory, world: World, clock: FixedClock
) -> None:
    phone = world.phone
    for minute in range(5):
        phone.hydration(world.visit.id, START + timedelta(minutes=minute), 100)
    await submit(sessions, world, clock, limit=2)
    device = await device_row(sessions, world)
    assert device.outbox_depth == 3
    # The batch held only the first two: what is left was recorded no earlier than the second.
    assert device.oldest_pending_at == START + timedelta(minutes=1)
    assert device.outbox_reported_at == clock.now()
    assert device.last_seen_at == clock.now()


def test_the_canonical_form_is_rfc_8785() -> None:
    """What the app hashes: sorted keys, no whitespace, ECMAScript numbers, no nulls sent."""
    command = {
        "seq": 1,
        "prevHash": GENESIS_HASH,
        "commandId": "01936c5e-7c00-7000-8000-000000000001",
        "occurredAt": {
            "wall": "2026-11-23T08:02:00.000Z",
            "tzOffsetMin": 0,
            "bootId": "b",
            "monotonicMs": 5.0,
        },
        "body": {"hydrationV1": {"visitId": "VmlzaXQ6", "fluidMl": 250}},
    }
    assert canonical_bytes(command) == (
        b'{"body":{"hydrationV1":{"fluidMl":250,"visitId":"VmlzaXQ6"}},'
        b'"commandId":"01936c5e-7c00-7000-8000-000000000001",'
        b'"occurredAt":{"bootId":"b","monotonicMs":5,"tzOffsetMin":0,'
        b'"wall":"2026-11-23T08:02:00.000Z"},'
        b'"prevHash":"' + GENESIS_HASH.encode() + b'","seq":1}'
    )
    assert command_hash({**command, "sig": "ignored"}) == command_hash(command)
