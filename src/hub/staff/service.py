"""Staff writes and the staff facts other domains rely on. Every write records an event in the
caller's transaction; nothing here commits.

Competencies follow the "no-assumption" rule of hub.staff.competency: a status that lets a
carer do gated tasks (evidenced, revalidated) must name its evidence, its assessor and the
assessment date, and every competency carries an expiry. Nobody has to mark a competency
expired: its effective status lapses by date (`effective_status`), here and in SQL alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Forbidden, InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.time import LONDON, Clock
from hub.organisations import service as organisations
from hub.organisations.models import OrganisationKind
from hub.staff import repository
from hub.staff.competency import (
    ASSIGNABLE_STATUSES,
    Carer,
    CompetencyRecord,
    CompetencyStatus,
    effective_status,
    validate_competence_code,
)
from hub.staff.errors import (
    DuplicateStaffExternalId,
    NotYourOrganisation,
    StaffInactive,
    StaffNotFound,
    StaffNotYetTransferred,
)
from hub.staff.models import Competency, StaffMember, StaffRole
from hub.tenancy import AccessScope

MAX_NAME_LENGTH = 100
MAX_TEXT_LENGTH = 200
MAX_REASON_LENGTH = 500


def london_today(clock: Clock) -> date:
    """The date in Europe/London now: competencies lapse at local midnight, not UTC's."""
    return clock.now().astimezone(LONDON).date()


def competency_record(row: Competency) -> CompetencyRecord:
    """The pure-rule view of a stored competency.

    The column allows a missing expiry (imports, older rows) but the rule does not: such a row
    is read as stored-expired, so it never gates in a carer and reads as expired everywhere,
    matching `repository.effective_status_sql`.
    """
    if row.expires_on is None:
        return CompetencyRecord(code=row.code, status=CompetencyStatus.EXPIRED, expires_on=date.min)
    return CompetencyRecord(code=row.code, status=row.status, expires_on=row.expires_on)


def effective_status_of(row: Competency, today: date) -> CompetencyStatus:
    """The status that counts on `today` (always through `competency.effective_status`)."""
    return effective_status(competency_record(row), today)


def display_name(staff: StaffMember) -> str:
    return f"{staff.given_name} {staff.family_name}"


# --- reads -----------------------------------------------------------------------------------


async def get_staff(session: AsyncSession, scope: AccessScope, staff_id: uuid.UUID) -> StaffMember:
    staff = await repository.get(session, scope, staff_id)
    if staff is None:
        raise StaffNotFound(f"no staff member {staff_id}")
    return staff


async def carers_for_assignment(
    session: AsyncSession, scope: AccessScope, staff_ids: Sequence[uuid.UUID], on: date
) -> list[Carer]:
    """The staff given, as `hub.staff.competency.check_assignment` reads them, for a visit on
    `on` (the visit's Europe/London date).

    Returned in the order given, duplicates kept (check_assignment reports a carer given
    twice). Each carer carries all their competency records; a record without an expiry is
    passed as stored-expired, so it refuses rather than passes. Raises, naming the staff:

    - `StaffNotFound` for ids that do not exist or the caller may not see (a foreign carer
      cannot be assigned, and is not revealed);
    - `StaffInactive` for a leaver;
    - `StaffNotYetTransferred` for a TUPE transferee whose transfer date is after `on`: until
      then they work for the incumbent.

    Competence is not judged here: call `check_assignment(VisitRequirements(visit_date=on, ...),
    carers)` with the result.
    """
    unique_ids = list(dict.fromkeys(staff_ids))
    found = {row.id: row for row in await repository.get_many(session, scope, unique_ids)}
    missing = [staff_id for staff_id in unique_ids if staff_id not in found]
    if missing:
        raise StaffNotFound(f"no staff member {', '.join(str(staff_id) for staff_id in missing)}")
    for staff_id in unique_ids:
        staff = found[staff_id]
        if not staff.active:
            raise StaffInactive(
                f"{display_name(staff)} ({staff.id}) has left employment and cannot be assigned"
            )
        if staff.tupe_transferred_on is not None and staff.tupe_transferred_on > on:
            raise StaffNotYetTransferred(
                f"{display_name(staff)} ({staff.id}) transfers under TUPE on "
                f"{staff.tupe_transferred_on.isoformat()} and cannot be assigned on "
                f"{on.isoformat()}"
            )
    records: dict[uuid.UUID, list[CompetencyRecord]] = {staff_id: [] for staff_id in unique_ids}
    for row in await repository.competencies_of(session, scope, unique_ids):
        records[row.staff_id].append(competency_record(row))
    return [
        Carer(
            staff_id=staff_id,
            display_name=display_name(found[staff_id]),
            competencies=tuple(records[staff_id]),
        )
        for staff_id in staff_ids
    ]


# --- writes ----------------------------------------------------------------------------------


async def register_staff(
    session: AsyncSession,
    scope: AccessScope,
    *,
    organisation_id: uuid.UUID | None,
    given_name: str,
    family_name: str,
    role: StaffRole,
    tupe_origin_id: uuid.UUID | None = None,
    tupe_transferred_on: date | None = None,
    external_source: str | None = None,
    external_id: str | None = None,
    actor: str,
    clock: Clock,
) -> StaffMember:
    """Register someone a provider employs.

    Office staff register for their own organisation (`organisation_id` may be left out);
    admins must say which. The employer must be a provider. A TUPE transferee names the
    organisation they transfer from (which must exist and not be the new employer) and the
    transfer date, which may be in the future: transfers are prepared during mobilisation.
    """
    _require_office_or_admin(scope, "register staff")
    employer_id = _employer_for(scope, organisation_id)
    given = _name("givenName", given_name)
    family = _name("familyName", family_name)
    employer = await organisations.get(session, employer_id)
    if employer.kind is not OrganisationKind.PROVIDER:
        raise InvalidInput(
            "organisationId",
            f"must be a provider; {employer.name} is a {employer.kind.value.replace('_', ' ')}",
            code="NOT_A_PROVIDER",
        )
    await _check_tupe(session, employer_id, tupe_origin_id, tupe_transferred_on)
    source, source_id = _external_id(external_source, external_id)
    if (
        source is not None
        and source_id is not None
        and await repository.get_by_external_id(session, source, source_id) is not None
    ):
        raise DuplicateStaffExternalId(
            f"{source} id {source_id} already belongs to another staff record"
        )
    staff = StaffMember(
        organisation_id=employer_id,
        given_name=given,
        family_name=family,
        role=role,
        active=True,
        tupe_origin_id=tupe_origin_id,
        tupe_transferred_on=tupe_transferred_on,
        external_source=source,
        external_id=source_id,
    )
    repository.add(session, staff)
    await session.flush()
    # Names stay out of the append-only log: the subject id is enough to find them.
    await _event(
        session,
        "staff.registered",
        staff,
        actor,
        clock,
        {
            "role": role.value,
            "tupeOriginId": str(tupe_origin_id) if tupe_origin_id else None,
            "tupeTransferredOn": tupe_transferred_on.isoformat() if tupe_transferred_on else None,
            "externalSource": source,
            "externalId": source_id,
        },
    )
    return staff


async def record_competency_evidence(
    session: AsyncSession,
    scope: AccessScope,
    *,
    staff_id: uuid.UUID,
    competence: str,
    status: CompetencyStatus,
    expires_on: date,
    evidence_reference: str | None = None,
    assessed_by: str | None = None,
    assessed_on: date | None = None,
    actor: str,
    clock: Clock,
) -> Competency:
    """Create or replace a staff member's record of one competence.

    The new record replaces the old one whole (the old values stay in the event's `previous`).
    Evidenced and revalidated need an evidence reference, an assessor and an assessment date:
    those statuses let a carer do gated tasks, so they cannot rest on an assumption. The
    assessment cannot be in the future and the expiry must come after it. An expiry already
    past is accepted: the record then reads as expired at once.
    """
    _require_office_or_admin(scope, "record competency evidence")
    code = validate_competence_code(competence.strip())
    staff = await repository.get(session, scope, staff_id, for_update=True)
    if staff is None:
        raise StaffNotFound(f"no staff member {staff_id}")
    if not staff.active:
        raise StaffInactive(
            f"{display_name(staff)} has left employment; their competencies are kept as they were"
        )
    evidence = _optional_text("evidenceReference", evidence_reference)
    assessor = _optional_text("assessedBy", assessed_by)
    today = london_today(clock)
    if status in ASSIGNABLE_STATUSES:
        for field, value in (
            ("evidenceReference", evidence),
            ("assessedBy", assessor),
            ("assessedOn", assessed_on),
        ):
            if value is None:
                raise InvalidInput(
                    field,
                    f"is required for a {status.value} competence: say what evidences it",
                    code="REQUIRED",
                )
    if assessed_on is not None and assessed_on > today:
        raise InvalidInput(
            "assessedOn",
            f"must not be in the future (today is {today.isoformat()})",
            code="IN_FUTURE",
        )
    if assessed_on is not None and expires_on <= assessed_on:
        raise InvalidInput(
            "expiresOn",
            f"must be after the assessment on {assessed_on.isoformat()}",
            code="EXPIRY_NOT_AFTER_ASSESSMENT",
        )
    row = await repository.get_competency(session, staff.id, code)
    previous = _competency_payload(row) if row is not None else None
    if row is None:
        row = Competency(staff_id=staff.id, code=code)
        repository.add(session, row)
    row.status = status
    row.evidence_reference = evidence
    row.assessed_by = assessor
    row.assessed_on = assessed_on
    row.expires_on = expires_on
    await session.flush()
    await _event(
        session,
        "competency.recorded",
        staff,
        actor,
        clock,
        {
            "competencyId": str(row.id),
            **_competency_payload(row),
            "effectiveStatus": effective_status_of(row, today).value,
            "previous": previous,
        },
    )
    return row


