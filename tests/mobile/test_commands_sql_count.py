"""Statements per command of the upload: a fixed number per batch (the device lock, the device
and its log entries, the contact) plus the same number for every command, whatever the batch
size. Counted, not timed (like tests/graphql/test_sql_count.py): a query per command that
creeps in (an N+1 over the batch's visits, a re-read of the device) shows up here long before
it shows in bench/mobile/upload.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.models import Event
from hub.kit.time import FixedClock
from hub.mobile import devices
from hub.mobile.canonical import canonical_bytes, command_hash, content_hash, digests
from hub.mobile.upload import AnswerStatus, UploadPolicy, submit_commands
from hub.mobile.versions import MobileVersions
from hub.tenancy import AccessScope
from tests import builders
from tests.mobile.command_builder import Phone, gps, upload_of, visit_gid
from tests.support.sqlcount import counting_statements

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HOME = (53.4810, -2.2426)
TASKS = [
    {"code": "personal_care", "description": "Washing and dressing", "requires": None},
    {"code": "meal", "description": "Prepare breakfast", "requires": None},
    {"code": "drink", "description": "Leave a drink in reach", "requires": None},
]
# Per visit, as bench/mobile/upload.py sends them, with a manual check-out (flagged
# MANUAL_VERIFICATION: a fact with two events).
PER_VISIT = 11


def record_visit(phone: Phone, visit_id: uuid.UUID, start: datetime) -> None:
    gid = visit_gid(visit_id)
    phone.check_in(visit_id, start)
    for index in range(len(TASKS)):
        phone.record(
            "taskConfirmationV1",
            {"visitId": gid, "taskIndex": index, "outcome": "DONE"},
            at=start + timedelta(minutes=1 + index),
        )
    phone.hydration(visit_id, start + timedelta(minutes=5), 200)
    at = start + timedelta(minutes=6)
    phone.record("nutritionV1", {"visitId": gid, "portionEaten": "MOST"}, at=at)
    phone.record("painScoreV1", {"visitId": gid, "score": 2}, at=at)
    phone.record("moodV1", {"visitId": gid, "mood": "GOOD"}, at=at)
    phone.record("skinV1", {"visitId": gid, "concern": False}, at=at)
    phone.record(
        "concernV1",
        {
            "visitId": gid,
            "category": "HEALTH",
            "safeguarding": False,
            "description": "More breathless than usual",
        },
        at=at,
    )
    phone.check_out(
        visit_id, start + timedelta(minutes=12), method="MANUAL", manualReason="no signal"
    )


async def test_statements_per_command_do_not_grow_with_the_batch(
    sessions: SessionFactory, engine: AsyncEngine, clock: FixedClock
) -> None:
    # Received before the visits turn late: no flag but the manual check-out's.
    clock.current = START + timedelta(minutes=13)
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session)
        contract = await builders.create_contract(session, provider=provider)
        person = await builders.create_person(session, latitude=HOME[0], longitude=HOME[1])
        package = await builders.create_package(session, contract=contract, person=person)
        carer = await builders.create_staff(session, organisation=provider)
        visits = [
            await builders.create_visit(
                session,
                package=package,
                carers=(carer,),
                planned_start=START + timedelta(seconds=n),
                tasks=TASKS,
            )
            for n in range(9)
        ]
    scope = AccessScope(Role.CARER, provider.id, carer.id)
    phone = Phone()
    async with unit_of_work(sessions) as session:
        await devices.register_device(
            session,
            scope=scope,
            actor=f"staff:{carer.id}",
            clock=clock,
            device_id=phone.device_id,
            platform="android",
            model=None,
            app_version="1.0.0",
            protocol_version=2,
        )

    async def statements_for(visit_count: int) -> int:
        """Upload `visit_count` visits' worth of commands in one batch; its statements."""
        for _ in range(visit_count):
            record_visit(phone, visits.pop(0).id, START)
        with counting_statements(engine) as log:
            answer = await submit_commands(
                sessions,
                scope=scope,
                actor=f"staff:{carer.id}",
                clock=clock,
                versions=MobileVersions(current_protocol=2, min_app_version="1.0.0"),
                policy=UploadPolicy(),
                upload=upload_of(phone.batch(clock.now())),
            )
        assert len(answer.results) == visit_count * PER_VISIT
        assert {(r.status, r.code, r.message) for r in answer.results} == {
            (AnswerStatus.APPLIED, None, None)
        }
        assert {r.flags for r in answer.results} == {(), ("MANUAL_VERIFICATION",)}
        phone.acknowledge(answer.acked_through_seq)
        return log.count

    one, two, six = [await statements_for(n) for n in (1, 2, 6)]

    per_visit = two - one
    assert six - one == 5 * per_visit
    # Per command: the device's cursor, the visit (locked) with its context, the fact with its
    # event, the log entry; plus the standing check-in for a check-out, the task's earlier
    # confirmation for a task, the visit's check-in/out time, and the `visit.fact_flagged`
    # event of a flagged fact: 4 x 11 + 3 + 1 + 2 + 1 = 51 per visit of 11 commands (61 before
    # the fact and its event shared a statement). Per batch: the lock and its timeouts (5), the
    # device and its log entries, the contact.
    assert per_visit == 4 * PER_VISIT + 7
    assert one - per_visit == 8
    async with sessions() as session:
        flagged = await session.scalar(
            select(func.count()).select_from(Event).where(Event.type == "visit.fact_flagged")
        )
    assert flagged == 9


def test_digests_are_the_three_canonical_measures_of_a_command() -> None:
    """`digests` serialises each member once; it must agree with the functions it replaces."""
    phone = Phone()
    command = phone.check_in(uuid.uuid4(), START, **gps(accuracy=12.5, isMock=False))
    signed = {**command, "sig": "c2ln", "supersedes": str(uuid.uuid4())}
    for value in (command, signed):
        found = digests(value)
        assert found.command_hash == command_hash(value)
        assert found.content_hash == content_hash(value)
        assert found.size == len(canonical_bytes(value))
    assert digests(signed).command_hash != digests(command).command_hash
