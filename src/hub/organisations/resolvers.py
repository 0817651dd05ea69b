from __future__ import annotations

import uuid

import strawberry
from strawberry.dataloader import DataLoader

from hub.db.uow import read_only
from hub.graphql.context import Info
from hub.graphql.ids import expect_global_id
from hub.graphql.loaders import by_id_loader
from hub.graphql.node import register_node
from hub.graphql.pagination import Connection, build_connection, page_size, text_id_cursor
from hub.graphql.permissions import EVERYONE, allow
from hub.organisations import repository
from hub.organisations.models import Organisation as OrganisationRow
from hub.organisations.models import OrganisationKind as Kind
from hub.organisations.types import Organisation, OrganisationKind


def organisation_loader(info: Info) -> DataLoader[uuid.UUID, OrganisationRow | None]:
    return by_id_loader(info.context, "organisation_by_id", repository.get_many, lambda r: r.id)


@strawberry.type
class OrganisationQuery:
    @strawberry.field(
        description="Organisations by name, a page at a time.", extensions=allow(*EVERYONE)
    )
    async def organisations(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        kind: OrganisationKind | None = None,
    ) -> Connection[Organisation]:
        limit = page_size(first)
        key = text_id_cursor(after)
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_page(
                session, limit=limit + 1, after=key, kind=Kind(kind.value) if kind else None
            )
        return build_connection(rows, limit, Organisation.from_model, _sort_key)

    @strawberry.field(
        description="One organisation by id, or null if there is none.", extensions=allow(*EVERYONE)
    )
    async def organisation(self, info: Info, id: strawberry.ID) -> Organisation | None:
        organisation_id = expect_global_id(id, "Organisation")
        row: OrganisationRow | None = await organisation_loader(info).load(organisation_id)
        return Organisation.from_model(row) if row else None


def _sort_key(row: OrganisationRow) -> tuple[str, str]:
    return (row.name, str(row.id))


async def _load_organisation(info: Info, organisation_id: uuid.UUID) -> Organisation | None:
    row: OrganisationRow | None = await organisation_loader(info).load(organisation_id)
    return Organisation.from_model(row) if row else None


register_node("Organisation", _load_organisation)
