"""Applying canonical supplier records (`connectors.records.supplier`) through the owning
domains' services: staff through `hub.staff.service`, visits through `hub.visits.service` and
`hub.visits.external`, check-ins and check-outs through `hub.visits.facts`.

The connector acts for the organisation its instance serves, with an office scope of that
organisation (`AccessScope(REGISTERED_MANAGER, organisation, None)`), so tenancy holds exactly
as for a person in that office: it cannot touch another provider's packages or staff.

What each record does:

- **staff** — registered the first time (keyed by instance name + the supplier's id, which is
  also how the demo's CareRoster staff are found), competences kept in step (`evidenced` and
  `revalidated` need the date evidenced and an expiry: the hub never assumes competence), a
  leaver deactivated. Names and roles belong to the provider's office once registered.
- **packages** — linked, never created: packages come from the commissioner. A supplier
  package is matched to the provider's package by its commissioner reference, else by the NHS
  number of its person (exactly one open package).
- **visits** — matched to an unlinked hub visit of the package at the same planned start (the
  hub generated it from the schedule the supplier rosters), else planned anew (double-handed
  when two carers are rostered); then rescheduled, cancelled or (re)assigned — assignment is
  competency-gated as in the office, so a refusal rejects the record, visit and all. A visit
  the supplier leaves unstaffed keeps the hub's carers: only the office unstaffs a visit.
- **rota changes** — applied once each (assign, unassign, reschedule, cancel).
- **visit events** — a check-in or check-out fact, once each; mismatches are flagged by the
  facts service, never refused.

Every record is versioned by the supplier's `updated_at`: an update no newer than the one
applied changes nothing, so re-pulled pages and redelivered webhooks are harmless. A record
that cannot be applied raises `RecordRejected` with `{path, problem, code}` errors; the caller
applies each record in a savepoint, so a rejected record leaves nothing half-done.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from connectors.records import supplier as records
from hub.accounts.models import Role
from hub.errors import HubError, InvalidInput
from hub.integrations import repository
from hub.integrations.archive import error
from hub.integrations.models import ConnectorInstance, ExternalRef
from hub.kit.ids import uuid7
from hub.kit.time import Clock
from hub.staff import repository as staff_repository
from hub.staff import service as staff_service
from hub.staff.competency import CompetencyStatus
from hub.staff.models import StaffRole
from hub.tenancy import AccessScope
from hub.visits import external as planned_visits
from hub.visits import facts
from hub.visits import repository as visits_repository
from hub.visits import service as visits
from hub.visits.presence import Verification, VerificationMethod

STAFF_ROLES = {
    records.StaffRole.CARE_WORKER: StaffRole.CARER,
    records.StaffRole.SENIOR_CARE_WORKER: StaffRole.SENIOR_CARER,
    records.StaffRole.NURSE: StaffRole.NURSE,
    records.StaffRole.COORDINATOR: StaffRole.COORDINATOR,
    records.StaffRole.REGISTERED_MANAGER: StaffRole.REGISTERED_MANAGER,
    records.StaffRole.OTHER: StaffRole.OTHER,
}
VERIFIED_BY_SUPPLIER = (
    records.VerificationMethod.NFC,
    records.VerificationMethod.QR,
    records.VerificationMethod.TELEPHONY,
)


class RecordRejected(Exception):
    """A record that cannot be applied: `errors` are `{path, problem, code}`."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['path']}: {e['problem']}" for e in errors))
        self.errors = errors


def reject(path: str, problem: str, code: str) -> RecordRejected:
    return RecordRejected([error(path, problem, code)])


def rejection_of(failure: HubError, path: str) -> RecordRejected:
    """A domain service's refusal as a record rejection, at the record's path."""
    where = f"{path}.{failure.field}" if isinstance(failure, InvalidInput) else path
    return reject(where, failure.message, failure.code)


@dataclass(frozen=True, slots=True)
class ApplyContext:
    """Who applies supplier records, for whom, and when."""

    instance: ConnectorInstance
    clock: Clock

    @property
    def scope(self) -> AccessScope:
        return AccessScope(Role.REGISTERED_MANAGER, self.instance.organisation_id, None)

    @property
    def actor(self) -> str:
        return f"connector:{self.instance.name}"

    @property
    def source(self) -> str:
        """How facts name where they came from (contract A: `supplier:<instance>`)."""
        return f"supplier:{self.instance.name}"


