"""The event-rule runner's two guarantees: it never passes an event (its cursor is a feed
position, so a transaction that took its id early and commits first cannot push it past a
younger transaction's lower event id), and it never drops one (an event the rules fail on is
recorded, retried with growing gaps, resolved when the rules succeed, and shown to admins and
the provider's registered manager while it is not)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.events.log import NewEvent, record
from hub.governance import failures
from hub.governance.detect import OBSERVATION, PAYLOAD_REJECTED
from hub.governance.models import ExceptionCase, RuleCursor, RuleFailure
from hub.governance.runner import EVENT_CURSOR, observe, run_event_rules
from hub.graphql.ids import encode_global_id
from hub.kit.ids import uuid7
from hub.kit.time import FixedClock
from hub.metrics import HubMetrics
from hub.visits import facts
from hub.visits.facts import ObservationKind
from hub.visits.models import Visit
from tests import builders
from tests.governance.conftest import Field, World, add_visit
from tests.support.graphql import GraphQLClient
from tests.support.id_cursor import settled_events_after
from tests.support.identity import Identities

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

FAILURES = """
query Failures($unresolvedOnly: Boolean, $first: Int, $after: String) {
  governanceRuleFailures(unresolvedOnly: $unresolvedOnly, first: $first, after: $after) {
    nodes {
      eventId eventType contractId errorClass errorMessage attempts firstFailedAt
      lastFailedAt nextAttemptAt resolvedAt retriesExhausted
    }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _cases(sessions: SessionFactory) -> list[ExceptionCase]:
    async with read_only(sessions) as session:
        query = select(ExceptionCase).order_by(ExceptionCase.opened_at, ExceptionCase.id)
        return list((await session.scalars(query)).all())


async def _failures(sessions: SessionFactory) -> list[RuleFailure]:
    async with read_only(sessions) as session:
        return list(await session.scalars(select(RuleFailure).order_by(RuleFailure.event_id)))


async def _fall(session: AsyncSession, field: Field, visit: Visit) -> facts.RecordedFact:
    """A fall recorded through `hub.visits.facts` in the caller's open transaction."""
    return await facts.record_observation(
        session,
        **field._common(visit, None),
        occurred_at=field.clock.now(),
        kind=ObservationKind.FALL,
        values={"injury": True},
    )


# --- the cursor is a feed position --------------------------------------------------------------


async def test_an_older_transaction_that_records_its_fact_last_is_not_skipped(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    """T1 takes its transaction id first (it updated something), T2 records a fall and stays
    open, T1 records a fall and commits first: T1's event has the higher id and is settled while
    T2's lower id is not. An id cursor would pass T2's event for good; a position does not."""
    first = await add_visit(sessions, world, START)
    second = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=10)
    async with sessions() as older, older.begin():
        await older.execute(text("SELECT pg_current_xact_id()"))  # takes its id now
        async with sessions() as younger, younger.begin():
            lower = await _fall(younger, field, second)
            higher = await _fall(older, field, first)
            assert lower.event_id < higher.event_id
            await older.commit()

            run = await run_event_rules(sessions, clock)
            assert (run.events, run.opened) == (1, 1)
            assert [case.subject_id for case in await _cases(sessions)] == [higher.fact_id]
        # T2 commits here, after the runner moved past T1's (higher) event id.

    async with read_only(sessions) as session:
        by_id = await settled_events_after(session, higher.event_id, types=(OBSERVATION,))
    assert by_id == []  # what an id cursor would read now: the fall on `second` is lost to it

    run = await run_event_rules(sessions, clock)
    assert (run.events, run.opened, run.failed) == (1, 1, 0)
    cases = {case.subject_id: case for case in await _cases(sessions)}
    assert set(cases) == {higher.fact_id, lower.fact_id}
    assert cases[lower.fact_id].visit_id == second.id
    assert cases[lower.fact_id].rule == "observation_trigger"

    async with read_only(sessions) as session:
        cursor = (
            await session.scalars(select(RuleCursor).where(RuleCursor.name == EVENT_CURSOR))
        ).one()
        younger_txid = await session.scalar(
            text("SELECT txid FROM events WHERE id = :id"), {"id": lower.event_id}
        )
    assert (cursor.txid, cursor.event_id) == (younger_txid, lower.event_id)
    assert run.position == f"{younger_txid}.{lower.event_id}"
    assert (await run_event_rules(sessions, clock)).events == 0  # caught up, nothing twice


# --- an event the rules fail on is recorded, retried and shown ----------------------------------


async def _broken_observation(
    sessions: SessionFactory, clock: FixedClock, world: World, visit: Visit
) -> int:
    """An observation whose values are text, not an object (as an old writer might send it):
    the observation rule cannot read it. Recorded straight into the log."""
    async with unit_of_work(sessions) as session:
        row = await record(
            session,
            NewEvent(
                type=OBSERVATION,
                subject_type="visit",
                subject_id=visit.id,
                actor="supplier:legacy",
                occurred_at=clock.now(),
                organisation_id=world.provider.id,
                contract_id=world.contract.id,
                person_id=world.person.id,
                payload={
                    "fact_id": str(uuid7()),
                    "kind": "hydration",
                    "values": "150 ml",
                    "note": None,
                    "source": "supplier:legacy",
                    "flags": [],
                },
            ),
        )
        return row.id


async def test_a_failing_event_is_recorded_retried_to_the_limit_and_stays_visible(
    sessions: SessionFactory,
    clock: FixedClock,
    world: World,
    field: Field,
    http: httpx.AsyncClient,
    identities: Identities,
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=10)
    broken = await _broken_observation(sessions, clock, world, visit)
    after = await field.observe(visit, ObservationKind.FALL, {"injury": False})

    run = await run_event_rules(sessions, clock)
    assert (run.events, run.failed, run.opened, run.unresolved) == (2, 1, 1, 1)
    # The event after the broken one was still judged.
    assert [case.subject_id for case in await _cases(sessions)] == [after.fact_id]
    [failure] = await _failures(sessions)
    assert failure.event_id == broken
    assert failure.event_type == OBSERVATION
    assert failure.error_class == "AttributeError"
    assert "'str' object has no attribute 'get'" in failure.error_message
    assert (failure.contract_id, failure.provider_id) == (world.contract.id, world.provider.id)
    assert failure.first_failed_at == failure.last_failed_at == clock.now()
    assert failure.attempts == 1
    assert failure.next_attempt_at == clock.now() + failures.RETRY_DELAYS[0]
    assert failure.resolved_at is None
    metrics = HubMetrics()
    observe(metrics, run)
    assert (
        metrics.registry.get_sample_value(
            "hub_governance_rule_failures_total", {"outcome": "failed"}
        )
        == 1
    )
    assert metrics.registry.get_sample_value("hub_governance_rule_failures_unresolved") == 1

    # Not due yet: nothing is retried.
    clock.advance(failures.RETRY_DELAYS[0] - timedelta(seconds=1))
    assert (await run_event_rules(sessions, clock)).retried == 0
    # Each due retry fails again (the payload cannot change) until the attempt limit.
    for attempt in range(2, failures.MAX_ATTEMPTS + 1):
        [failure] = await _failures(sessions)
        assert failure.next_attempt_at is not None
        clock.current = failure.next_attempt_at
        run = await run_event_rules(sessions, clock)
        assert (run.retried, run.recovered, run.events) == (1, 0, 0)
        assert run.gave_up == (1 if attempt == failures.MAX_ATTEMPTS else 0)
        [failure] = await _failures(sessions)
        assert failure.attempts == attempt
        assert failure.last_failed_at == clock.now()
    assert failure.next_attempt_at is None  # out of attempts
    observe(metrics, run)
    assert (
        metrics.registry.get_sample_value(
            "hub_governance_rule_failures_total", {"outcome": "gave_up"}
        )
        == 1
    )
    clock.advance(timedelta(days=1))
    run = await run_event_rules(sessions, clock)
    assert (run.retried, run.unresolved) == (0, 1)
    [failure] = await _failures(sessions)
    assert failure.attempts == failures.MAX_ATTEMPTS
    assert failure.resolved_at is None

    # It stays visible: to admins and the provider's registered manager, to nobody else.
    async def client(role: Role, organisation: uuid.UUID | None) -> GraphQLClient:
        token = await identities.token(role, organisation_id=organisation)
        return GraphQLClient(http, token=token)

    manager = await client(Role.REGISTERED_MANAGER, world.provider.id)
    [shown] = (await manager.execute(FAILURES)).ok()["governanceRuleFailures"]["nodes"]
    assert shown["eventId"] == str(broken)
    assert shown["eventType"] == OBSERVATION
    assert shown["contractId"] == encode_global_id("Contract", world.contract.id)
    assert shown["errorClass"] == "AttributeError"
    assert shown["attempts"] == failures.MAX_ATTEMPTS
    assert (shown["nextAttemptAt"], shown["resolvedAt"]) == (None, None)
    assert shown["retriesExhausted"] is True
    admin = await client(Role.ADMIN, None)
    assert (await admin.execute(FAILURES)).ok()["governanceRuleFailures"]["nodes"] == [shown]
    other = await client(Role.REGISTERED_MANAGER, world.other_provider.id)
    assert (await other.execute(FAILURES)).ok()["governanceRuleFailures"]["nodes"] == []
    coordinator = await client(Role.COORDINATOR, world.provider.id)
    refused = await coordinator.execute(FAILURES)
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"

    # Once the cause is fixed, setting the next attempt has the runner judge it again: the
    # event is still unreadable, so it fails once more and stays unresolved.
    async with unit_of_work(sessions) as session:
        row = await session.get(RuleFailure, failure.id)
        assert row is not None
        row.next_attempt_at = clock.now()
    run = await run_event_rules(sessions, clock)
    assert (run.retried, run.recovered, run.gave_up, run.unresolved) == (1, 0, 1, 1)
    [failure] = await _failures(sessions)
    assert failure.attempts == failures.MAX_ATTEMPTS + 1


async def _reject_for_unknown_contract(
    sessions: SessionFactory, clock: FixedClock, world: World, contract_id: uuid.UUID
) -> int:
    """A payload rejection naming a contract the hub does not have (yet): the data-quality case
    cannot be attributed to it (the foreign key refuses), so the rule fails."""
    async with unit_of_work(sessions) as session:
        row = await record(
            session,
            NewEvent(
                type=PAYLOAD_REJECTED,
                subject_type="inbound_payload",
                subject_id=uuid7(),
                actor="connector:la_portal",
                occurred_at=clock.now(),
                organisation_id=world.provider.id,
                contract_id=contract_id,
                payload={
                    "connector": "la_portal",
                    "channel": "upload",
                    "errors": [{"path": "rows[0].hours", "problem": "not a number"}],
                    "summary": "1 row could not be mapped",
                },
            ),
        )
        return row.id


async def test_a_retry_after_the_cause_is_fixed_resolves_the_failure(
    sessions: SessionFactory,
    clock: FixedClock,
    world: World,
    http: httpx.AsyncClient,
    identities: Identities,
) -> None:
    contract_id = uuid7()
    event_id = await _reject_for_unknown_contract(sessions, clock, world, contract_id)
    run = await run_event_rules(sessions, clock)
    assert (run.failed, run.opened) == (1, 0)
    [failure] = await _failures(sessions)
    assert failure.event_id == event_id
    assert failure.error_class == "IntegrityError: ForeignKeyViolationError"
    assert "fk_exception_cases_contract_id_contracts" in failure.error_message
    assert "INSERT" not in failure.error_message  # the driver's message, not the statement
    # The contract is unknown, so no provider: the failure is for admins only.
    assert (failure.contract_id, failure.provider_id) == (contract_id, None)

    # The contract arrives (its import was still running); the next due retry judges the event.
    async with unit_of_work(sessions) as session:
        await builders.create_contract(
            session, id=contract_id, commissioner=world.commissioner, provider=world.provider
        )
    clock.advance(failures.RETRY_DELAYS[0])
    run = await run_event_rules(sessions, clock)
    assert (run.retried, run.recovered, run.opened, run.unresolved) == (1, 1, 1, 0)
    [case] = await _cases(sessions)
    assert (case.rule, case.contract_id, case.provider_id) == (
        "data_quality",
        contract_id,
        world.provider.id,
    )
    [failure] = await _failures(sessions)
    assert failure.resolved_at == clock.now()
    assert failure.next_attempt_at is None
    assert failure.attempts == 1
    assert (await run_event_rules(sessions, clock)).retried == 0

    # Resolved failures are history: out of the default list, in the full one.
    token = await identities.token(Role.ADMIN)
    admin = GraphQLClient(http, token=token)
    listed = (await admin.execute(FAILURES)).ok()["governanceRuleFailures"]
    assert listed["nodes"] == []
    everything = (await admin.execute(FAILURES, {"unresolvedOnly": False})).ok()
    [shown] = everything["governanceRuleFailures"]["nodes"]
    assert shown["resolvedAt"] == clock.now().isoformat()
    assert shown["retriesExhausted"] is False


async def test_failures_page_newest_first(
    sessions: SessionFactory,
    clock: FixedClock,
    world: World,
    http: httpx.AsyncClient,
    identities: Identities,
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=10)
    ids = []
    for _ in range(3):
        ids.append(await _broken_observation(sessions, clock, world, visit))
        assert (await run_event_rules(sessions, clock)).failed == 1
        clock.advance(timedelta(seconds=1))
    manager = GraphQLClient(
        http,
        token=await identities.token(Role.REGISTERED_MANAGER, organisation_id=world.provider.id),
    )
    first = (await manager.execute(FAILURES, {"first": 2})).ok()["governanceRuleFailures"]
    assert [n["eventId"] for n in first["nodes"]] == [str(ids[2]), str(ids[1])]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (
        await manager.execute(FAILURES, {"first": 2, "after": first["pageInfo"]["endCursor"]})
    ).ok()["governanceRuleFailures"]
    assert [n["eventId"] for n in rest["nodes"]] == [str(ids[0])]
    assert rest["pageInfo"]["hasNextPage"] is False
