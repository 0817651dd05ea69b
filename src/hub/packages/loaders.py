"""Per-request DataLoaders for care packages. Each batch opens its own read session and applies
the caller's tenancy scope, so nested fields and `node(id:)` see exactly what `carePackages`
lists, and a page of N packages (or of N contracts) costs one statement per nested list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from hub.db.uow import read_only
from hub.graphql.context import Info
from hub.graphql.loaders import by_id_loader
from hub.packages import repository
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage, ScheduleEntry
from hub.tenancy import AccessScope


def package_loader(info: Info) -> DataLoader[uuid.UUID, CarePackage | None]:
    """Care packages by id, visible to the caller; None for a missing or foreign id."""
    scope = AccessScope.of(info.context.require_principal())

    async def fetch(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[CarePackage]:
        return await repository.get_many(session, scope, ids)

    return by_id_loader(info.context, "care_package_by_id", fetch, lambda row: row.id)


def schedule_loader(info: Info) -> DataLoader[uuid.UUID, list[ScheduleEntry]]:
    """Each package's schedule entries, by local start time; one query per batch."""
    context = info.context
    name = "care_package_schedule"
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, list[ScheduleEntry]] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(package_ids: list[uuid.UUID]) -> list[list[ScheduleEntry]]:
        async with read_only(context.sessions) as session:
            rows = await repository.schedule_entries(session, scope, package_ids)
        grouped: dict[uuid.UUID, list[ScheduleEntry]] = {key: [] for key in package_ids}
        for row in rows:
            grouped[row.package_id].append(row)
        return [grouped[key] for key in package_ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader


def packages_by_contract_loader(
    info: Info, first: int, statuses: Sequence[PackageStatus] = ()
) -> DataLoader[uuid.UUID, list[CarePackage]]:
    """The first `first` visible packages of each contract (by reference), for a contract's
    `carePackages` field: all the contracts of a page in ONE query (ROW_NUMBER per contract).
    One loader per (first, statuses), so differently-sized selections do not mix."""
    context = info.context
    wanted = tuple(sorted(set(statuses)))
    name = f"care_packages_by_contract:{first}:{','.join(wanted)}"
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, list[CarePackage]] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(contract_ids: list[uuid.UUID]) -> list[list[CarePackage]]:
        async with read_only(context.sessions) as session:
            rows = await repository.first_per_contract(
                session, scope, contract_ids, limit=first, statuses=wanted
            )
        grouped: dict[uuid.UUID, list[CarePackage]] = {key: [] for key in contract_ids}
        for row in rows:
            grouped[row.contract_id].append(row)
        return [grouped[key] for key in contract_ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader
