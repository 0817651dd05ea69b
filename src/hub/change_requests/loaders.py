"""Per-request DataLoaders for change requests. Each batch opens its own read session and applies
the caller's tenancy scope: a change request's decisions load only if the change is visible."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from hub.change_requests import repository
from hub.change_requests.models import ChangeDecision, ChangeRequest
from hub.db.uow import read_only
from hub.graphql.context import Info
from hub.graphql.loaders import by_id_loader
from hub.tenancy import AccessScope


def change_request_loader(info: Info) -> DataLoader[uuid.UUID, ChangeRequest | None]:
    """Change requests by id, visible to the caller; None for a missing or foreign id."""
    scope = AccessScope.of(info.context.require_principal())

    async def fetch(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[ChangeRequest]:
        return await repository.get_many(session, scope, ids)

    return by_id_loader(info.context, "change_request_by_id", fetch, lambda row: row.id)


def change_decisions_loader(info: Info) -> DataLoader[uuid.UUID, list[ChangeDecision]]:
    """Each change request's decisions, oldest first: one query for a whole page of changes."""
    name = "change_decisions_by_change_request"
    context = info.context
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, list[ChangeDecision]] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(ids: list[uuid.UUID]) -> list[list[ChangeDecision]]:
        async with read_only(context.sessions) as session:
            rows = await repository.decisions_for(session, scope, ids)
        grouped: dict[uuid.UUID, list[ChangeDecision]] = defaultdict(list)
        for row in rows:
            grouped[row.change_request_id].append(row)
        return [grouped.get(i, []) for i in ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader
