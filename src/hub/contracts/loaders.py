"""Per-request DataLoaders for contracts. Each batch opens its own read session and applies the
caller's tenancy scope, so nested `contract` fields, `node(id:)` and `contracts` agree.

For other domains resolving a `contract` field:

    from hub.contracts.loaders import contract_loader, contract_type
    row = await contract_loader(info).load(package.contract_id)   # ORM row or None
    return contract_type(row) if row else None
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from hub.contracts import repository, types
from hub.contracts.models import Contract, KpiDefinition, ResolutionOutcome
from hub.db.uow import read_only
from hub.graphql.context import Info
from hub.graphql.loaders import by_id_loader
from hub.tenancy import AccessScope

ChildT = TypeVar("ChildT", ResolutionOutcome, KpiDefinition)


def contract_loader(info: Info) -> DataLoader[uuid.UUID, Contract | None]:
    """Contracts (ORM rows) by id, as the caller may see them; None for a missing or foreign id."""
    scope = AccessScope.of(info.context.require_principal())

    async def fetch(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[Contract]:
        return await repository.get_many(session, scope, ids)

    return by_id_loader(info.context, "contract_by_id", fetch, lambda row: row.id)


def contract_type(row: Contract) -> types.Contract:
    """The GraphQL `Contract` for a row."""
    return types.Contract.from_model(row)


def outcomes_loader(info: Info) -> DataLoader[uuid.UUID, list[ResolutionOutcome]]:
    """Each visible contract's resolution outcomes, by contract id."""
    return _children_loader(info, "contract_outcomes", repository.outcomes_for)


def kpis_loader(info: Info) -> DataLoader[uuid.UUID, list[KpiDefinition]]:
    """Each visible contract's KPI definitions, by contract id."""
    return _children_loader(info, "contract_kpis", repository.kpis_for)


def _children_loader(
    info: Info,
    name: str,
    fetch: Callable[[AsyncSession, AccessScope, Sequence[uuid.UUID]], Awaitable[Sequence[ChildT]]],
) -> DataLoader[uuid.UUID, list[ChildT]]:
    context = info.context
    existing = context.loaders.get(name)
    if existing is not None:
        found: DataLoader[uuid.UUID, list[ChildT]] = existing
        return found
    scope = AccessScope.of(context.require_principal())

    async def load(ids: list[uuid.UUID]) -> list[list[ChildT]]:
        async with read_only(context.sessions) as session:
            rows = await fetch(session, scope, ids)
        grouped: defaultdict[uuid.UUID, list[ChildT]] = defaultdict(list)
        for row in rows:
            grouped[row.contract_id].append(row)
        return [grouped.get(i, []) for i in ids]

    loader: DataLoader[uuid.UUID, list[ChildT]] = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader
