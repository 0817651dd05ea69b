"""GraphQL face of the staff domain: permission → service → typed result.

Office staff (coordinator, registered manager) read and change their own organisation's staff;
a carer reads only their own record; admins everything. Rows are filtered by tenancy in the
repository, so a foreign staff member answers like a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from hub.accounts.models import Role
from hub.db.uow import read_only, unit_of_work
from hub.graphql.context import Info
from hub.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from hub.graphql.ids import expect_global_id
from hub.graphql.node import register_node
from hub.graphql.pagination import (
    Connection,
    build_connection,
    page_size,
    text_text_id_cursor,
)
from hub.graphql.permissions import OFFICE, STAFF, allow
from hub.graphql.writes import write_result
from hub.staff import repository, service
from hub.staff.competency import CompetencyStatus as StatusValue
from hub.staff.competency import validate_competence_code
from hub.staff.inputs import (
    DeactivateStaffMemberInput,
    RecordCompetencyEvidenceInput,
    RegisterStaffMemberInput,
    optional_organisation_id,
    staff_member_id,
)
from hub.staff.loaders import staff_loader
from hub.staff.models import StaffMember as StaffMemberRow
from hub.staff.models import StaffRole as RoleValue
from hub.staff.types import CompetencyStatus, StaffMember, StaffRole
from hub.tenancy import AccessScope

READERS = allow(*STAFF, Role.ADMIN)
WRITERS = allow(*OFFICE, Role.ADMIN)

StaffMemberResult = Annotated[
    StaffMember | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("StaffMemberResult"),
]


@strawberry.type
class StaffQuery:
    @strawberry.field(
        description="Staff visible to you, by family name, a page at a time. Office staff see "
        "their organisation's staff; a carer sees only themself. `competence` and "
        "`competencyStatus` together find who holds that competence in those statuses as it "
        "stands today (a competence past its expiry counts as EXPIRED).",
        extensions=READERS,
    )
    async def staff_members(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        competence: Annotated[
            str | None,
            strawberry.argument(
                description="Only staff with a record of this competence code (e.g. medication)."
            ),
        ] = None,
        competency_status: Annotated[
            list[CompetencyStatus] | None,
            strawberry.argument(
                description="Only staff with a competence (the one given in `competence`, else "
                "any) whose effective status today is one of these."
            ),
        ] = None,
        role: Annotated[
            list[StaffRole] | None,
            strawberry.argument(description="Only staff in these roles."),
        ] = None,
        active: Annotated[
            bool | None,
            strawberry.argument(description="Only current staff (true) or only leavers (false)."),
        ] = None,
    ) -> Connection[StaffMember]:
        limit = page_size(first)
        key = text_text_id_cursor(after)
        code = validate_competence_code(competence.strip()) if competence is not None else None
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_page(
                session,
                scope,
                today=service.london_today(info.context.clock),
                limit=limit + 1,
                after=key,
                competence=code,
                competency_statuses=[StatusValue(s.value) for s in competency_status or ()],
                roles=[RoleValue(r.value) for r in role or ()],
                active=active,
            )
        return build_connection(rows, limit, StaffMember.from_model, _sort_key)

    @strawberry.field(
        description="One staff member by id, or null if there is none you may see.",
        extensions=READERS,
    )
    async def staff_member(self, info: Info, id: strawberry.ID) -> StaffMember | None:
        return await _load(info, expect_global_id(id, "StaffMember"))


@strawberry.type
class StaffMutation:
    @strawberry.mutation(
        description="Register a staff member of a provider: office staff for their own "
        "organisation, admins for any provider. A TUPE transferee names where they come from.",
        extensions=WRITERS,
    )
    async def register_staff_member(
        self, info: Info, input: RegisterStaffMemberInput
    ) -> StaffMemberResult:
        async def run(scope: AccessScope) -> StaffMemberRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.register_staff(
                    session,
                    scope,
                    organisation_id=optional_organisation_id(
                        input.organisation_id, "organisationId"
                    ),
                    given_name=input.given_name,
                    family_name=input.family_name,
                    role=RoleValue(input.role.value),
                    tupe_origin_id=optional_organisation_id(input.tupe_origin_id, "tupeOriginId"),
                    tupe_transferred_on=input.tupe_transferred_on,
                    external_source=input.external_source,
                    external_id=input.external_id,
                    actor=info.context.actor,
                    clock=info.context.clock,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Record or replace the evidence for one competence of a staff member of "
        "your organisation. Returns the staff member with their competencies.",
        extensions=WRITERS,
    )
    async def record_competency_evidence(
        self, info: Info, input: RecordCompetencyEvidenceInput
    ) -> StaffMemberResult:
        async def run(scope: AccessScope) -> StaffMemberRow:
            staff_id = staff_member_id(input.staff_member_id)
            async with unit_of_work(info.context.sessions) as session:
                await service.record_competency_evidence(
                    session,
                    scope,
                    staff_id=staff_id,
                    competence=input.competence,
                    status=StatusValue(input.status.value),
                    expires_on=input.expires_on,
                    evidence_reference=input.evidence_reference,
                    assessed_by=input.assessed_by,
                    assessed_on=input.assessed_on,
                    actor=info.context.actor,
                    clock=info.context.clock,
                )
                return await service.get_staff(session, scope, staff_id)

        return await _write(info, run)

    @strawberry.mutation(
        description="Record that a staff member of your organisation has left employment. "
        "Their record and competencies are kept; they can no longer be assigned.",
        extensions=WRITERS,
    )
    async def deactivate_staff_member(
        self, info: Info, input: DeactivateStaffMemberInput
    ) -> StaffMemberResult:
        async def run(scope: AccessScope) -> StaffMemberRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.deactivate_staff(
                    session,
                    scope,
                    staff_id=staff_member_id(input.staff_member_id),
                    reason=input.reason,
                    actor=info.context.actor,
                    clock=info.context.clock,
                )

        return await _write(info, run)


async def _write(
    info: Info, run: Callable[[AccessScope], Awaitable[StaffMemberRow]]
) -> StaffMemberResult:
    return await write_result(info, run, StaffMember.from_model)


def _sort_key(row: StaffMemberRow) -> tuple[str, str, str]:
    return (row.family_name, row.given_name, str(row.id))


async def _load(info: Info, staff_id: uuid.UUID) -> StaffMember | None:
    row = await staff_loader(info).load(staff_id)
    return StaffMember.from_model(row) if row is not None else None


register_node("StaffMember", _load)
