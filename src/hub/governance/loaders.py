"""Per-request DataLoaders for exception cases. Each batch opens its own read session and
applies the caller's tenancy scope, so `exceptionCase(id:)`, `node(id:)` and nested fields agree
with `exceptionCases`, and a page of cases costs one statement per nested list."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from hub.db.uow import read_only
from hub.events.models import Event
from hub.governance import repository
from hub.governance.models import CaseAction, ExceptionCase
from hub.graphql.context import Info
from hub.graphql.loaders import by_id_loader
from hub.tenancy import AccessScope


def case_loader(info: Info) -> DataLoader[uuid.UUID, ExceptionCase | None]:
    """Cases by id, visible to the caller; None for a missing or foreign id."""
    scope = AccessScope.of(info.context.require_principal())

    async def fetch(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[ExceptionCase]:
        return await repository.get_many(session, scope, ids)

    return by_id_loader(info.context, "exception_case_by_id", fetch, lambda row: row.id)


def case_actions_loader(info: Info) -> DataLoader[uuid.UUID, list[CaseAction]]:
    """Each case's actions, oldest first: one query for a page of cases."""
    name = "case_actions_by_case"
    context = info.context
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, list[CaseAction]] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(ids: list[uuid.UUID]) -> list[list[CaseAction]]:
        async with read_only(context.sessions) as session:
            rows = await repository.actions_for(session, scope, ids)
        grouped: defaultdict[uuid.UUID, list[CaseAction]] = defaultdict(list)
        for row in rows:
            grouped[row.case_id].append(row)
        return [grouped.get(i, []) for i in ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader


def case_timeline_loader(info: Info) -> DataLoader[uuid.UUID, list[tuple[Event, str]]]:
    """Each case's timeline (event, relation) in log order: two queries for a page of cases."""
    name = "case_timeline_by_case"
    context = info.context
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, list[tuple[Event, str]]] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(ids: list[uuid.UUID]) -> list[list[tuple[Event, str]]]:
        async with read_only(context.sessions) as session:
            rows = await repository.timelines_for(session, scope, ids)
        grouped: defaultdict[uuid.UUID, list[tuple[Event, str]]] = defaultdict(list)
        for case_id, event, relation in rows:
            grouped[case_id].append((event, relation))
        return [grouped.get(i, []) for i in ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader
