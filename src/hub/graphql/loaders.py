"""Per-request DataLoaders. Each batch opens its own read session: loaders for sibling fields
run concurrently and must not share one."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from hub.db.uow import read_only
from hub.graphql.context import Context

RowT = TypeVar("RowT")


def by_id_loader(
    context: Context,
    name: str,
    fetch: Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[Sequence[RowT]]],
    key: Callable[[RowT], uuid.UUID],
) -> DataLoader[uuid.UUID, RowT | None]:
    """The request's loader called `name`, created on first use: rows by id, None if absent."""
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, RowT | None] = existing
        return loader

    async def load(ids: list[uuid.UUID]) -> list[RowT | None]:
        async with read_only(context.sessions) as session:
            rows = await fetch(session, ids)
        found = {key(row): row for row in rows}
        return [found.get(i) for i in ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader
