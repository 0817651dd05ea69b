"""Who read a person's record: the access log, for admins and registered managers."""

from __future__ import annotations

import strawberry

from hub.accounts.models import Role
from hub.audit import repository
from hub.audit.models import AccessLogEntry as AccessLogRow
from hub.audit.types import AccessLogEntry
from hub.db.uow import read_only
from hub.graphql.context import Info
from hub.graphql.ids import expect_global_id
from hub.graphql.pagination import Connection, build_connection, decode_cursor, page_size
from hub.graphql.permissions import allow
from hub.tenancy import AccessScope


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Every recorded read of this person's data, newest first: reads of their "
        "record, and reads of referrals, inbound payloads and portal import rows that carried "
        "their NHS number. Empty when the person does not exist or is not visible to you.",
        extensions=allow(Role.ADMIN, Role.REGISTERED_MANAGER),
    )
    async def access_log(
        self,
        info: Info,
        person_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AccessLogEntry]:
        limit = page_size(first)
        person = expect_global_id(person_id, "Person", field="personId")
        cursor = decode_cursor(after)
        before_id = int(cursor[0]) if cursor else None
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            visible, nhs_number = await repository.visible_person_nhs_number(session, scope, person)
            rows = (
                await repository.for_person(
                    session, person, limit=limit + 1, before_id=before_id, nhs_number=nhs_number
                )
                if visible
                else []
            )
        return build_connection(rows, limit, AccessLogEntry.from_model, _sort_key)


def _sort_key(row: AccessLogRow) -> tuple[int]:
    return (row.id,)