async def apply_record(
    session: AsyncSession, ctx: ApplyContext, record: records.SupplierRecord, path: str
) -> str:
    """Apply one record; returns what happened (created, linked, updated, unchanged).
    Raises `RecordRejected` (domain refusals included), nothing else expected."""
    try:
        if isinstance(record, records.StaffMember):
            return await _staff(session, ctx, record, path)
        if isinstance(record, records.CarePackageSummary):
            return await _package(session, ctx, record, path)
        if isinstance(record, records.Visit):
            return await _visit(session, ctx, record, path)
        if isinstance(record, records.RotaChange):
            return await _rota_change(session, ctx, record, path)
        if isinstance(record, records.VisitEvent):
            return await _visit_event(session, ctx, record, path)
    except HubError as failure:
        raise rejection_of(failure, path) from failure
    raise TypeError(f"no way to apply {type(record).__name__}")


# --- shared ------------------------------------------------------------------------------------


async def _ref(
    session: AsyncSession, ctx: ApplyContext, entity_type: str, external_id: str
) -> ExternalRef | None:
    return await repository.external_ref(session, ctx.instance.id, entity_type, external_id)


def _link(
    session: AsyncSession,
    ctx: ApplyContext,
    entity_type: str,
    record: records.SupplierRecord,
    hub_id: uuid.UUID,
) -> ExternalRef:
    ref = ExternalRef(
        instance_id=ctx.instance.id,
        entity_type=entity_type,
        external_id=record.external_id,
        hub_id=hub_id,
        upstream_updated_at=record.source_updated_at,
    )
    repository.add(session, ref)
    return ref


def _is_stale(ref: ExternalRef, record: records.SupplierRecord) -> bool:
    return (
        ref.upstream_updated_at is not None and record.source_updated_at <= ref.upstream_updated_at
    )


async def _resolve(
    session: AsyncSession,
    ctx: ApplyContext,
    entity_type: str,
    wanted: Sequence[tuple[str, str]],
    *,
    what: str,
    feed: str,
) -> list[uuid.UUID]:
    """Hub ids of (path, external id) references, in order; unresolved ones are rejected
    together, each at its own path."""
    found = await repository.external_refs(
        session, ctx.instance.id, entity_type, {external_id for _, external_id in wanted}
    )
    missing = [
        error(
            path,
            f"{what} {external_id} is not known to the hub yet (pull {feed} first, or fix the "
            f"{what} there; retry this payload once it is applied)",
            f"UNKNOWN_{entity_type.upper()}",
        )
        for path, external_id in wanted
        if external_id not in found
    ]
    if missing:
        raise RecordRejected(missing)
    return [found[external_id] for _, external_id in wanted]


# --- staff -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CompetencyUpdate:
    code: str
    status: CompetencyStatus
    assessed_on: date | None
    expires_on: date


def _competency_updates(
    ctx: ApplyContext, record: records.StaffMember, path: str
) -> list[_CompetencyUpdate]:
    updates: list[_CompetencyUpdate] = []
    problems: list[dict[str, str]] = []
    for index, competency in enumerate(record.competencies):
        at = f"{path}.competencies[{index}]"
        status = CompetencyStatus(competency.status.value)
        if competency.expires_on is None:
            problems.append(
                error(
                    f"{at}.expires_on",
                    f"{competency.code}: the hub needs an expiry for every competence",
                    "EXPIRY_REQUIRED",
                )
            )
            continue
        if status in (CompetencyStatus.EVIDENCED, CompetencyStatus.REVALIDATED) and (
            competency.evidenced_on is None
        ):
            problems.append(
                error(
                    f"{at}.evidenced_on",
                    f"{competency.code} is {status.value}: say when it was evidenced",
                    "EVIDENCE_DATE_REQUIRED",
                )
            )
            continue
        updates.append(
            _CompetencyUpdate(
                code=competency.code,
                status=status,
                assessed_on=competency.evidenced_on,
                expires_on=competency.expires_on,
            )
        )
    if problems:
        raise RecordRejected(problems)
    return updates


