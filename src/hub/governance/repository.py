"""Every query the governance domain runs.

Tenancy (`case_visible`): an admin sees every case; a commissioner the cases on its contracts;
the provider's office (coordinator, registered manager) its provider's cases; anyone else none.
A case outside the scope answers exactly like a missing one. The events the rules failed on
(`rule_failure_visible`): admins, and a registered manager for their provider's contracts.

The due-visit scan (`awaiting_judgement_query`) is index-driven: it reads the visits not yet
judged through the partial index `ix_visits_awaiting_judgement`, which holds only unattended,
uncancelled visits not yet judged missed, so its cost follows the visits of the last few hours,
not the size of the visits table — and it needs no time window, which would let a visit that
arrived, moved or was due while the worker was down slip past unjudged.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.contracts.models import Contract
from hub.events.models import Event
from hub.governance.lifecycle import ACTIVE_STATUSES, CaseSeverity, CaseStatus
from hub.governance.models import (
    CaseAction,
    CaseEvidence,
    CaseRuleSettingsRow,
    EscalationStepRow,
    ExceptionCase,
    RuleCursor,
    RuleFailure,
)
from hub.governance.rules import CaseRule, VisitSnapshot
from hub.packages.models import CarePackage
from hub.tenancy import AccessScope
from hub.visits.models import Visit
from hub.visits.repository import late_after as visit_late_after
from hub.visits.repository import missed_after as visit_missed_after
from hub.visits.status import VisitTolerances, visit_deadlines

# --- tenancy ----------------------------------------------------------------------------------


def case_visible(scope: AccessScope) -> ColumnElement[bool]:
    if scope.is_admin:
        return true()
    if scope.is_commissioner:
        return ExceptionCase.contract_id.in_(
            select(Contract.id).where(Contract.commissioner_id == scope.organisation_id)
        )
    if scope.is_office:
        return ExceptionCase.provider_id == scope.organisation_id
    return false()


# --- cases --------------------------------------------------------------------------------------


async def get(
    session: AsyncSession, scope: AccessScope, case_id: uuid.UUID, *, for_update: bool = False
) -> ExceptionCase | None:
    """The case if the caller may see it; `for_update` locks it until the unit of work ends,
    so two people (or a person and the escalation timer) change it one after the other."""
    query = select(ExceptionCase).where(ExceptionCase.id == case_id, case_visible(scope))
    if for_update:
        query = query.with_for_update(of=ExceptionCase)
    return (await session.scalars(query)).one_or_none()


async def get_many(
    session: AsyncSession, scope: AccessScope, ids: Sequence[uuid.UUID]
) -> Sequence[ExceptionCase]:
    result = await session.scalars(
        select(ExceptionCase).where(ExceptionCase.id.in_(ids), case_visible(scope))
    )
    return result.all()


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """Still needing someone, and past its resolution due time — or still unacknowledged past
    its acknowledgement due time."""
    at = literal(now, DateTime(timezone=True))
    return and_(
        ExceptionCase.status.in_(list(ACTIVE_STATUSES)),
        or_(
            ExceptionCase.due_at < at,
            and_(ExceptionCase.acknowledged_at.is_(None), ExceptionCase.acknowledge_due_at < at),
        ),
    )


async def list_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    now: datetime,
    after: tuple[datetime, uuid.UUID] | None = None,
    contract_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    rules: Collection[CaseRule] = (),
    statuses: Collection[CaseStatus] = (),
    severities: Collection[CaseSeverity] = (),
    overdue: bool | None = None,
) -> Sequence[ExceptionCase]:
    """Visible cases, newest first, keyset-paginated on (opened_at, id)."""
    query = (
        select(ExceptionCase)
        .where(case_visible(scope))
        .order_by(ExceptionCase.opened_at.desc(), ExceptionCase.id.desc())
        .limit(limit)
    )
    if contract_id is not None:
        query = query.where(ExceptionCase.contract_id == contract_id)
    if person_id is not None:
        query = query.where(ExceptionCase.person_id == person_id)
    if rules:
        query = query.where(ExceptionCase.rule.in_([rule.value for rule in rules]))
    if statuses:
        query = query.where(ExceptionCase.status.in_(list(statuses)))
    if severities:
        query = query.where(ExceptionCase.severity.in_(list(severities)))
    if overdue is not None:
        condition = overdue_condition(now)
        query = query.where(condition if overdue else not_(condition))
    if after is not None:
        query = query.where(tuple_(ExceptionCase.opened_at, ExceptionCase.id) < tuple_(*after))
    return (await session.scalars(query)).all()


async def insert_case(session: AsyncSession, values: dict[str, Any]) -> uuid.UUID | None:
    """Insert a case unless its (rule, subject) exists: the id created, or None. ON CONFLICT
    DO NOTHING makes two runners detecting the same thing at once open one case."""
    statement = (
        insert(ExceptionCase)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_exception_cases_rule_subject_type_subject_id")
        .returning(ExceptionCase.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def find_case(
    session: AsyncSession,
    rule: CaseRule,
    subject_type: str,
    subject_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> ExceptionCase | None:
    """By its idempotency key, for the rules (no scope: rules act for the hub)."""
    query = select(ExceptionCase).where(
        ExceptionCase.rule == rule.value,
        ExceptionCase.subject_type == subject_type,
        ExceptionCase.subject_id == subject_id,
    )
    if for_update:
        query = query.with_for_update(of=ExceptionCase)
    return (await session.scalars(query)).one_or_none()


async def load(session: AsyncSession, case_id: uuid.UUID) -> ExceptionCase:
    case = await session.get(ExceptionCase, case_id, populate_existing=True)
    if case is None:  # pragma: no cover - the id was returned by the INSERT just before
        raise LookupError(case_id)
    return case


async def visit_cases(
    session: AsyncSession, visit_id: uuid.UUID, rules: Collection[CaseRule]
) -> Sequence[ExceptionCase]:
    """A visit's cases of these rules, locked, oldest first (for reconciliation)."""
    result = await session.scalars(
        select(ExceptionCase)
        .where(
            ExceptionCase.visit_id == visit_id,
            ExceptionCase.subject_type == "visit",
            ExceptionCase.rule.in_([rule.value for rule in rules]),
        )
        .order_by(ExceptionCase.opened_at, ExceptionCase.id)
        .with_for_update(of=ExceptionCase)
    )
    return result.all()


async def person_cases_since(
    session: AsyncSession, person_id: uuid.UUID, since: datetime, rules: Collection[CaseRule]
) -> Sequence[ExceptionCase]:
    """The person's cases of these rules opened after `since`, oldest first."""
    result = await session.scalars(
        select(ExceptionCase)
        .where(
            ExceptionCase.person_id == person_id,
            ExceptionCase.opened_at > literal(since, DateTime(timezone=True)),
            ExceptionCase.rule.in_([rule.value for rule in rules]),
        )
        .order_by(ExceptionCase.opened_at, ExceptionCase.id)
    )
    return result.all()


async def due_escalations(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[ExceptionCase]:
    """Active cases whose next rung is due, locked; rows another worker holds are skipped."""
    result = await session.scalars(
        select(ExceptionCase)
        .where(
            ExceptionCase.next_escalation_at.is_not(None),
            ExceptionCase.next_escalation_at <= literal(now, DateTime(timezone=True)),
            ExceptionCase.status.in_(list(ACTIVE_STATUSES)),
        )
        .order_by(ExceptionCase.next_escalation_at, ExceptionCase.id)
        .limit(limit)
        .with_for_update(of=ExceptionCase, skip_locked=True)
    )
    return result.all()


# --- evidence, timeline, actions ----------------------------------------------------------------


async def link_evidence(
    session: AsyncSession, case_id: uuid.UUID, event_ids: Sequence[int], relation: str
) -> None:
    if not event_ids:
        return
    statement = (
        insert(CaseEvidence)
        .values(
            [
                {"case_id": case_id, "event_id": event_id, "relation": relation}
                for event_id in dict.fromkeys(event_ids)
            ]
        )
        .on_conflict_do_nothing(constraint="uq_case_events_case_id_event_id")
    )
    await session.execute(statement)


async def has_evidence(session: AsyncSession, case_id: uuid.UUID, event_id: int) -> bool:
    """Whether the event is linked to the case (rules replaying an event check this)."""
    found = await session.scalar(
        select(CaseEvidence.case_id).where(
            CaseEvidence.case_id == case_id, CaseEvidence.event_id == event_id
        )
    )
    return found is not None


async def timelines_for(
    session: AsyncSession, scope: AccessScope, case_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, Event, str]]:
    """(case id, event, relation) for every visible case among `case_ids`: the events linked
    as evidence and the case's own `case.*` events, in event-id order per case."""
    if not case_ids:
        return []
    visible = select(ExceptionCase.id).where(ExceptionCase.id.in_(case_ids), case_visible(scope))
    linked = await session.execute(
        select(CaseEvidence.case_id, Event, CaseEvidence.relation)
        .join(Event, Event.id == CaseEvidence.event_id)
        .where(CaseEvidence.case_id.in_(visible))
    )
    own = await session.execute(
        select(Event.subject_id, Event).where(
            Event.subject_type == "exception_case", Event.subject_id.in_(visible)
        )
    )
    rows = [(case_id, event, relation) for case_id, event, relation in linked.all()]
    rows.extend((case_id, event, "lifecycle") for case_id, event in own.all())
    rows.sort(key=lambda row: (str(row[0]), row[1].id))
    return rows


async def actions_for(
    session: AsyncSession, scope: AccessScope, case_ids: Sequence[uuid.UUID]
) -> Sequence[CaseAction]:
    result = await session.scalars(
        select(CaseAction)
        .join(ExceptionCase, ExceptionCase.id == CaseAction.case_id)
        .where(CaseAction.case_id.in_(case_ids), case_visible(scope))
        .order_by(CaseAction.case_id, CaseAction.created_at, CaseAction.id)
    )
    return result.all()


async def get_action(
    session: AsyncSession, scope: AccessScope, action_id: uuid.UUID
) -> CaseAction | None:
    result = await session.scalars(
        select(CaseAction)
        .join(ExceptionCase, ExceptionCase.id == CaseAction.case_id)
        .where(CaseAction.id == action_id, case_visible(scope))
        .with_for_update(of=CaseAction)
    )
    return result.one_or_none()


async def incomplete_actions(session: AsyncSession, case_id: uuid.UUID) -> Sequence[CaseAction]:
    result = await session.scalars(
        select(CaseAction)
        .where(CaseAction.case_id == case_id, CaseAction.completed_at.is_(None))
        .order_by(CaseAction.created_at, CaseAction.id)
    )
    return result.all()


def add(
    session: AsyncSession,
    row: CaseAction | EscalationStepRow | CaseRuleSettingsRow | RuleFailure,
) -> None:
    session.add(row)


# --- per-contract policy ------------------------------------------------------------------------


async def ladder_rows(
    session: AsyncSession, contract_ids: Sequence[uuid.UUID]
) -> Sequence[EscalationStepRow]:
    if not contract_ids:
        return []
    result = await session.scalars(
        select(EscalationStepRow)
        .where(EscalationStepRow.contract_id.in_(contract_ids))
        .order_by(EscalationStepRow.contract_id, EscalationStepRow.level)
    )
    return result.all()


async def replace_ladder(
    session: AsyncSession, contract_id: uuid.UUID, rows: Sequence[EscalationStepRow]
) -> None:
    existing = await ladder_rows(session, [contract_id])
    for row in existing:
        await session.delete(row)
    await session.flush()
    session.add_all(rows)
    await session.flush()


async def rule_settings_row(
    session: AsyncSession, contract_id: uuid.UUID
) -> CaseRuleSettingsRow | None:
    result = await session.scalars(
        select(CaseRuleSettingsRow).where(CaseRuleSettingsRow.contract_id == contract_id)
    )
    return result.one_or_none()


