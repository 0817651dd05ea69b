"""Per-request DataLoaders for visits. Each batch opens its own read session and applies the
caller's tenancy scope (a carer sees only the visits assigned to them), so nested fields and
`node(id:)` agree with `visits`, and a page costs one statement per nested list:

    carePackages { nextVisits { assignedCarers { competencies } } }
      packages: 1   next visits: 1 (ROW_NUMBER per package)   carers: 1   competencies: 1
"""

from __future__ import annotations

import uuid
from datetime import datetime

from strawberry.dataloader import DataLoader

from hub.db.uow import read_only
from hub.graphql.context import Info
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from hub.visits import repository
from hub.visits.models import VisitFact
from hub.visits.repository import VisitRecord

_NOW = "visits:now"


def request_now(info: Info) -> datetime:
    """The instant this request judges visit statuses at, read from the clock once per request:
    a status filter and the statuses shown in the same response agree to the microsecond."""
    now: datetime | None = info.context.loaders.get(_NOW)
    if now is None:
        now = info.context.clock.now()
        info.context.loaders[_NOW] = now
    return now


def visit_loader(info: Info) -> DataLoader[uuid.UUID, VisitRecord | None]:
    """Visits by id (with their tolerances), visible to the caller; None if missing/foreign."""
    context = info.context
    name = "visit_by_id"
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, VisitRecord | None] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(ids: list[uuid.UUID]) -> list[VisitRecord | None]:
        async with read_only(context.sessions) as session:
            records = await repository.get_many(session, scope, ids)
        found = {record.visit.id: record for record in records}
        return [found.get(key) for key in ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader


def next_visits_loader(info: Info, first: int) -> DataLoader[uuid.UUID, list[VisitRecord]]:
    """Each package's next `first` visits from the request's `now`: one query per batch, one
    loader per `first` (a page asking `nextVisits(first: 3)` on every package shares one)."""
    context = info.context
    name = f"next_visits:{first}"
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, list[VisitRecord]] = existing
        return loader
    scope = AccessScope.of(context.require_principal())
    now = request_now(info)

    async def load(package_ids: list[uuid.UUID]) -> list[list[VisitRecord]]:
        async with read_only(context.sessions) as session:
            records = await repository.next_per_package(
                session, scope, package_ids, limit=first, now=now
            )
        grouped: dict[uuid.UUID, list[VisitRecord]] = {key: [] for key in package_ids}
        for record in records:
            grouped[record.visit.package_id].append(record)
        return [grouped[key] for key in package_ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader


def assigned_carers_loader(info: Info) -> DataLoader[uuid.UUID, list[StaffMember]]:
    """Each visit's assigned staff the caller may see, in assignment order; one query a batch."""
    context = info.context
    name = "visit_assigned_carers"
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, list[StaffMember]] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(visit_ids: list[uuid.UUID]) -> list[list[StaffMember]]:
        async with read_only(context.sessions) as session:
            pairs = await repository.assigned_staff(session, scope, visit_ids)
        grouped: dict[uuid.UUID, list[StaffMember]] = {key: [] for key in visit_ids}
        for visit_id, staff in pairs:
            grouped[visit_id].append(staff)
        return [grouped[key] for key in visit_ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader


def facts_loader(info: Info) -> DataLoader[uuid.UUID, list[VisitFact]]:
    """Each visible visit's facts in the order recorded; one query a batch."""
    context = info.context
    name = "visit_facts"
    existing = context.loaders.get(name)
    if existing is not None:
        loader: DataLoader[uuid.UUID, list[VisitFact]] = existing
        return loader
    scope = AccessScope.of(context.require_principal())

    async def load(visit_ids: list[uuid.UUID]) -> list[list[VisitFact]]:
        async with read_only(context.sessions) as session:
            rows = await repository.facts_of_visits(session, scope, visit_ids)
        grouped: dict[uuid.UUID, list[VisitFact]] = {key: [] for key in visit_ids}
        for row in rows:
            grouped[row.visit_id].append(row)
        return [grouped[key] for key in visit_ids]

    loader = DataLoader(load_fn=load)
    context.loaders[name] = loader
    return loader
