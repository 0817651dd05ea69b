"""Background rules do not stall carers' uploads. A rule pass over thousands of events about one
visit (each opening a case that references the visit, so each holds a lock on its row until its
transaction ends) runs while the carer's app uploads check-ins and observations for that visit
over GraphQL: every command is APPLIED, none DEFERRED, with the production lock timeout."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.events.log import NewEvent, record
from hub.governance.detect import OBSERVATION
from hub.governance.models import ExceptionCase
from hub.governance.runner import RuleRun, run_event_rules
from hub.kit.ids import uuid7
from hub.kit.time import FixedClock
from hub.visits.models import Visit
from tests.governance.conftest import World, add_visit
from tests.mobile.app_client import install_app
from tests.mobile.command_builder import Phone
from tests.support.identity import Identities

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
EVENTS = 300


async def _falls(sessions: SessionFactory, clock: FixedClock, world: World, visit: Visit) -> None:
    """`EVENTS` falls recorded on the visit (an office backlog, a supplier's bulk sync): each
    opens an observation case that references the visit."""
    async with unit_of_work(sessions) as session:
        for _ in range(EVENTS):
            await record(
                session,
                NewEvent(
                    type=OBSERVATION,
                    subject_type="visit",
                    subject_id=visit.id,
                    actor=f"staff:{world.carer.id}",
                    occurred_at=clock.now(),
                    organisation_id=world.provider.id,
                    contract_id=world.contract.id,
                    person_id=world.person.id,
                    payload={
                        "fact_id": str(uuid7()),
                        "kind": "fall",
                        "values": {"injury": False},
                        "staff_id": str(world.carer.id),
                        "source": "mobile",
                        "flags": [],
                    },
                ),
            )


async def _rule_run_writing(engine: AsyncEngine) -> None:
    """Until another connection of this database has an open writing transaction (the rule pass
    has opened its first case and holds the visit's row)."""
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        async with engine.connect() as connection:
            writing = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                )
            )
        if writing:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the rule pass never started writing")


async def test_a_rule_pass_over_many_events_does_not_defer_a_carers_upload(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    engine: AsyncEngine,
    clock: FixedClock,
    world: World,
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=2)
    await _falls(sessions, clock, world, visit)
    app = await install_app(http, identities, sessions, clock, world.carer)
    phone = Phone(device_id=uuid.UUID(app.device_id), booted_at=START - timedelta(hours=1))

    rules = asyncio.create_task(run_event_rules(sessions, clock))
    await _rule_run_writing(engine)
    answers: list[dict[str, Any]] = []
    for step in ("check_in", "hydration", "hydration", "check_out"):
        if step == "check_in":
            phone.check_in(visit.id, clock.now())
        elif step == "hydration":
            phone.hydration(visit.id, clock.now(), 150)
        else:
            phone.check_out(visit.id, clock.now())
        answer = (await app.run("SubmitCommands", {"input": phone.batch(clock.now())})).ok()
        answers.append(answer["submitCommands"])
        phone.acknowledge(answer["submitCommands"]["ackedThroughSeq"])
        await asyncio.sleep(0.2)
    # The uploads overlapped the rule pass: it was still working when the last one returned.
    assert not rules.done()
    run: RuleRun = await rules

    assert [a["stop"] for a in answers] == [None] * 4
    assert [[r["status"] for r in a["results"]] for a in answers] == [["APPLIED"]] * 4
    assert run.events >= EVENTS
    assert run.failed == 0
    assert await _cases(sessions, visit) >= EVENTS


async def _cases(sessions: SessionFactory, visit: Visit) -> int:
    async with read_only(sessions) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ExceptionCase)
            .where(ExceptionCase.visit_id == visit.id)
        )
    return int(count or 0)


async def test_a_rule_pass_never_holds_a_visit_row_for_long(
    sessions: SessionFactory, engine: AsyncEngine, clock: FixedClock, world: World
) -> None:
    """The office's writes (cancel, assign, a supplier's reschedule) lock the visit FOR UPDATE,
    which does conflict with the foreign-key locks of cases being opened: they wait only for one
    short rule transaction, never for the whole pass."""
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=2)
    await _falls(sessions, clock, world, visit)
    rules = asyncio.create_task(run_event_rules(sessions, clock))
    await _rule_run_writing(engine)
    waits: list[float] = []
    loop = asyncio.get_running_loop()
    # Probe for as long as the pass runs (bounded), however fast this machine makes it.
    while not rules.done() and len(waits) < 200:
        async with engine.connect() as connection:
            await connection.execute(text("SET LOCAL lock_timeout = '1500ms'"))
            started = loop.time()
            locked = await connection.scalar(
                text("SELECT id FROM visits WHERE id = :id FOR UPDATE"), {"id": visit.id}
            )
            waits.append(loop.time() - started)
            await connection.rollback()
        assert locked == visit.id
        await asyncio.sleep(0.05)
    run = await rules
    assert run.events >= EVENTS
    assert len(waits) >= 5, "the pass ended before it could be probed"
    assert max(waits) < 1.5