async def contract_parties(
    session: AsyncSession, contract_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(commissioner, provider) of a contract, unscoped: rules attribute cases with it."""
    row = (
        await session.execute(
            select(Contract.commissioner_id, Contract.provider_id).where(Contract.id == contract_id)
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


# --- cursors ------------------------------------------------------------------------------------


async def lock_cursor(session: AsyncSession, name: str) -> RuleCursor | None:
    """The runner's cursor, created if new and held for this transaction; None if another
    worker holds it (that worker is running the same job right now).

    A transaction-scoped advisory lock decides who runs, without waiting: a row lock alone
    would make the second worker wait on the first one's uncommitted INSERT of a new cursor."""
    taken = await session.scalar(
        select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"governance:{name}", 0)))
    )
    if not taken:
        return None
    await session.execute(
        insert(RuleCursor).values(name=name).on_conflict_do_nothing(index_elements=["name"])
    )
    result = await session.scalars(
        select(RuleCursor)
        .where(RuleCursor.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.one()


# --- events the rules failed on -----------------------------------------------------------------


def rule_failure_visible(scope: AccessScope) -> ColumnElement[bool]:
    """Admins see every failure; a registered manager those on their provider's contracts.
    A failure whose event names no contract the hub knows is for admins only."""
    if scope.is_admin:
        return true()
    if scope.role is Role.REGISTERED_MANAGER and scope.organisation_id is not None:
        return RuleFailure.provider_id == scope.organisation_id
    return false()


async def rule_failure_for_event(session: AsyncSession, event_id: int) -> RuleFailure | None:
    result = await session.scalars(
        select(RuleFailure).where(RuleFailure.event_id == event_id).with_for_update()
    )
    return result.one_or_none()


async def due_rule_failures(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[RuleFailure]:
    """Unresolved failures whose next attempt is due, oldest event first, locked."""
    result = await session.scalars(
        select(RuleFailure)
        .where(
            RuleFailure.next_attempt_at.is_not(None),
            RuleFailure.next_attempt_at <= literal(now, DateTime(timezone=True)),
        )
        .order_by(RuleFailure.event_id)
        .limit(limit)
        .with_for_update()
    )
    return result.all()


async def unresolved_rule_failures(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count()).select_from(RuleFailure).where(RuleFailure.resolved_at.is_(None))
    )
    return int(count or 0)


async def rule_failures_page(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    unresolved_only: bool = True,
) -> Sequence[RuleFailure]:
    """Visible failures, newest first, keyset-paginated on (first_failed_at, id)."""
    query = (
        select(RuleFailure)
        .where(rule_failure_visible(scope))
        .order_by(RuleFailure.first_failed_at.desc(), RuleFailure.id.desc())
        .limit(limit)
    )
    if unresolved_only:
        query = query.where(RuleFailure.resolved_at.is_(None))
    if after is not None:
        query = query.where(tuple_(RuleFailure.first_failed_at, RuleFailure.id) < tuple_(*after))
    return (await session.scalars(query)).all()


async def events_by_id(session: AsyncSession, event_ids: Sequence[int]) -> dict[int, Event]:
    if not event_ids:
        return {}
    result = await session.scalars(select(Event).where(Event.id.in_(list(event_ids))))
    return {event.id: event for event in result.all()}


# --- visits, as the rules see them --------------------------------------------------------------


_SnapshotSelect = Select[Visit, uuid.UUID, uuid.UUID, uuid.UUID, int, int, int, int]


def _snapshot_columns() -> _SnapshotSelect:
    return (
        select(
            Visit,
            CarePackage.contract_id,
            CarePackage.provider_id,
            CarePackage.person_id,
            Contract.late_after_minutes,
            Contract.time_critical_late_after_minutes,
            Contract.missed_after_minutes,
            Contract.minimum_stay_percent,
        )
        .join(CarePackage, CarePackage.id == Visit.package_id)
        .join(Contract, Contract.id == CarePackage.contract_id)
    )


def _snapshot(row: Any) -> VisitSnapshot:
    visit, contract_id, provider_id, person_id, late, critical_late, missed, stay = row
    deadlines = visit_deadlines(
        visit.planned_start,
        time_critical=visit.time_critical,
        tolerances=VisitTolerances(
            late_after_minutes=late,
            time_critical_late_after_minutes=critical_late,
            missed_after_minutes=missed,
        ),
    )
    return VisitSnapshot(
        visit_id=visit.id,
        contract_id=contract_id,
        provider_id=provider_id,
        person_id=person_id,
        planned_start=visit.planned_start,
        planned_end=visit.planned_end,
        time_critical=visit.time_critical,
        double_handed=visit.double_handed,
        checked_in_at=visit.checked_in_at,
        checked_out_at=visit.checked_out_at,
        cancelled=visit.cancelled_at is not None,
        late_after=deadlines.late_after,
        missed_after=deadlines.missed_after,
        minimum_stay_percent=stay,
        package_id=visit.package_id,
        late_judged_at=visit.late_judged_at,
        missed_judged_at=visit.missed_judged_at,
    )


async def visit_snapshot(session: AsyncSession, visit_id: uuid.UUID) -> VisitSnapshot | None:
    """The visit as the rules judge it, read fresh (a fact may have just changed it)."""
    result = await session.execute(
        _snapshot_columns().where(Visit.id == visit_id).execution_options(populate_existing=True)
    )
    row = result.one_or_none()
    return _snapshot(row) if row is not None else None


def awaiting_judgement_query(*, now: datetime, limit: int) -> _SnapshotSelect:
    """Visits not yet judged for a threshold they have passed at `now`: unattended, not
    cancelled, started by `now`, and either past the late threshold and not judged late, or past
    the missed threshold (and, being in the index, not judged missed). Oldest first; locked,
    skipping rows a fact (or another scan) is writing right now.

    No time window: a visit is found however late it arrived, was moved, or the worker ran. The
    first four conditions are the predicate of the partial index `ix_visits_awaiting_judgement`
    word for word, so the planner reads that index, and its range `planned_start <= now` holds
    only the visits of the last missed tolerance plus the ones about to be judged.

    The row lock (FOR NO KEY UPDATE: the scan never changes a key, so it does not block foreign
    keys to the visit) orders the scan against check-ins: a check-in that commits first makes
    the visit attended, and `hub.visits.repository.mark_judged` re-checks that under the lock;
    one that waits for the scan commits after the case exists, and its event then reconciles
    the case."""
    at = literal(now, DateTime(timezone=True))
    late_after = visit_late_after()
    missed_after = visit_missed_after()
    return (
        _snapshot_columns()
        .where(
            Visit.missed_judged_at.is_(None),
            Visit.cancelled_at.is_(None),
            Visit.checked_in_at.is_(None),
            Visit.checked_out_at.is_(None),
            Visit.planned_start <= at,
            or_(and_(Visit.late_judged_at.is_(None), at > late_after), at > missed_after),
        )
        .order_by(Visit.planned_start, Visit.id)
        .limit(limit)
        .with_for_update(of=Visit, skip_locked=True, key_share=True)
    )


async def awaiting_judgement(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[VisitSnapshot]:
    result = await session.execute(awaiting_judgement_query(now=now, limit=limit))
    return [_snapshot(row) for row in result.all()]


async def plan_events(
    session: AsyncSession, visit_ids: Sequence[uuid.UUID], types: Collection[str]
) -> dict[uuid.UUID, list[int]]:
    """The ids of each visit's plan events (generated, assigned), in one query: the context a
    time-based case is opened with."""
    if not visit_ids:
        return {}
    result = await session.execute(
        select(Event.subject_id, Event.id)
        .where(
            Event.subject_type == "visit",
            Event.subject_id.in_(list(visit_ids)),
            Event.type.in_(list(types)),
        )
        .order_by(Event.subject_id, Event.id)
    )
    found: dict[uuid.UUID, list[int]] = {}
    for visit_id, event_id in result.all():
        found.setdefault(visit_id, []).append(event_id)
    return found


async def visit_events(
    session: AsyncSession, visit_id: uuid.UUID, types: Collection[str] | None = None
) -> Sequence[Event]:
    """A visit's events, oldest first (its plan, its facts), by the subject index."""
    query = (
        select(Event)
        .where(Event.subject_type == "visit", Event.subject_id == visit_id)
        .order_by(Event.id)
        .limit(200)
    )
    if types is not None:
        query = query.where(Event.type.in_(list(types)))
    return (await session.scalars(query)).all()
