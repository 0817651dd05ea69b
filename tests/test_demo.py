"""The `hub serve --demo` dataset: its shape, its rules and that loading it is idempotent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from connectors.standards.nhs_number import check_nhs_number
from hub.change_requests.models import ChangeRequest
from hub.config import Settings
from hub.contracts.models import Contract, KpiDefinition, ResolutionOutcome
from hub.db.engine import SessionFactory
from hub.demo import DEMO_CONTRACT_REFERENCE, DEMO_ORGANISATIONS, load_demo
from hub.events.models import Event
from hub.kit.time import LONDON, FixedClock
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage
from hub.packages.triage import Rag
from hub.people.models import Person
from hub.people.sealing import sealer_for
from hub.people.service import KEY_SAFE_FIELD, open_sealed
from hub.referrals.models import Referral
from hub.staff.competency import ASSIGNABLE_STATUSES, CompetencyStatus
from hub.staff.models import Competency, StaffMember
from hub.staff.service import effective_status_of, london_today
from hub.visits.models import Visit, VisitAssignment

TABLES = (
    Contract,
    ResolutionOutcome,
    KpiDefinition,
    StaffMember,
    Competency,
    Person,
    CarePackage,
    Visit,
    VisitAssignment,
    Referral,
    ChangeRequest,
    Event,
)


async def _row_counts(sessions: SessionFactory) -> dict[str, int]:
    async with sessions() as session:
        return {
            table.__tablename__: int(
                await session.scalar(select(func.count()).select_from(table)) or 0
            )
            for table in TABLES
        }


async def test_loading_again_changes_nothing_and_a_later_day_tops_up_the_rota(
    sessions: SessionFactory, clock: FixedClock, settings: Settings
) -> None:
    # Without settings (no sealing key) the people load without access details.
    first = await load_demo(sessions, clock)
    rows = await _row_counts(sessions)
    async with sessions() as session:
        sealed = await session.scalar(
            select(func.count()).where(Person.key_safe_sealed.is_not(None))
        )
    assert sealed == 0
    second = await load_demo(sessions, clock, settings)
    assert second == first
    assert await _row_counts(sessions) == rows  # no new rows and no new events

    clock.advance(timedelta(days=1))
    later = await load_demo(sessions, clock, settings)
    assert later["visits"] > first["visits"]
    assert later["assignments"] > first["assignments"]
    assert {k: v for k, v in later.items() if k not in ("visits", "assignments")} == {
        k: v for k, v in first.items() if k not in ("visits", "assignments")
    }
    async with sessions() as session:
        last_start = await session.scalar(select(func.max(Visit.planned_start)))
    assert last_start is not None
    assert last_start.astimezone(LONDON).date() == (
        clock.now().astimezone(LONDON).date() + timedelta(days=6)
    )


async def test_the_demo_dataset(
    sessions: SessionFactory, clock: FixedClock, settings: Settings
) -> None:
    """One load (it takes seconds), every promise of the dataset checked against it."""
    counts = await load_demo(sessions, clock, settings)
    await _has_the_promised_sizes(sessions, counts)
    await _has_a_red_amber_green_mix_with_held_packages(sessions)
    await _has_a_realistic_spread_of_competencies(sessions, clock)
    await _has_only_checked_test_range_nhs_numbers_and_sealed_access(sessions, settings)
    await _gives_no_gated_task_to_a_carer_who_may_not_do_it(sessions)


async def _has_the_promised_sizes(sessions: SessionFactory, counts: dict[str, int]) -> None:
    assert counts["organisations"] == len(DEMO_ORGANISATIONS)
    assert counts["contracts"] == 1
    assert 35 <= counts["packages"] <= 45
    assert counts["people"] == counts["packages"]
    assert 12 <= counts["carers"] <= 18
    assert counts["visits"] > 0
    assert counts["referrals"] == 3
    assert counts["change_requests"] == 1
    async with sessions() as session:
        visits = await session.scalar(select(func.count()).select_from(Visit))
        staffed = await session.scalar(select(func.count(func.distinct(VisitAssignment.visit_id))))
        contract = (
            await session.scalars(
                select(Contract).where(Contract.reference == DEMO_CONTRACT_REFERENCE)
            )
        ).one()
        outcomes = (
            await session.scalars(
                select(ResolutionOutcome).where(ResolutionOutcome.contract_id == contract.id)
            )
        ).all()
        kpis = (
            await session.scalars(
                select(KpiDefinition).where(KpiDefinition.contract_id == contract.id)
            )
        ).all()
        incomplete = await session.scalar(select(func.count()).where(Referral.missing_fields != []))
    assert visits == counts["visits"]
    assert staffed is not None
    assert staffed >= 0.9 * visits
    assert counts["assignments"] > staffed  # double-handed visits have two carers
    required = {outcome.code: outcome.required_fields for outcome in outcomes}
    assert required["covered_by_alternative_worker"] == [
        "alternativeWorker",
        "coveredWithinMinutes",
    ]
    assert required["escalated_to_on_call"] == ["onCallManager"]
    assert len(kpis) >= 4
    assert all(kpi.source_event_types and kpi.governance_action for kpi in kpis)
    tolerances = (
        contract.late_after_minutes,
        contract.time_critical_late_after_minutes,
        contract.missed_after_minutes,
        contract.minimum_stay_percent,
    )
    assert tolerances == (15, 5, 60, 80)
    assert incomplete == 1


async def _has_a_red_amber_green_mix_with_held_packages(sessions: SessionFactory) -> None:
    async with sessions() as session:
        rows = (await session.scalars(select(CarePackage))).all()
        visited = set((await session.scalars(select(Visit.package_id).distinct())).all())
    ratings = [row.rag for row in rows]
    assert ratings.count(Rag.GREEN) > ratings.count(Rag.AMBER) > ratings.count(Rag.RED) > 0
    held = [row for row in rows if row.held_out_of_rota]
    assert held
    assert all(row.rag is Rag.RED for row in held)
    # A red package validated by the office is released, still red, and goes live.
    assert any(row.rag is Rag.RED and row.status is PackageStatus.LIVE for row in rows)
    assert not {row.id for row in held} & visited  # held packages get no visits
    assert 8 <= sum(row.incumbent_provider_id is not None for row in rows) <= 12
    assert {row.id for row in rows if row.status is PackageStatus.LIVE} == visited


async def _has_a_realistic_spread_of_competencies(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    today = london_today(clock)
    async with sessions() as session:
        rows = (await session.scalars(select(Competency))).all()
        transferred = await session.scalar(
            select(func.count()).where(StaffMember.tupe_origin_id.is_not(None))
        )
    assert all(row.expires_on is not None for row in rows)
    medication = [effective_status_of(row, today) for row in rows if row.code == "medication"]
    assert medication.count(CompetencyStatus.RESTRICTED) >= 2
    assert sum(status in ASSIGNABLE_STATUSES for status in medication) > len(medication) // 2
    assert any(effective_status_of(row, today) is CompetencyStatus.EXPIRED for row in rows)
    assert transferred is not None
    assert transferred >= 3


async def _has_only_checked_test_range_nhs_numbers_and_sealed_access(
    sessions: SessionFactory, settings: Settings
) -> None:
    async with sessions() as session:
        people = (await session.scalars(select(Person))).all()
        referrals = (await session.scalars(select(Referral))).all()
    numbers = [person.nhs_number for person in people]
    numbers += [row.minimum_dataset.get("nhsNumber") for row in referrals]
    assert len(set(numbers)) == len(numbers)
    for number in numbers:
        assert number is not None
        assert number.startswith("999")
        assert check_nhs_number(number).is_valid, number
    with_codes = [person for person in people if person.key_safe_sealed is not None]
    assert with_codes
    assert len(with_codes) < len(people)
    code = open_sealed(
        sealer_for(settings), with_codes[0].id, KEY_SAFE_FIELD, with_codes[0].key_safe_sealed
    )
    assert code is not None
    assert code.isdigit()
    assert all(p.latitude is not None and p.longitude is not None for p in people)


async def _gives_no_gated_task_to_a_carer_who_may_not_do_it(sessions: SessionFactory) -> None:
    async with sessions() as session:
        pairs = (
            await session.execute(
                select(Visit, VisitAssignment.staff_id).join(
                    VisitAssignment, VisitAssignment.visit_id == Visit.id
                )
            )
        ).all()
        competencies = {
            (row.staff_id, row.code): row for row in await session.scalars(select(Competency))
        }
    medication_calls = 0
    carers: dict[object, int] = {}
    for visit, staff_id in pairs:
        carers[visit.id] = carers.get(visit.id, 0) + 1
        day = visit.planned_start.astimezone(LONDON).date()
        for task in visit.tasks:
            needed = task.get("requires")
            if needed is None:
                continue
            record = competencies.get((staff_id, needed))
            assert record is not None, (visit.id, needed)
            assert effective_status_of(record, day) in ASSIGNABLE_STATUSES, (visit.id, needed)
            medication_calls += needed == "medication"
    assert medication_calls > 0  # there are medication calls, and every one was checked
    for visit, _ in pairs:
        assert carers[visit.id] == (2 if visit.double_handed else 1)
