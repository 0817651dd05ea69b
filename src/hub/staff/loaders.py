"""Per-request DataLoaders for staff. Each batch opens its own read session and applies the
caller's tenancy scope, so nested fields (a visit's `assignedCarers`, `node(id:)`) see exactly
what `staffMembers` lists."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from hub.db.uow import read_only
from hub.graphql.context import Info
from hub.graphql.loaders import by_id_loader
from hub.staff import repository
from hub.staff.models import Competency, StaffMember
from hub.tenancy import AccessScope


def staff_loader(info: Info) -> DataLoader[uuid.UUID, StaffMember | None]:
    """Staff members by id, visible to the caller; None for a missing or foreign id."""
    scope = AccessScope.of(info.context.require_principal())

    async def fetch(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[StaffMember]:
        return await repository.get_many(session, scope, ids)

    return by_id_loader(info.context, "staff_by_id", fetch, lambda row: row.id)


def competencies_by_staff_loader(info: Info) -> DataLoader[uuid.UUID, list[Competency]]:
    """Each staff member's competency rows (by code), one query per batch; an empty list for a
    staff member with none, or one the caller may not see."""
    context = info.context
    existing = context.loaders.get("competencies_by_staff")
    if existing is not None:
        loader: DataLoader[uuid.UUID, list[Competency]] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(staff_ids: list[uuid.UUID]) -> list[list[Competency]]:
        async with read_only(context.sessions) as session:
            rows = await repository.competencies_of(session, scope, staff_ids)
        grouped: dict[uuid.UUID, list[Competency]] = {staff_id: [] for staff_id in staff_ids}
        for row in rows:
            grouped[row.staff_id].append(row)
        return [grouped[staff_id] for staff_id in staff_ids]

    loader = DataLoader(load_fn=load)
    context.loaders["competencies_by_staff"] = loader
    return loader
