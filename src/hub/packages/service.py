"""Care package writes: creation, the status machine, the weekly schedule, mobilisation triage,
the triage hold and transfers from an incumbent provider.

Every function takes the caller's session (it never commits), the caller's `AccessScope` (a
package outside it answers like a missing one), the actor for the event log and a `Clock`, and
records one event per change in the same transaction.

Triage is kept current: once a package has been triaged, a schedule replacement or a transfer
re-runs it, because both change the facts the rating rests on (time-critical and double-handed
counts, the transfer flag). A re-triage that is still red holds the package again: a release
validates one triage, and new facts need a new validation.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts.models import Contract
from hub.errors import InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.ids import uuid7
from hub.kit.time import Clock
from hub.organisations.models import OrganisationKind
from hub.packages import repository
from hub.packages.errors import (
    DuplicatePackageReference,
    HoldReleaseNotAllowed,
    IncumbentNotFound,
    NotHeldOutOfRota,
    PackageContractNotFound,
    PackageEnded,
    PackageNotFound,
    PackagePersonNotFound,
    ScheduleRequired,
)
from hub.packages.lifecycle import PackageStatus, check_package_transition
from hub.packages.models import CarePackage, ScheduleEntry
from hub.packages.triage import InformationGap, TriageInput, TriageResult, triage_package
from hub.people.models import Person
from hub.staff.competency import KnownCompetence
from hub.tenancy import AccessScope

MIN_DURATION_MINUTES = 5
MAX_DURATION_MINUTES = 1440
MAX_REASON_LENGTH = 2000
MAX_ENTRIES = 50
MAX_TASKS_PER_ENTRY = 30

_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")
_TASK_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_KNOWN_COMPETENCES = tuple(member.value for member in KnownCompetence)

# Moves that stop care: the log must say why (a hospital admission, a declined referral).
_REASON_REQUIRED = frozenset({PackageStatus.SUSPENDED, PackageStatus.ENDED})


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A task planned at every occurrence of a schedule entry, and the competence it needs."""

    code: str
    description: str
    requires: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleEntrySpec:
    """One line of a weekly schedule as given: ISO weekdays (1 = Monday), a Europe/London
    wall-clock start, a duration in minutes, the flags and the tasks."""

    weekdays: tuple[int, ...]
    start_time: time
    duration_minutes: int
    time_critical: bool = False
    double_handed: bool = False
    tasks: tuple[TaskSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """What `set_schedule` did: entries kept as they were (their ids, and so the keys of the
    visits generated from them, are unchanged), added and removed."""

    package: CarePackage
    entries: tuple[ScheduleEntry, ...]
    kept: int
    added: int
    removed: int


# ---------------------------------------------------------------------------------------------
# Lookups


async def get_package(
    session: AsyncSession, scope: AccessScope, package_id: uuid.UUID, *, for_update: bool = False
) -> CarePackage:
    """The package if the caller may see it, else `PackageNotFound` (same answer for both)."""
    package = await repository.get(session, scope, package_id, for_update=for_update)
    if package is None:
        raise PackageNotFound(f"no care package {package_id}")
    return package


def _ensure_open(package: CarePackage, action: str) -> None:
    if package.status is PackageStatus.ENDED:
        raise PackageEnded(f"package {package.reference} has ended; its {action} cannot change")


# ---------------------------------------------------------------------------------------------
# Creation


def _validate_reference(reference: str | None) -> str:
    if reference is None or not reference.strip():
        # UUIDv7's trailing bits are random: unique enough for a reference people can read out.
        return f"PKG-{uuid7().hex[-10:].upper()}"
    value = reference.strip()
    if not _REFERENCE.match(value):
        raise InvalidInput(
            "reference",
            "must be 1 to 40 letters, digits or . _ / - and start with a letter or digit",
            code="INVALID_REFERENCE",
        )
    return value


def _check_dates(contract: Contract, starts_on: date, ends_on: date | None) -> None:
    window = f"{contract.starts_on.isoformat()} to " + (
        contract.ends_on.isoformat() if contract.ends_on else "open-ended"
    )
    if starts_on < contract.starts_on or (
        contract.ends_on is not None and starts_on > contract.ends_on
    ):
        raise InvalidInput(
            "startsOn",
            f"{starts_on.isoformat()} is outside contract {contract.reference} ({window})",
            code="OUTSIDE_CONTRACT",
        )
    if ends_on is None:
        return
    if ends_on < starts_on:
        raise InvalidInput(
            "endsOn",
            f"{ends_on.isoformat()} is before startsOn {starts_on.isoformat()}",
            code="DATES_REVERSED",
        )
    if contract.ends_on is not None and ends_on > contract.ends_on:
        raise InvalidInput(
            "endsOn",
            f"{ends_on.isoformat()} is after contract {contract.reference} ends "
            f"({contract.ends_on.isoformat()})",
            code="OUTSIDE_CONTRACT",
        )


async def create_package(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    person_id: uuid.UUID,
    contract_id: uuid.UUID,
    starts_on: date,
    provider_id: uuid.UUID | None = None,
    ends_on: date | None = None,
    reference: str | None = None,
) -> CarePackage:
    """Create a package in status *referred* for a person under a contract.

    The provider is the contract's provider (given or not: a different one is refused), and the
    package's dates must fall within the contract's.
    """
    contract = await repository.visible_contract(session, scope, contract_id)
    if contract is None:
        raise PackageContractNotFound(f"no contract {contract_id}")
    if provider_id is not None and provider_id != contract.provider_id:
        raise InvalidInput(
            "providerId",
            f"contract {contract.reference} is delivered by another provider; a package is "
            "always delivered by its contract's provider",
            code="PROVIDER_NOT_ON_CONTRACT",
        )
    person = await repository.attachable_person(session, scope, person_id)
    if person is None:
        raise PackagePersonNotFound(f"no person {person_id}")
    _check_dates(contract, starts_on, ends_on)
    ref = _validate_reference(reference)
    if await repository.reference_taken(session, ref):
        raise DuplicatePackageReference(f"another care package already has reference {ref}")
    package = CarePackage(
        reference=ref,
        person_id=person.id,
        contract_id=contract.id,
        provider_id=contract.provider_id,
        status=PackageStatus.REFERRED,
        starts_on=starts_on,
        ends_on=ends_on,
        rag=None,
        rag_reasons=[],
        held_out_of_rota=False,
        information_gaps=[],
    )
    repository.add(session, package)
    await session.flush()
    await _record(
        session,
        package,
        "package.created",
        actor,
        clock,
        {
            "reference": ref,
            "status": package.status.value,
            "startsOn": starts_on.isoformat(),
            "endsOn": ends_on.isoformat() if ends_on else None,
        },
    )
    return package


# ---------------------------------------------------------------------------------------------
# Status machine


def _reason(reason: str | None, *, required: bool, what: str) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise InvalidInput("reason", f"say why {what}", code="REASON_REQUIRED")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(
            "reason", f"must be at most {MAX_REASON_LENGTH} characters", code="TOO_LONG"
        )
    return text or None


async def change_status(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    package_id: uuid.UUID,
    target: PackageStatus,
    reason: str | None = None,
) -> CarePackage:
    """Move a package along one arrow of the status machine (`hub.packages.lifecycle`).

    Suspending and ending need a reason. Planning needs a weekly schedule: a package is planned
    once its visit times are agreed.
    """
    package = await get_package(session, scope, package_id, for_update=True)
    current = package.status
    check_package_transition(current, target)
    why = _reason(
        reason,
        required=target in _REASON_REQUIRED,
        what=f"package {package.reference} is moving to {target}",
    )
    if target is PackageStatus.PLANNED and not await repository.entries_of(session, package.id):
        raise ScheduleRequired(
            f"package {package.reference} has no weekly schedule; set its visit times "
            "(setPackageSchedule) before planning it"
        )
    package.status = target
    await session.flush()
    await _record(
        session,
        package,
        "package.status_changed",
        actor,
        clock,
        {"from": current.value, "to": target.value, "reason": why},
    )
    return package


# ---------------------------------------------------------------------------------------------
# Weekly schedule


def _validate_task(task: TaskSpec, path: str) -> dict[str, Any]:
    code = task.code.strip()
    if not _TASK_CODE.match(code):
        raise InvalidInput(
            f"{path}.code",
            f"{task.code!r} is not a task code (lower case letters, digits and underscores, "
            "e.g. administer_medication)",
            code="INVALID_TASK_CODE",
        )
    description = task.description.strip()
    if not description:
        raise InvalidInput(f"{path}.description", "must not be blank", code="REQUIRED")
    if len(description) > 200:
        raise InvalidInput(f"{path}.description", "must be at most 200 characters", code="TOO_LONG")
    requires = task.requires.strip() if task.requires is not None else None
    if requires == "":
        requires = None
    if requires is not None and requires not in _KNOWN_COMPETENCES:
        raise InvalidInput(
            f"{path}.requires",
            f"{requires!r} is not a known competence; use one of {', '.join(_KNOWN_COMPETENCES)}",
            code="UNKNOWN_COMPETENCE",
        )
    return {"code": code, "description": description, "requires": requires}


def _validate_entry(spec: ScheduleEntrySpec, path: str) -> dict[str, Any]:
    if not spec.weekdays:
        raise InvalidInput(f"{path}.weekdays", "choose at least one day", code="NO_WEEKDAYS")
    for day in spec.weekdays:
        if not 1 <= day <= 7:
            raise InvalidInput(
                f"{path}.weekdays",
                f"{day} is not a day of the week (1 = Monday … 7 = Sunday)",
                code="INVALID_WEEKDAY",
            )
    if len(set(spec.weekdays)) != len(spec.weekdays):
        raise InvalidInput(
            f"{path}.weekdays", "a day is given more than once", code="DUPLICATE_WEEKDAY"
        )
    if spec.start_time.tzinfo is not None:
        raise InvalidInput(
            f"{path}.startTime",
            "must be a wall-clock time without an offset; schedules are in Europe/London",
            code="OFFSET_NOT_ALLOWED",
        )
    if not MIN_DURATION_MINUTES <= spec.duration_minutes <= MAX_DURATION_MINUTES:
        raise InvalidInput(
            f"{path}.durationMinutes",
            f"{spec.duration_minutes} is outside {MIN_DURATION_MINUTES} to "
            f"{MAX_DURATION_MINUTES} minutes",
            code="DURATION_OUT_OF_RANGE",
        )
    if len(spec.tasks) > MAX_TASKS_PER_ENTRY:
        raise InvalidInput(
            f"{path}.tasks", f"at most {MAX_TASKS_PER_ENTRY} tasks per visit", code="TOO_MANY"
        )
    tasks = [_validate_task(task, f"{path}.tasks[{i}]") for i, task in enumerate(spec.tasks)]
    task_codes = Counter(task["code"] for task in tasks)
    repeated = sorted(code for code, count in task_codes.items() if count > 1)
    if repeated:
        raise InvalidInput(
            f"{path}.tasks",
            f"task {', '.join(repeated)} is listed more than once",
            code="DUPLICATE_TASK",
        )
    return {
        "weekdays": sorted(spec.weekdays),
        "start_time": spec.start_time.replace(microsecond=0),
        "duration_minutes": spec.duration_minutes,
        "time_critical": spec.time_critical,
        "double_handed": spec.double_handed,
        "tasks": tasks,
    }


def _signature(values: dict[str, Any]) -> tuple[Any, ...]:
    tasks = tuple(
        (task.get("code"), task.get("description"), task.get("requires"))
        for task in values["tasks"]
    )
    return (
        tuple(sorted(values["weekdays"])),
        values["start_time"],
        values["duration_minutes"],
        values["time_critical"],
        values["double_handed"],
        tasks,
    )


def _entry_values(entry: ScheduleEntry) -> dict[str, Any]:
    return {
        "weekdays": list(entry.weekdays),
        "start_time": entry.start_time,
        "duration_minutes": entry.duration_minutes,
        "time_critical": entry.time_critical,
        "double_handed": entry.double_handed,
        "tasks": list(entry.tasks),
    }


async def set_schedule(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    package_id: uuid.UUID,
    entries: Sequence[ScheduleEntrySpec],
) -> ScheduleChange:
    """Replace the package's weekly schedule with `entries`.

    An entry identical to an existing one keeps that entry's id, so visits already generated
    from it keep matching their idempotency keys and regenerating a range creates nothing new.
    Changed or removed entries are deleted; the visits they generated lose their entry link and
    are dealt with by the next generation over their dates (see hub.visits.service).
    A planned or live package must keep at least one entry.
    """
    package = await get_package(session, scope, package_id, for_update=True)
    _ensure_open(package, "schedule")
    if len(entries) > MAX_ENTRIES:
        raise InvalidInput("entries", f"at most {MAX_ENTRIES} entries", code="TOO_MANY")
    wanted = [_validate_entry(spec, f"entries[{i}]") for i, spec in enumerate(entries)]
    seen: dict[tuple[Any, ...], int] = {}
    for i, values in enumerate(wanted):
        first = seen.setdefault(_signature(values), i)
        if first != i:
            raise InvalidInput(
                f"entries[{i}]",
                f"is the same as entries[{first}]; a second carer is `doubleHanded`, not a "
                "second entry",
                code="DUPLICATE_ENTRY",
            )
    if not wanted and package.status in (PackageStatus.PLANNED, PackageStatus.LIVE):
        raise ScheduleRequired(
            f"package {package.reference} is {package.status}; it needs at least one schedule "
            "entry (suspend or end the package instead of emptying its schedule)"
        )
    existing = list(await repository.entries_of(session, package.id))
    unmatched = {entry.id: entry for entry in existing}
    by_signature: dict[tuple[Any, ...], list[ScheduleEntry]] = {}
    for entry in existing:
        by_signature.setdefault(_signature(_entry_values(entry)), []).append(entry)
    result: list[ScheduleEntry] = []
    added = 0
    for values in wanted:
        same = by_signature.get(_signature(values))
        if same:
            kept_entry = same.pop(0)
            del unmatched[kept_entry.id]
            result.append(kept_entry)
            continue
        entry = ScheduleEntry(package_id=package.id, **values)
        repository.add_entry(session, entry)
        result.append(entry)
        added += 1
    await repository.delete_entries(session, unmatched.keys())
    await session.flush()
    change = ScheduleChange(
        package=package,
        entries=tuple(sorted(result, key=lambda e: (e.start_time, str(e.id)))),
        kept=len(result) - added,
        added=added,
        removed=len(unmatched),
    )
    await _record(
        session,
        package,
        "package.schedule_set",
        actor,
        clock,
        {
            "entries": len(result),
            "kept": change.kept,
            "added": change.added,
            "removed": change.removed,
            "visitsPerWeek": sum(len(e.weekdays) for e in result),
            "timeCriticalVisitsPerWeek": _per_week(result, time_critical=True),
            "doubleHandedVisitsPerWeek": _per_week(result, double_handed=True),
        },
    )
    if package.rag is not None and (change.added or change.removed):
        await _apply_triage(session, package, actor=actor, clock=clock, entries=result)
    return change


def _per_week(
    entries: Sequence[ScheduleEntry], *, time_critical: bool = False, double_handed: bool = False
) -> int:
    return sum(
        len(entry.weekdays)
        for entry in entries
        if (time_critical and entry.time_critical) or (double_handed and entry.double_handed)
    )


# ---------------------------------------------------------------------------------------------
# Triage


def triage_facts(
    person: Person,
    entries: Sequence[ScheduleEntry],
    information_gaps: Sequence[InformationGap],
    *,
    transferred: bool,
) -> TriageInput:
    """What triage looks at: the person's flags, the weekly schedule's counts, the recorded
    information gaps and whether the package came from an incumbent."""
    return TriageInput(
        time_critical_visits_per_week=_per_week(entries, time_critical=True),
        medication_support=person.medication_support,
        falls_risk=person.falls_risk,
        safeguarding_history=person.safeguarding_history,
        double_handed_visits_per_week=_per_week(entries, double_handed=True),
        lives_alone=person.lives_alone,
        information_gaps=frozenset(information_gaps),
        transferred_from_incumbent=transferred,
    )


async def _apply_triage(
    session: AsyncSession,
    package: CarePackage,
    *,
    actor: str,
    clock: Clock,
    entries: Sequence[ScheduleEntry] | None = None,
) -> TriageResult:
    person = await repository.person_of(session, package)
    if entries is None:
        entries = await repository.entries_of(session, package.id)
    gaps = [InformationGap(gap) for gap in package.information_gaps]
    result = triage_package(
        triage_facts(person, entries, gaps, transferred=package.incumbent_provider_id is not None)
    )
    previous = package.rag
    package.rag = result.rating
    package.rag_reasons = [
        {"code": reason.code, "rating": reason.rating.value, "sentence": reason.sentence}
        for reason in result.reasons
    ]
    package.held_out_of_rota = result.held_out_of_rota_conversion
    await session.flush()
    await _record(
        session,
        package,
        "package.triaged",
        actor,
        clock,
        {
            "rag": result.rating.value,
            "previousRag": previous.value if previous else None,
            "reasons": list(package.rag_reasons),
            "heldOutOfRota": package.held_out_of_rota,
            "informationGaps": [gap.value for gap in InformationGap if gap in gaps],
        },
    )
    return result


async def triage(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    package_id: uuid.UUID,
    information_gaps: Sequence[InformationGap] | None = None,
) -> CarePackage:
    """Rate the package Red/Amber/Green with the reasons, and hold a red one out of rota
    conversion (seed 001). `information_gaps`, when given, replaces the recorded gaps first."""
    package = await get_package(session, scope, package_id, for_update=True)
    _ensure_open(package, "triage")
    if information_gaps is not None:
        chosen = set(information_gaps)
        package.information_gaps = [gap.value for gap in InformationGap if gap in chosen]
    await _apply_triage(session, package, actor=actor, clock=clock)
    return package


async def release_hold(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    package_id: uuid.UUID,
    reason: str,
) -> CarePackage:
    """Validate a red package so it may be converted into rota runs: clears the hold.

    Only a coordinator or registered manager of the provider (or an admin acting for the hub)
    validates, and says how the red reasons were checked (the triage log's validation action).
    The rating and its reasons stay: the package is still red, now with a named control.
    """
    if not (scope.is_office or scope.is_admin):
        raise HoldReleaseNotAllowed(
            "only a coordinator or registered manager may validate a red package"
        )
    package = await get_package(session, scope, package_id, for_update=True)
    _ensure_open(package, "triage hold")
    if not package.held_out_of_rota:
        raise NotHeldOutOfRota(
            f"package {package.reference} is not held out of rota conversion"
            + (f" (rated {package.rag})" if package.rag else " (not triaged yet)")
        )
    why = _reason(reason, required=True, what="the hold is released (how was it validated?)")
    package.held_out_of_rota = False
    await session.flush()
    await _record(
        session,
        package,
        "package.hold_released",
        actor,
        clock,
        {
            "reason": why,
            "rag": package.rag.value if package.rag else None,
            "reasons": [reason["code"] for reason in package.rag_reasons],
        },
    )
    return package


# ---------------------------------------------------------------------------------------------
# Transfer from an incumbent provider


async def record_transfer(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    package_id: uuid.UUID,
    incumbent_provider_id: uuid.UUID,
    transferred_on: date,
    note: str | None = None,
) -> CarePackage:
    """Record that the package transferred from an incumbent provider on a date.

    The event carries the TUPE context: how many of the provider's active staff came from the
    same incumbent, the workforce whose competence records seed 001 says to check first. A
    triaged package is re-triaged, since a transfer with information gaps is red.
    """
    package = await get_package(session, scope, package_id, for_update=True)
    _ensure_open(package, "transfer")
    incumbent = await repository.organisation(session, incumbent_provider_id)
    if incumbent is None:
        raise IncumbentNotFound(f"no organisation {incumbent_provider_id}")
    if incumbent.kind is not OrganisationKind.PROVIDER:
        raise InvalidInput(
            "incumbentProviderId",
            f"{incumbent.name} is a {incumbent.kind.value.replace('_', ' ')}, not a care provider",
            code="NOT_A_PROVIDER",
        )
    if incumbent.id == package.provider_id:
        raise InvalidInput(
            "incumbentProviderId",
            "is this package's own provider; a transfer comes from another provider",
            code="SAME_PROVIDER",
        )
    contract = await repository.contract_of(session, package)
    if transferred_on < contract.starts_on or (
        contract.ends_on is not None and transferred_on > contract.ends_on
    ):
        raise InvalidInput(
            "transferredOn",
            f"{transferred_on.isoformat()} is outside contract {contract.reference}",
            code="OUTSIDE_CONTRACT",
        )
    remark = _reason(note, required=False, what="")
    previous = package.incumbent_provider_id
    package.incumbent_provider_id = incumbent.id
    package.transferred_on = transferred_on
    await session.flush()
    await _record(
        session,
        package,
        "package.transfer_recorded",
        actor,
        clock,
        {
            "incumbentProviderId": str(incumbent.id),
            "incumbentProviderName": incumbent.name,
            "previousIncumbentProviderId": str(previous) if previous else None,
            "transferredOn": transferred_on.isoformat(),
            "tupeStaffFromIncumbent": await repository.tupe_staff_count(
                session, package.provider_id, incumbent.id
            ),
            "note": remark,
        },
    )
    if package.rag is not None:
        await _apply_triage(session, package, actor=actor, clock=clock)
    return package


# ---------------------------------------------------------------------------------------------


async def _record(
    session: AsyncSession,
    package: CarePackage,
    event_type: str,
    actor: str,
    clock: Clock,
    payload: dict[str, Any],
) -> None:
    await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="care_package",
            subject_id=package.id,
            organisation_id=package.provider_id,
            contract_id=package.contract_id,
            person_id=package.person_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={"reference": package.reference, **payload},
        ),
    )