async def _staff(
    session: AsyncSession, ctx: ApplyContext, record: records.StaffMember, path: str
) -> str:
    ref = await _ref(session, ctx, "staff", record.external_id)
    if ref is not None and _is_stale(ref, record):
        return "unchanged"
    updates = _competency_updates(ctx, record, path)
    if ref is not None:
        member = await staff_service.get_staff(session, ctx.scope, ref.hub_id)
        outcome = "updated"
    else:
        existing = await staff_repository.get_by_external_id(
            session, ctx.instance.name, record.external_id
        )
        if existing is not None:
            if existing.organisation_id != ctx.instance.organisation_id:
                raise reject(
                    f"{path}.id",
                    f"{record.external_id} belongs to another provider's staff record",
                    "STAFF_OF_ANOTHER_PROVIDER",
                )
            member, outcome = existing, "linked"
        elif not record.active:
            return "unchanged"  # a leaver the hub never knew: nothing to keep in step
        else:
            member = await staff_service.register_staff(
                session,
                ctx.scope,
                organisation_id=None,
                given_name=record.given_name,
                family_name=record.family_name,
                role=STAFF_ROLES[record.role],
                external_source=ctx.instance.name,
                external_id=record.external_id,
                actor=ctx.actor,
                clock=ctx.clock,
            )
            outcome = "created"
        ref = _link(session, ctx, "staff", record, member.id)
    if not member.active:
        if record.active:
            raise reject(
                f"{path}.active",
                f"{staff_service.display_name(member)} has left employment in the hub; the "
                "office must confirm before the supplier's record can change them",
                "STAFF_LEFT_IN_HUB",
            )
        ref.upstream_updated_at = record.source_updated_at
        return "unchanged"
    current = {
        row.code: row
        for row in await staff_repository.competencies_of(session, ctx.scope, [member.id])
    }
    for update in updates:
        held = current.get(update.code)
        if held is not None and (held.status, held.assessed_on, held.expires_on) == (
            update.status,
            update.assessed_on,
            update.expires_on,
        ):
            continue
        await staff_service.record_competency_evidence(
            session,
            ctx.scope,
            staff_id=member.id,
            competence=update.code,
            status=update.status,
            expires_on=update.expires_on,
            evidence_reference=f"{ctx.instance.name} staff record {record.external_id}",
            assessed_by=f"{ctx.instance.name} (supplier system)",
            assessed_on=update.assessed_on,
            actor=ctx.actor,
            clock=ctx.clock,
        )
    if not record.active:
        await staff_service.deactivate_staff(
            session,
            ctx.scope,
            staff_id=member.id,
            reason=f"left employment according to {ctx.instance.name}",
            actor=ctx.actor,
            clock=ctx.clock,
        )
    ref.upstream_updated_at = record.source_updated_at
    await session.flush()
    return outcome


# --- packages ----------------------------------------------------------------------------------


async def _package(
    session: AsyncSession, ctx: ApplyContext, record: records.CarePackageSummary, path: str
) -> str:
    ref = await _ref(session, ctx, "package", record.external_id)
    if ref is not None:
        if _is_stale(ref, record):
            return "unchanged"
        ref.upstream_updated_at = record.source_updated_at
        await session.flush()
        return "updated"
    package = None
    if record.commissioner_reference is not None:
        package = await repository.package_by_reference(
            session, ctx.scope, record.commissioner_reference
        )
    check = record.nhs_number_check
    if package is None and check is not None and check.is_valid and check.normalised:
        candidates = await repository.open_packages_of_nhs_number(
            session, ctx.scope, check.normalised, staff_service.london_today(ctx.clock)
        )
        if len(candidates) > 1:
            raise reject(
                f"{path}.nhs_number",
                "this person has more than one open package with the provider: send the "
                "commissioner reference to say which",
                "AMBIGUOUS_PACKAGE",
            )
        package = candidates[0] if candidates else None
    if package is None:
        raise reject(
            path,
            f"no care package of this provider has reference "
            f"{record.commissioner_reference or '(none sent)'} or is for NHS number "
            f"{record.nhs_number or '(none sent)'}; packages come from the commissioner, so "
            "check the reference in the supplier system",
            "UNKNOWN_PACKAGE",
        )
    if await repository.hub_id_is_mapped(session, ctx.instance.id, "package", package.id):
        raise reject(
            path,
            f"package {package.reference} is already linked to another package of "
            f"{ctx.instance.name}",
            "PACKAGE_ALREADY_LINKED",
        )
    _link(session, ctx, "package", record, package.id)
    await session.flush()
    return "linked"


# --- visits ------------------------------------------------------------------------------------


async def _visit(session: AsyncSession, ctx: ApplyContext, record: records.Visit, path: str) -> str:
    ref = await _ref(session, ctx, "visit", record.external_id)
    if ref is not None and _is_stale(ref, record):
        return "unchanged"
    (package_id,) = await _resolve(
        session,
        ctx,
        "package",
        [(f"{path}.package_id", record.package_external_id)],
        what="package",
        feed="packages",
    )
    carer_ids = await _resolve(
        session,
        ctx,
        "staff",
        [(f"{path}.carers[{i}]", carer) for i, carer in enumerate(record.carer_external_ids)],
        what="staff member",
        feed="staff",
    )
    if ref is None:
        visit_id = await repository.unlinked_visit_at(
            session, ctx.instance.id, package_id, record.planned_start
        )
        outcome = "linked"
        if visit_id is None:
            found, _ = await planned_visits.plan_visit(
                session,
                scope=ctx.scope,
                actor=ctx.actor,
                clock=ctx.clock,
                package_id=package_id,
                idempotency_key=f"{ctx.source}:{record.external_id}",
                origin=ctx.source,
                planned_start=record.planned_start,
                planned_end=record.planned_end,
                time_critical=record.time_critical,
                double_handed=len(record.carer_external_ids) > 1,
                tasks=_tasks(record.tasks),
            )
            visit_id, outcome = found.visit.id, "created"
        ref = _link(session, ctx, "visit", record, visit_id)
    else:
        visit_id, outcome = ref.hub_id, "updated"
    found = await visits.get_visit(session, ctx.scope, visit_id)
    visit = found.visit
    attended = visit.checked_in_at is not None or visit.checked_out_at is not None
    if record.status is records.VisitPlanStatus.CANCELLED:
        if visit.cancelled_at is None:
            await visits.cancel_visit(
                session,
                scope=ctx.scope,
                actor=ctx.actor,
                clock=ctx.clock,
                visit_id=visit_id,
                reason=f"cancelled in {ctx.instance.name}",
            )
    elif visit.cancelled_at is None and not attended:
        if (visit.planned_start, visit.planned_end) != (record.planned_start, record.planned_end):
            await planned_visits.reschedule_visit(
                session,
                scope=ctx.scope,
                actor=ctx.actor,
                clock=ctx.clock,
                visit_id=visit_id,
                planned_start=record.planned_start,
                planned_end=record.planned_end,
                reason=f"rescheduled in {ctx.instance.name}",
            )
        current = await visits_repository.assigned_staff_ids(session, visit_id)
        if carer_ids and set(current) != set(carer_ids):
            await visits.assign_carers(
                session,
                scope=ctx.scope,
                actor=ctx.actor,
                clock=ctx.clock,
                visit_id=visit_id,
                staff_ids=carer_ids,
            )
    ref.upstream_updated_at = record.source_updated_at
    await session.flush()
    return outcome


def _tasks(tasks: Sequence[records.VisitTask]) -> list[dict[str, Any]]:
    return [
        {"code": task.code, "description": task.description, "requires": task.requires_competency}
        for task in tasks
    ]


# --- rota changes ------------------------------------------------------------------------------


async def _rota_change(
    session: AsyncSession, ctx: ApplyContext, record: records.RotaChange, path: str
) -> str:
    if await _ref(session, ctx, "rota_change", record.external_id) is not None:
        return "unchanged"
    (visit_id,) = await _resolve(
        session,
        ctx,
        "visit",
        [(f"{path}.visit_id", record.visit_external_id)],
        what="visit",
        feed="visits",
    )
    kind = record.kind
    reason = record.reason or f"{kind.value.replace('_', ' ')} in {ctx.instance.name}"
    if kind in (records.RotaChangeKind.CARER_ASSIGNED, records.RotaChangeKind.CARER_UNASSIGNED):
        assert record.carer_external_id is not None  # the mapping requires it for these kinds
        (staff_id,) = await _resolve(
            session,
            ctx,
            "staff",
            [(f"{path}.staff_id", record.carer_external_id)],
            what="staff member",
            feed="staff",
        )
        current = await visits_repository.assigned_staff_ids(session, visit_id)
        if kind is records.RotaChangeKind.CARER_ASSIGNED:
            wanted = current if staff_id in current else [*current, staff_id]
        else:
            wanted = [member for member in current if member != staff_id]
            if not wanted and current:
                raise reject(
                    f"{path}.staff_id",
                    "this would leave the visit with no carer; the office reassigns or "
                    "cancels it in the hub",
                    "WOULD_LEAVE_VISIT_UNSTAFFED",
                )
        if wanted != current:
            await visits.assign_carers(
                session,
                scope=ctx.scope,
                actor=ctx.actor,
                clock=ctx.clock,
                visit_id=visit_id,
                staff_ids=wanted,
            )
    elif kind is records.RotaChangeKind.RESCHEDULED:
        assert record.new_planned_start is not None  # the mapping requires both
        assert record.new_planned_end is not None
        await planned_visits.reschedule_visit(
            session,
            scope=ctx.scope,
            actor=ctx.actor,
            clock=ctx.clock,
            visit_id=visit_id,
            planned_start=record.new_planned_start,
            planned_end=record.new_planned_end,
            reason=reason,
        )
    else:
        found = await visits.get_visit(session, ctx.scope, visit_id)
        if found.visit.cancelled_at is None:
            await visits.cancel_visit(
                session,
                scope=ctx.scope,
                actor=ctx.actor,
                clock=ctx.clock,
                visit_id=visit_id,
                reason=reason,
            )
    _link(session, ctx, "rota_change", record, visit_id)
    await session.flush()
    return "updated"


# --- visit events ------------------------------------------------------------------------------


def _verification(event: records.VisitEvent, instance: str) -> Verification:
    location = event.location
    coordinates: dict[str, Any] = (
        {
            "latitude": location.latitude,
            "longitude": location.longitude,
            "accuracy_m": location.accuracy_m,
        }
        if location is not None
        else {}
    )
    if event.method is records.VerificationMethod.GPS:
        return Verification(method=VerificationMethod.GPS, **coordinates)
    if event.method is records.VerificationMethod.MANUAL:
        return Verification(
            method=VerificationMethod.MANUAL,
            manual_reason=f"recorded manually in {instance}",
            **coordinates,
        )
    # NFC, QR and telephony were checked by the supplier, whose tag values the hub does not hold.
    return Verification(
        method=VerificationMethod.SUPPLIER, provider=event.method.value, **coordinates
    )


async def _visit_event(
    session: AsyncSession, ctx: ApplyContext, record: records.VisitEvent, path: str
) -> str:
    if await _ref(session, ctx, "visit_event", record.external_id) is not None:
        return "unchanged"
    (visit_id,) = await _resolve(
        session,
        ctx,
        "visit",
        [(f"{path}.visit_id", record.visit_external_id)],
        what="visit",
        feed="visits",
    )
    (staff_id,) = await _resolve(
        session,
        ctx,
        "staff",
        [(f"{path}.staff_id", record.carer_external_id)],
        what="staff member",
        feed="staff",
    )
    record_fact = (
        facts.record_check_in
        if record.kind is records.VisitEventKind.CHECK_IN
        else facts.record_check_out
    )
    fact = await record_fact(
        session,
        scope=ctx.scope,
        actor=ctx.actor,
        clock=ctx.clock,
        fact_id=uuid7(),
        visit_id=visit_id,
        staff_id=staff_id,
        occurred_at=record.occurred_at,
        device_time=record.occurred_at,
        verification=_verification(record, ctx.instance.name),
        source=ctx.source,
        received_at=ctx.clock.now(),
    )
    _link(session, ctx, "visit_event", record, fact.fact_id)
    await session.flush()
    return "created"
