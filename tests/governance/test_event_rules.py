"""The event-driven rules, driven by real facts recorded through `hub.visits.facts` and applied
by `run_event_rules` (the runner reads the log after its cursor): unverified, short,
double-handed attended by one, competency breach, observation triggers at their thresholds,
safeguarding, repeat patterns, data quality — and reconciliation when a check-in synced late
from an offline device shows the visit was on time, or attended late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.events.models import Event
from hub.governance.lifecycle import ActionKind, CaseSeverity, CaseStatus
from hub.governance.models import CaseAction, CaseEvidence, ExceptionCase
from hub.governance.runner import run_due_visit_scan, run_event_rules
from hub.integrations import archive
from hub.kit.time import FixedClock
from hub.visits.facts import ObservationKind, TaskOutcome, Verification, VerificationMethod
from hub.visits.models import Visit
from tests import builders
from tests.governance.conftest import Field, World, add_visit

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MEDICATION_TASK = {"code": "meds", "description": "Administer medication", "requires": "medication"}


async def _cases(sessions: SessionFactory, **where: object) -> list[ExceptionCase]:
    async with read_only(sessions) as session:
        query = select(ExceptionCase).order_by(ExceptionCase.opened_at, ExceptionCase.id)
        for name, value in where.items():
            query = query.where(getattr(ExceptionCase, name) == value)
        return list((await session.scalars(query)).all())


async def _evidence(sessions: SessionFactory, case: ExceptionCase) -> dict[int, str]:
    async with read_only(sessions) as session:
        rows = await session.execute(
            select(CaseEvidence.event_id, CaseEvidence.relation).where(
                CaseEvidence.case_id == case.id
            )
        )
        return {row[0]: row[1] for row in rows.all()}


async def _rules(sessions: SessionFactory, clock: FixedClock) -> None:
    await run_event_rules(sessions, clock)


# --- visit unverified ---------------------------------------------------------------------------


async def test_a_check_in_outside_the_geofence_or_on_a_mock_location_is_unverified(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    far = await add_visit(sessions, world, START)
    mocked = await add_visit(sessions, world, START)
    fine = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=2)
    away = Verification(
        method=VerificationMethod.GPS, latitude=53.50, longitude=-2.2426, accuracy_m=10.0
    )
    far_fact = await field.check_in(far, START, verification=away)
    await field.check_in(
        mocked,
        START,
        verification=Verification(
            method=VerificationMethod.GPS,
            latitude=53.4808,
            longitude=-2.2426,
            accuracy_m=5.0,
            is_mock=True,
        ),
    )
    await field.check_in(fine, START)
    run = await run_event_rules(sessions, clock)
    assert run.opened == 2
    [far_case] = await _cases(sessions, visit_id=far.id)
    assert far_case.rule == "visit_unverified"
    assert far_case.details["flags"] == ["OUTSIDE_GEOFENCE"]
    assert far_case.severity is CaseSeverity.LOW
    assert await _evidence(sessions, far_case) == {far_fact.event_id: "opened"}
    [mock_case] = await _cases(sessions, visit_id=mocked.id)
    assert mock_case.severity is CaseSeverity.MEDIUM
    assert await _cases(sessions, visit_id=fine.id) == []

    # The unverified check-out of the same visit is more evidence on the same case.
    clock.advance(timedelta(minutes=30))
    out = await field.check_out(far, START + timedelta(minutes=30), verification=away)
    assert (await run_event_rules(sessions, clock)).opened == 0
    assert (await _evidence(sessions, far_case))[out.event_id] == "evidence"

    assert (await run_event_rules(sessions, clock)).events == 0  # caught up


async def test_a_manual_check_in_is_unverified(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=1)
    await field.check_in(
        visit,
        START,
        verification=Verification(method=VerificationMethod.MANUAL, manual_reason="no signal"),
    )
    await _rules(sessions, clock)
    [case] = await _cases(sessions, visit_id=visit.id)
    assert case.details["flags"] == ["MANUAL_VERIFICATION"]
    assert case.details["method"] == "manual"


# --- visit short --------------------------------------------------------------------------------


async def test_a_stay_one_second_under_the_minimum_is_short_and_exactly_at_it_is_not(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    # 30 planned minutes, contract minimum 80%: 24 minutes is enough, 23:59 is short.
    exact = await add_visit(sessions, world, START)
    under = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=40)
    for visit, stay in ((exact, timedelta(minutes=24)), (under, timedelta(minutes=24) - SECOND)):
        await field.check_in(visit, START)
        await field.check_out(visit, START + stay)
    await _rules(sessions, clock)
    assert await _cases(sessions, visit_id=exact.id) == []
    [short] = await _cases(sessions, visit_id=under.id)
    assert short.rule == "visit_short"
    assert short.details["minimum_stay_percent"] == 80
    assert short.details["stay_minutes"] == 24.0  # 23:59, shown to a tenth of a minute
    assert "of 30 planned minutes" in short.title


# --- double-handed ------------------------------------------------------------------------------


async def test_a_double_handed_visit_attended_by_one_opens_a_case_the_second_carer_reconciles(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    visit = await add_visit(
        sessions, world, START, double_handed=True, carers=(world.carer, world.second_carer)
    )
    clock.current = START + timedelta(minutes=35)
    await field.check_in(visit, START)
    await field.check_out(visit, START + timedelta(minutes=30))
    await _rules(sessions, clock)
    [case] = await _cases(sessions, visit_id=visit.id)
    assert case.rule == "double_handed_single"
    assert case.details["attending_staff_ids"] == [str(world.carer.id)]

    # The second carer's phone was offline: their check-in at 08:01 arrives at 10:00.
    clock.current = START + timedelta(hours=2)
    await field.check_in(visit, START + timedelta(minutes=1), carer=world.second_carer)
    run = await run_event_rules(sessions, clock)
    assert run.reconciled == 1
    [case] = await _cases(sessions, visit_id=visit.id)
    assert case.status is CaseStatus.RESOLVED
    assert case.reconciliation is not None
    assert case.reconciliation["kind"] == "second_carer_synced_late"
    assert case.reconciliation["fact_occurred_at"] == (START + timedelta(minutes=1)).isoformat()
    assert case.reconciliation["fact_received_at"] == clock.now().isoformat()


# --- competency ---------------------------------------------------------------------------------


async def test_a_task_done_without_its_competence_is_a_competency_breach(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    visit = await add_visit(
        sessions,
        world,
        START,
        carers=(world.unqualified_carer,),
        tasks=[MEDICATION_TASK, {"code": "wash", "description": "Wash", "requires": None}],
    )
    qualified = await add_visit(sessions, world, START, tasks=[MEDICATION_TASK])
    clock.current = START + timedelta(minutes=10)
    await field.task(visit, 1, carer=world.unqualified_carer)  # needs nothing
    await field.task(visit, 0, TaskOutcome.NOT_DONE, carer=world.unqualified_carer)
    await _rules(sessions, clock)
    assert await _cases(sessions, visit_id=visit.id) == []
    breach = await field.task(visit, 0, carer=world.unqualified_carer)
    await field.task(qualified, 0)
    await _rules(sessions, clock)
    [case] = await _cases(sessions, visit_id=visit.id)
    assert case.rule == "competency_breach"
    assert case.severity is CaseSeverity.HIGH
    assert case.details["requires"] == "medication"
    assert case.details["staff_id"] == str(world.unqualified_carer.id)
    assert await _evidence(sessions, case) == {breach.event_id: "opened"}
    assert await _cases(sessions, visit_id=qualified.id) == []


# --- observations -------------------------------------------------------------------------------


async def test_observation_triggers_at_their_thresholds_open_a_review_task(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=10)
    await field.observe(visit, ObservationKind.PAIN, {"score": 6})  # under the default 7
    await field.observe(visit, ObservationKind.HYDRATION, {"fluid_ml": 200})  # at the minimum
    await field.observe(visit, ObservationKind.SKIN, {"concern": False})
    await field.observe(visit, ObservationKind.MOOD, {"mood": "low"})
    await _rules(sessions, clock)
    assert await _cases(sessions, visit_id=visit.id) == []

    pain = await field.observe(visit, ObservationKind.PAIN, {"score": 7})
    fluid = await field.observe(visit, ObservationKind.HYDRATION, {"fluid_ml": 199})
    skin = await field.observe(visit, ObservationKind.SKIN, {"concern": True})
    fall = await field.observe(
        visit, ObservationKind.FALL, {"injury": True}, note="Found on the floor"
    )
    await _rules(sessions, clock)
    cases = {c.subject_id: c for c in await _cases(sessions, visit_id=visit.id)}
    assert set(cases) == {pain.fact_id, fluid.fact_id, skin.fact_id, fall.fact_id}
    assert {c.rule for c in cases.values()} == {"observation_trigger"}
    assert cases[fall.fact_id].severity is CaseSeverity.HIGH
    assert cases[fall.fact_id].details["note"] == "Found on the floor"
    assert "pain scored 7" in cases[pain.fact_id].title
    async with read_only(sessions) as session:
        reviews = (
            await session.scalars(
                select(CaseAction).where(CaseAction.case_id.in_([c.id for c in cases.values()]))
            )
        ).all()
    assert len(reviews) == 4
    assert {r.kind for r in reviews} == {ActionKind.REVIEW}
    assert all(r.due_at == clock.now() + timedelta(hours=24) for r in reviews)


async def test_a_corrected_observation_joins_its_review_and_contract_settings_apply(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    from hub.governance import service
    from hub.governance.policy import RuleSettings

    async with unit_of_work(sessions) as session:
        await service.set_rule_settings(
            session,
            scope=world.commissioner_scope(),
            actor="commissioner",
            clock=clock,
            contract_id=world.contract.id,
            settings=RuleSettings(pain_threshold=5),
        )
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=10)
    first = await field.observe(visit, ObservationKind.PAIN, {"score": 5})
    await _rules(sessions, clock)
    corrected = await field.observe(
        visit, ObservationKind.PAIN, {"score": 6}, supersedes_id=first.fact_id
    )
    await _rules(sessions, clock)
    [case] = await _cases(sessions, visit_id=visit.id)
    assert case.subject_id == first.fact_id
    assert await _evidence(sessions, case) == {
        first.event_id: "opened",
        corrected.event_id: "evidence",
    }


# --- safeguarding -------------------------------------------------------------------------------


async def test_a_safeguarding_concern_opens_a_critical_case_for_the_registered_manager(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=10)
    await field.concern(visit, safeguarding=False, description="Boiler not working")
    concern = await field.concern(visit, safeguarding=True)
    await _rules(sessions, clock)
    [case] = await _cases(sessions, visit_id=visit.id)
    assert case.rule == "safeguarding_concern"
    assert case.subject_id == concern.fact_id
    assert case.severity is CaseSeverity.CRITICAL
    assert case.owner_role == "registered_manager"
    assert case.details["requires_safeguarding_decision"] is True
    assert case.safeguarding_decision is None


# --- data quality -------------------------------------------------------------------------------


async def test_every_rejected_payload_opens_one_data_quality_case(
    sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    async with unit_of_work(sessions) as session:
        payload, _ = await archive.keep(
            session,
            connector="supplier_rest",
            channel="webhook",
            body=b'{"visits": [{"start": "soon"}]}',
            content_type="application/json",
            delivery_key="delivery-1",
            organisation_id=world.provider.id,
            clock=clock,
        )
        await archive.mark_rejected(
            session,
            payload,
            clock=clock,
            actor="connector:supplier_rest",
            errors=[archive.error("visits[0].start", "not a time", "INVALID")],
            summary="1 visit could not be mapped",
            contract_id=world.contract.id,
        )
        orphan, _ = await archive.keep(
            session,
            connector="la_portal",
            channel="upload",
            body=b"reference,hours\n,x\n",
            content_type="text/csv",
            delivery_key="upload-1",
            organisation_id=None,
            clock=clock,
        )
        await archive.mark_rejected(
            session,
            orphan,
            clock=clock,
            actor="connector:la_portal",
            errors=[archive.error("rows[0].reference", "missing", "REQUIRED")],
            summary="no package reference",
        )
    run = await run_event_rules(sessions, clock)
    assert run.opened == 2
    [case] = await _cases(sessions, subject_id=payload.id)
    assert case.rule == "data_quality"
    assert (case.contract_id, case.provider_id, case.person_id) == (
        world.contract.id,
        world.provider.id,
        None,
    )
    assert case.details["errors"][0]["path"] == "visits[0].start"
    assert "supplier_rest" in case.title
    [opened] = (await _evidence(sessions, case)).values()
    assert opened == "opened"
    [unattributed] = await _cases(sessions, subject_id=orphan.id)
    assert unattributed.contract_id is None
    assert unattributed.provider_id is None
    # Without a contract there is nobody to notify: the ladder stops at the provider.
    assert unattributed.next_escalation_at == clock.now() + timedelta(minutes=30)

    # The same payload rejected again (a retry found another problem): more evidence, one case.
    async with unit_of_work(sessions) as session:
        again = await archive.get(session, payload.id)
        assert again is not None
        await archive.mark_rejected(
            session,
            again,
            clock=clock,
            actor="connector:supplier_rest",
            errors=[archive.error("visits[0].end", "before start", "ORDER")],
            summary="still unmappable",
            contract_id=world.contract.id,
        )
    assert (await run_event_rules(sessions, clock)).opened == 0
    assert sorted((await _evidence(sessions, case)).values()) == ["evidence", "opened"]


# --- repeat pattern -----------------------------------------------------------------------------


async def test_the_third_case_for_one_person_in_a_week_opens_a_review_for_the_manager(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    other_person_package = None
    async with unit_of_work(sessions) as session:
        other_person_package = await builders.create_package(session, contract=world.contract)
    # Two late visits on different days, and one for someone else: no pattern yet.
    for day in (0, 2):
        await add_visit(sessions, world, START + timedelta(days=day))
        clock.current = START + timedelta(days=day, minutes=16)
        await run_due_visit_scan(sessions, clock)
    await add_visit(sessions, world, START + timedelta(days=2), package=other_person_package)
    clock.current = START + timedelta(days=2, minutes=16)
    await run_due_visit_scan(sessions, clock)
    # The first visit is late and, by the second scan, missed too: one incident, not two.
    assert len(await _cases(sessions, person_id=world.person.id)) == 3
    assert await _cases(sessions, rule="repeat_pattern") == []

    # The third, within seven days, an observation of the same person: the pattern opens.
    visit = await add_visit(sessions, world, START + timedelta(days=5))
    clock.current = START + timedelta(days=5, minutes=5)
    await field.observe(visit, ObservationKind.FALL, {"injury": False})
    await _rules(sessions, clock)
    [pattern] = await _cases(sessions, rule="repeat_pattern")
    person_cases = [
        c for c in await _cases(sessions, person_id=world.person.id) if c.rule != "repeat_pattern"
    ]
    assert len(person_cases) == 4
    assert pattern.details["incidents"] == 3
    assert pattern.person_id == world.person.id
    assert pattern.owner_role == "registered_manager"
    assert pattern.subject_type == "exception_case"
    assert pattern.subject_id == person_cases[-1].id
    assert sorted(pattern.details["case_ids"]) == sorted(str(c.id) for c in person_cases)
    assert set(await _evidence(sessions, pattern)) == {c.opened_event_id for c in person_cases}
    async with read_only(sessions) as session:
        [review] = (
            await session.scalars(select(CaseAction).where(CaseAction.case_id == pattern.id))
        ).all()
    assert review.owner_role == "registered_manager"
    assert "root causes" in review.description

    # A fourth within the window does not open a second review.
    await add_visit(sessions, world, START + timedelta(days=6))
    clock.current = START + timedelta(days=6, minutes=16)
    await run_due_visit_scan(sessions, clock)
    assert len(await _cases(sessions, rule="repeat_pattern")) == 1


# --- reconciliation -----------------------------------------------------------------------------


async def test_on_time_synced_late_resolves_the_late_and_missed_cases_keeping_both_times(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=61)
    await run_due_visit_scan(sessions, clock)
    clock.advance(timedelta(minutes=1))
    await run_due_visit_scan(sessions, clock)
    assert {c.rule for c in await _cases(sessions, visit_id=visit.id)} == {
        "visit_late",
        "visit_missed",
    }
    # The carer checked in at 08:15:00 exactly (within tolerance) with no signal; it syncs at
    # 09:30, after both cases opened.
    clock.current = START + timedelta(minutes=90)
    fact = await field.check_in(visit, START + timedelta(minutes=15))
    run = await run_event_rules(sessions, clock)
    assert run.reconciled == 2
    for case in await _cases(sessions, visit_id=visit.id):
        assert case.status is CaseStatus.RESOLVED, case.rule
        assert case.outcome_code is None
        assert case.resolved_by == "system:governance"
        assert case.next_escalation_at is None
        reconciliation = case.reconciliation
        assert reconciliation is not None
        assert reconciliation["kind"] == "on_time_synced_late"
        assert reconciliation["fact_occurred_at"] == (START + timedelta(minutes=15)).isoformat()
        assert reconciliation["fact_received_at"] == clock.now().isoformat()
        assert reconciliation["case_opened_at"] == case.opened_at.isoformat()
        assert (await _evidence(sessions, case))[fact.event_id] == "reconciled"
    async with read_only(sessions) as session:
        reconciled = (
            await session.scalars(select(Event).where(Event.type == "case.reconciled"))
        ).all()
    assert len(reconciled) == 2
    assert {e.payload["status"] for e in reconciled} == {"resolved"}
    assert (await run_event_rules(sessions, clock)).reconciled == 0


async def test_attended_late_resolves_the_missed_case_and_refines_the_late_one(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=61)
    await run_due_visit_scan(sessions, clock)
    # Checked in at 08:15:01 — one second late — and synced at 09:20.
    clock.current = START + timedelta(minutes=80)
    await field.check_in(visit, START + timedelta(minutes=15, seconds=1))
    await _rules(sessions, clock)
    cases = {c.rule: c for c in await _cases(sessions, visit_id=visit.id)}
    late, missed = cases["visit_late"], cases["visit_missed"]
    assert missed.status is CaseStatus.RESOLVED
    assert missed.reconciliation is not None
    assert missed.reconciliation["kind"] == "attended_late"
    assert late.status is CaseStatus.OPEN  # it was late: the office still resolves it
    assert late.reconciliation is not None
    assert late.reconciliation["kind"] == "attended_late"
    assert late.reconciliation["minutes_late"] == 15.0
    assert late.reconciliation["resolved_case"] is False


async def test_a_check_in_racing_the_scan_never_leaves_a_false_case(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> None:
    """The check-in commits after the scan judged the visit: its event reconciles the case."""
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=16)
    await run_due_visit_scan(sessions, clock)
    await field.check_in(visit, START + timedelta(minutes=14))
    await _rules(sessions, clock)
    [case] = await _cases(sessions, visit_id=visit.id)
    assert case.status is CaseStatus.RESOLVED
    async with read_only(sessions) as session:
        assert (await session.get(Visit, visit.id)) is not None
