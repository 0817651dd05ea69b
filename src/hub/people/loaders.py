"""Per-request DataLoaders for people. Each batch opens its own read session and applies the
caller's tenancy scope, so nested `person` fields, `node(id:)` and `people` agree on who is
visible.

For other domains (packages, visits, referrals) resolving a `person` field:

    from hub.people.loaders import resolve_person
    return await resolve_person(info, row.person_id)      # loads, maps, records the read

or, to batch by hand, `person_loader(info)` (ORM rows, None for a missing or foreign id) with
`person_type(row)`, recording `info.context.audit.person_read(<fieldName>, ids)` yourself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from hub.db.uow import read_only
from hub.graphql.context import Info
from hub.graphql.loaders import by_id_loader
from hub.people import repository, service, types
from hub.people.models import Person
from hub.tenancy import AccessScope

_ACCESS_OPEN = "person_access_open"


def person_loader(info: Info) -> DataLoader[uuid.UUID, Person | None]:
    """People (ORM rows) by id, as the caller may see them; None for a missing or foreign id."""
    scope = AccessScope.of(info.context.require_principal())

    async def fetch(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[Person]:
        return await repository.get_many(session, scope, ids)

    return by_id_loader(info.context, "person_by_id", fetch, lambda row: row.id)


def person_type(row: Person) -> types.Person:
    """The GraphQL `Person` for a row. Does not record the read: the caller does."""
    return types.Person.from_model(row)


async def resolve_person(info: Info, person_id: uuid.UUID | None) -> types.Person | None:
    """A `person` field's value: loaded through the tenancy-filtered loader, and the read
    recorded in the access log under the field's name."""
    if person_id is None:
        return None
    row = await person_loader(info).load(person_id)
    if row is None:
        return None
    info.context.audit.person_read(info.field_name, [row.id])
    return person_type(row)


def access_open_loader(info: Info) -> DataLoader[uuid.UUID, bool]:
    """Whether the caller may read each person's access details and key-safe code right now
    (`service.people_with_access_open`), batched over the people in the response."""
    context = info.context
    existing = context.loaders.get(_ACCESS_OPEN)
    if existing is not None:
        loader: DataLoader[uuid.UUID, bool] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(ids: list[uuid.UUID]) -> list[bool]:
        async with read_only(context.sessions) as session:
            allowed = await service.people_with_access_open(
                session, scope, ids, context.clock.now()
            )
        return [i in allowed for i in ids]

    loader = DataLoader(load_fn=load)
    context.loaders[_ACCESS_OPEN] = loader
    return loader
