"""GraphQL face of the visits domain: permission → service → typed result.

Reading: carers (only the visits assigned to them), the provider's office, the commissioner of
the contract, admins — rows filtered by tenancy in the repository. Writing: the provider's
office (coordinator, registered manager) and admins.

The `status` filter works on the derived status: `hub.visits.repository.status_condition` turns
each status into SQL over the visit's facts and its contract's tolerances at the request's
`now`, with the same precedence and boundaries as `derive_visit_status`. Filtering happens in
the query, so keyset pages stay complete and in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import strawberry

from hub.accounts.models import Role
from hub.db.uow import read_only, unit_of_work
from hub.errors import HubError, InvalidInput
from hub.graphql.context import Info
from hub.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    expected_error,
)
from hub.graphql.ids import expect_global_id
from hub.graphql.node import register_node
from hub.graphql.pagination import (
    Connection,
    build_connection,
    page_size,
    time_id_cursor,
)
from hub.graphql.permissions import OFFICE, allow
from hub.graphql.writes import write_result
from hub.kit.time import require_aware
from hub.packages.inputs import optional_id, package_id
from hub.packages.types import CarePackage
from hub.staff.competency import AssignmentRefused
from hub.tenancy import AccessScope
from hub.visits import repository, service
from hub.visits.inputs import AssignCarersInput, CancelVisitInput, GenerateVisitsInput, staff_ids
from hub.visits.inputs import visit_id as decode_visit_id
from hub.visits.loaders import request_now, visit_loader
from hub.visits.repository import VisitRecord
from hub.visits.status import VisitStatus as StatusValue
from hub.visits.types import AssignmentRefusedError, Visit, VisitGeneration, VisitStatus

READERS = (Role.CARER, *OFFICE, Role.COMMISSIONER, Role.ADMIN)
WRITERS = (*OFFICE, Role.ADMIN)

ExpectedErrors = InvalidInputError | NotFoundError | ConflictError | ForbiddenError

GenerateVisitsResult = Annotated[
    VisitGeneration | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("GenerateVisitsResult"),
]
AssignCarersResult = Annotated[
    Visit
    | AssignmentRefusedError
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | ForbiddenError,
    strawberry.union("AssignCarersResult"),
]
VisitResult = Annotated[
    Visit | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("VisitResult"),
]


@strawberry.type
class VisitQuery:
    @strawberry.field(
        description="Visits visible to you whose planned start is in [from, to), by planned "
        "start, a page at a time. Carers see only the visits assigned to them. Filter by carer, "
        "derived status (judged at the time of the request) and package.",
        extensions=allow(*READERS),
    )
    async def visits(
        self,
        info: Info,
        starts_from: Annotated[
            datetime, strawberry.argument(name="from", description="Inclusive, with offset.")
        ],
        starts_before: Annotated[
            datetime, strawberry.argument(name="to", description="Exclusive, with offset.")
        ],
        first: int | None = None,
        after: str | None = None,
        carer_id: strawberry.ID | None = None,
        status: list[VisitStatus] | None = None,
        package_id: strawberry.ID | None = None,
    ) -> Connection[Visit]:
        limit = page_size(first)
        start = _aware(starts_from, "from")
        end = _aware(starts_before, "to")
        if end <= start:
            raise InvalidInput("to", "must be after `from`", code="DATE_RANGE_REVERSED")
        key = time_id_cursor(after)
        carer = optional_id(carer_id, "StaffMember", "carerId")
        package = optional_id(package_id, "CarePackage", "packageId")
        scope = AccessScope.of(info.context.require_principal())
        now = request_now(info)
        async with read_only(info.context.sessions) as session:
            records = await repository.list_page(
                session,
                scope,
                limit=limit + 1,
                starts_from=start,
                starts_before=end,
                now=now,
                after=key,
                carer_id=carer,
                statuses=[StatusValue[s.name] for s in status or ()],
                package_id=package,
            )
        return build_connection(
            records, limit, lambda found: Visit.from_record(found, now), _sort_key
        )

    @strawberry.field(
        description="One visit by id, or null if there is none you may see.",
        extensions=allow(*READERS),
    )
    async def visit(self, info: Info, id: strawberry.ID) -> Visit | None:
        return await _load(info, expect_global_id(id, "Visit"))


@strawberry.type
class VisitMutation:
    @strawberry.mutation(
        description="Generate a planned or live package's visits for a date range from its "
        "weekly schedule (Europe/London times, stored UTC, right across the clock changes). "
        "Idempotent: says how many were created and how many already existed. Refused while the "
        "package is held out of rota conversion by its triage.",
        extensions=allow(*WRITERS),
    )
    async def generate_visits(self, info: Info, input: GenerateVisitsInput) -> GenerateVisitsResult:
        try:
            async with unit_of_work(info.context.sessions) as session:
                result = await service.generate_visits(
                    session,
                    scope=_scope(info),
                    actor=info.context.actor,
                    clock=info.context.clock,
                    package_id=package_id(input.package_id),
                    date_from=input.date_from,
                    date_to=input.date_to,
                )
        except HubError as error:
            return expected_error(error)
        now = request_now(info)
        return VisitGeneration(
            package=CarePackage.from_model(result.package),
            date_from=result.date_from,
            date_to=result.date_to,
            created=len(result.created),
            existing=result.existing,
            outside_package_dates=result.outside_package_dates,
            superseded=result.superseded,
            visits=[Visit.from_record(found, now) for found in result.created],
        )

    @strawberry.mutation(
        description="Assign carers to a visit, replacing any assigned. Competency-gated: an "
        "AssignmentRefusedError lists every reason (carer, code, message) when a carer lacks an "
        "evidenced or revalidated competence a task needs, or the number of carers is wrong.",
        extensions=allow(*WRITERS),
    )
    async def assign_carers(self, info: Info, input: AssignCarersInput) -> AssignCarersResult:
        async def run(scope: AccessScope) -> VisitRecord:
            async with unit_of_work(info.context.sessions) as session:
                return await service.assign_carers(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    visit_id=decode_visit_id(input.visit_id),
                    staff_ids=staff_ids(input.staff_ids),
                )

        try:
            return await _write(info, run)
        except AssignmentRefused as error:
            return AssignmentRefusedError.from_error(error)

    @strawberry.mutation(
        description="Cancel a visit that has not been attended; the reason is required.",
        extensions=allow(*WRITERS),
    )
    async def cancel_visit(self, info: Info, input: CancelVisitInput) -> VisitResult:
        async def run(scope: AccessScope) -> VisitRecord:
            async with unit_of_work(info.context.sessions) as session:
                return await service.cancel_visit(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    visit_id=decode_visit_id(input.visit_id),
                    reason=input.reason,
                )

        return await _write(info, run)


def _scope(info: Info) -> AccessScope:
    return AccessScope.of(info.context.require_principal())


async def _write(
    info: Info, run: Callable[[AccessScope], Awaitable[VisitRecord]]
) -> Visit | InvalidInputError | NotFoundError | ConflictError | ForbiddenError:
    """AssignmentRefused is left to the caller that has a typed member for it."""
    return await write_result(
        info,
        run,
        lambda found: Visit.from_record(found, request_now(info)),
        passthrough=(AssignmentRefused,),
    )


def _aware(value: datetime, field: str) -> datetime:
    try:
        return require_aware(value, field)
    except ValueError as exc:
        raise InvalidInput(
            field, "must carry a timezone offset (e.g. 2026-11-23T09:00:00Z)", code="NAIVE_DATETIME"
        ) from exc


def _sort_key(found: VisitRecord) -> tuple[str, str]:
    return (found.visit.planned_start.isoformat(), str(found.visit.id))


async def _load(info: Info, value: uuid.UUID) -> Visit | None:
    found = await visit_loader(info).load(value)
    return Visit.from_record(found, request_now(info)) if found is not None else None


register_node("Visit", _load)