async def deactivate_staff(
    session: AsyncSession,
    scope: AccessScope,
    *,
    staff_id: uuid.UUID,
    reason: str | None = None,
    actor: str,
    clock: Clock,
) -> StaffMember:
    """Record that a staff member has left employment. The record and its competencies are
    kept (evidence for audits); a leaver can no longer be assigned or given new evidence."""
    _require_office_or_admin(scope, "deactivate staff")
    why = _optional_text("reason", reason, max_length=MAX_REASON_LENGTH)
    staff = await repository.get(session, scope, staff_id, for_update=True)
    if staff is None:
        raise StaffNotFound(f"no staff member {staff_id}")
    if not staff.active:
        raise StaffInactive(f"{display_name(staff)} has already left employment")
    staff.active = False
    await session.flush()
    await _event(session, "staff.deactivated", staff, actor, clock, {"reason": why})
    return staff


# --- helpers ---------------------------------------------------------------------------------


def _require_office_or_admin(scope: AccessScope, what: str) -> None:
    """Defence in depth behind the GraphQL permission: jobs and imports call services too."""
    if not (scope.is_office or scope.is_admin):
        raise Forbidden(f"a {scope.role.value} may not {what}")


def _employer_for(scope: AccessScope, organisation_id: uuid.UUID | None) -> uuid.UUID:
    if scope.is_admin:
        if organisation_id is None:
            raise InvalidInput(
                "organisationId", "is required: which provider employs them?", code="REQUIRED"
            )
        return organisation_id
    if scope.organisation_id is None:
        raise NotYourOrganisation("your account belongs to no organisation")
    if organisation_id is not None and organisation_id != scope.organisation_id:
        raise NotYourOrganisation("you may register staff for your own organisation only")
    return scope.organisation_id


def _name(field: str, value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidInput(field, "must not be blank", code="REQUIRED")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_NAME_LENGTH} characters", code="TOO_LONG")
    return name


def _optional_text(
    field: str, value: str | None, *, max_length: int = MAX_TEXT_LENGTH
) -> str | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters", code="TOO_LONG")
    return text


async def _check_tupe(
    session: AsyncSession,
    employer_id: uuid.UUID,
    origin_id: uuid.UUID | None,
    transferred_on: date | None,
) -> None:
    if origin_id is None:
        if transferred_on is not None:
            raise InvalidInput(
                "tupeOriginId",
                "is required with tupeTransferredOn: who do they transfer from?",
                code="REQUIRED",
            )
        return
    if origin_id == employer_id:
        raise InvalidInput(
            "tupeOriginId",
            "must differ from the employing organisation: a TUPE transfer changes employer",
            code="TUPE_ORIGIN_IS_EMPLOYER",
        )
    await organisations.get(session, origin_id)  # OrganisationNotFound when there is none
    if transferred_on is None:
        raise InvalidInput(
            "tupeTransferredOn",
            "is required with tupeOriginId: the date employment transfers",
            code="REQUIRED",
        )


def _external_id(source: str | None, value: str | None) -> tuple[str | None, str | None]:
    source = _optional_text("externalSource", source)
    value = _optional_text("externalId", value)
    if (source is None) != (value is None):
        missing = "externalSource" if source is None else "externalId"
        raise InvalidInput(
            missing,
            "is required with the other: a supplier id means nothing without its system",
            code="REQUIRED",
        )
    return source, value


def _competency_payload(row: Competency) -> dict[str, Any]:
    return {
        "competence": row.code,
        "status": row.status.value,
        "evidenceReference": row.evidence_reference,
        "assessedBy": row.assessed_by,
        "assessedOn": row.assessed_on.isoformat() if row.assessed_on else None,
        "expiresOn": row.expires_on.isoformat() if row.expires_on else None,
    }


async def _event(
    session: AsyncSession,
    type_: str,
    staff: StaffMember,
    actor: str,
    clock: Clock,
    payload: dict[str, Any],
) -> None:
    """Staff events have the staff member as subject, so one timeline shows their record."""
    await record(
        session,
        NewEvent(
            type=type_,
            subject_type="staff_member",
            subject_id=staff.id,
            organisation_id=staff.organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload=payload,
        ),
    )
