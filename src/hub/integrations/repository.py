"""Every query the integrations domain runs. Office reads take an `AccessScope` and apply
`connector_instance_visible` / `inbound_payload_visible`; jobs read unscoped by id, because
they act for the instance they were given.

Cursors and breaker state are read `FOR UPDATE` inside the transaction that changes them, so
two workers (or a worker and a webhook) never interleave their read-modify-write.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.integrations.models import (
    ConnectorCursor,
    ConnectorHealth,
    ConnectorInstance,
    ConnectorRun,
    ExternalRef,
    InboundPayload,
    InboundStatus,
)
from hub.packages.models import CarePackage
from hub.people.models import Person
from hub.tenancy import (
    AccessScope,
    connector_instance_visible,
    inbound_payload_visible,
    package_visible,
)
from hub.visits.models import Visit

# --- connector instances -----------------------------------------------------------------------


async def get_instance(session: AsyncSession, instance_id: uuid.UUID) -> ConnectorInstance | None:
    return await session.get(ConnectorInstance, instance_id)


async def get_instance_by_name(session: AsyncSession, name: str) -> ConnectorInstance | None:
    result = await session.scalars(select(ConnectorInstance).where(ConnectorInstance.name == name))
    return result.one_or_none()


async def visible_instance(
    session: AsyncSession, scope: AccessScope, instance_id: uuid.UUID
) -> ConnectorInstance | None:
    result = await session.scalars(
        select(ConnectorInstance).where(
            ConnectorInstance.id == instance_id, connector_instance_visible(scope)
        )
    )
    return result.one_or_none()


async def list_instances(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[str, uuid.UUID] | None,
) -> Sequence[ConnectorInstance]:
    query = select(ConnectorInstance).where(connector_instance_visible(scope))
    if after is not None:
        query = query.where(tuple_(ConnectorInstance.name, ConnectorInstance.id) > after)
    result = await session.scalars(
        query.order_by(ConnectorInstance.name, ConnectorInstance.id).limit(limit)
    )
    return result.all()


async def due_instances(
    session: AsyncSession, now: datetime, *, limit: int = 100
) -> Sequence[ConnectorInstance]:
    """Enabled instances whose poll interval has passed since their last run started."""
    interval = func.make_interval(0, 0, 0, 0, 0, 0, ConnectorInstance.poll_interval_seconds)
    result = await session.scalars(
        select(ConnectorInstance)
        .outerjoin(ConnectorHealth, ConnectorHealth.instance_id == ConnectorInstance.id)
        .where(
            ConnectorInstance.enabled.is_(True),
            or_(
                ConnectorHealth.last_poll_started_at.is_(None),
                ConnectorHealth.last_poll_started_at + interval <= now,
            ),
        )
        .order_by(ConnectorInstance.name)
        .limit(limit)
    )
    return result.all()


def add(
    session: AsyncSession, row: ConnectorInstance | ConnectorRun | ExternalRef | ConnectorCursor
) -> None:
    session.add(row)


# --- cursors -----------------------------------------------------------------------------------


async def cursors_of(
    session: AsyncSession, instance_ids: Collection[uuid.UUID]
) -> Sequence[ConnectorCursor]:
    if not instance_ids:
        return ()
    result = await session.scalars(
        select(ConnectorCursor)
        .where(ConnectorCursor.instance_id.in_(list(instance_ids)))
        .order_by(ConnectorCursor.instance_id, ConnectorCursor.feed)
    )
    return result.all()


async def cursor_for_update(
    session: AsyncSession, instance_id: uuid.UUID, feed: str
) -> ConnectorCursor:
    """The feed's cursor row, created empty the first time, locked until the transaction ends."""
    await session.execute(
        insert(ConnectorCursor)
        .values(instance_id=instance_id, feed=feed)
        .on_conflict_do_nothing(index_elements=["instance_id", "feed"])
    )
    result = await session.scalars(
        select(ConnectorCursor)
        .where(ConnectorCursor.instance_id == instance_id, ConnectorCursor.feed == feed)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.one()


async def cursor_value(session: AsyncSession, instance_id: uuid.UUID, feed: str) -> str | None:
    return await session.scalar(
        select(ConnectorCursor.cursor).where(
            ConnectorCursor.instance_id == instance_id, ConnectorCursor.feed == feed
        )
    )


# --- health (breaker) --------------------------------------------------------------------------


async def health_for_update(session: AsyncSession, instance_id: uuid.UUID) -> ConnectorHealth:
    """The instance's health row, created the first time, locked until the transaction ends."""
    await session.execute(
        insert(ConnectorHealth)
        .values(instance_id=instance_id)
        .on_conflict_do_nothing(index_elements=["instance_id"])
    )
    result = await session.scalars(
        select(ConnectorHealth)
        .where(ConnectorHealth.instance_id == instance_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.one()


async def health_of(
    session: AsyncSession, instance_ids: Collection[uuid.UUID]
) -> Sequence[ConnectorHealth]:
    if not instance_ids:
        return ()
    result = await session.scalars(
        select(ConnectorHealth).where(ConnectorHealth.instance_id.in_(list(instance_ids)))
    )
    return result.all()


async def release_lease(session: AsyncSession, instance_id: uuid.UUID) -> None:
    await session.execute(
        update(ConnectorHealth)
        .where(ConnectorHealth.instance_id == instance_id)
        .values(poll_lease_until=None)
    )


# --- runs --------------------------------------------------------------------------------------


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> ConnectorRun | None:
    return await session.get(ConnectorRun, run_id)


async def latest_runs(
    session: AsyncSession, instance_ids: Collection[uuid.UUID]
) -> Sequence[ConnectorRun]:
    """The most recent run of each instance."""
    if not instance_ids:
        return ()
    result = await session.scalars(
        select(ConnectorRun)
        .where(ConnectorRun.instance_id.in_(list(instance_ids)))
        .ext(distinct_on(ConnectorRun.instance_id))
        .order_by(ConnectorRun.instance_id, ConnectorRun.started_at.desc(), ConnectorRun.id.desc())
    )
    return result.all()


# --- external references -----------------------------------------------------------------------


async def external_ref(
    session: AsyncSession, instance_id: uuid.UUID, entity_type: str, external_id: str
) -> ExternalRef | None:
    result = await session.scalars(
        select(ExternalRef)
        .where(
            ExternalRef.instance_id == instance_id,
            ExternalRef.entity_type == entity_type,
            ExternalRef.external_id == external_id,
        )
        .with_for_update()
    )
    return result.one_or_none()


async def external_refs(
    session: AsyncSession, instance_id: uuid.UUID, entity_type: str, external_ids: Collection[str]
) -> dict[str, uuid.UUID]:
    """external id → hub id, for those of `external_ids` that are mapped."""
    if not external_ids:
        return {}
    result = await session.execute(
        select(ExternalRef.external_id, ExternalRef.hub_id).where(
            ExternalRef.instance_id == instance_id,
            ExternalRef.entity_type == entity_type,
            ExternalRef.external_id.in_(list(external_ids)),
        )
    )
    return {row.external_id: row.hub_id for row in result.all()}


async def hub_id_is_mapped(
    session: AsyncSession, instance_id: uuid.UUID, entity_type: str, hub_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        select(ExternalRef.id)
        .where(
            ExternalRef.instance_id == instance_id,
            ExternalRef.entity_type == entity_type,
            ExternalRef.hub_id == hub_id,
        )
        .limit(1)
    )
    return found is not None


# --- what supplier records are matched against (read-only views of other domains) -------------


async def package_by_reference(
    session: AsyncSession, scope: AccessScope, reference: str
) -> CarePackage | None:
    result = await session.scalars(
        select(CarePackage).where(CarePackage.reference == reference, package_visible(scope))
    )
    return result.one_or_none()


async def open_packages_of_nhs_number(
    session: AsyncSession, scope: AccessScope, nhs_number: str, today: date
) -> Sequence[CarePackage]:
    """The caller's packages, not ended, of the person with this (checked) NHS number."""
    result = await session.scalars(
        select(CarePackage)
        .join(Person, Person.id == CarePackage.person_id)
        .where(
            Person.nhs_number == nhs_number,
            or_(CarePackage.ends_on.is_(None), CarePackage.ends_on >= today),
            package_visible(scope),
        )
        .order_by(CarePackage.reference)
        .limit(2)
    )
    return result.all()


async def unlinked_visit_at(
    session: AsyncSession, instance_id: uuid.UUID, package_id: uuid.UUID, planned_start: datetime
) -> uuid.UUID | None:
    """A visit of the package planned at exactly this time that no external visit of this
    instance is mapped to yet: the hub generated it from the schedule the supplier rosters."""
    mapped = select(ExternalRef.hub_id).where(
        ExternalRef.instance_id == instance_id, ExternalRef.entity_type == "visit"
    )
    return await session.scalar(
        select(Visit.id)
        .where(
            Visit.package_id == package_id,
            Visit.planned_start == planned_start,
            Visit.cancelled_at.is_(None),
            Visit.id.not_in(mapped),
        )
        .order_by(Visit.id)
        .limit(1)
    )


# --- the archive (office reads and job claims) -------------------------------------------------


async def payload_for_update(session: AsyncSession, payload_id: uuid.UUID) -> InboundPayload | None:
    result = await session.scalars(
        select(InboundPayload)
        .where(InboundPayload.id == payload_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.one_or_none()


async def visible_payload(
    session: AsyncSession, scope: AccessScope, payload_id: uuid.UUID
) -> InboundPayload | None:
    result = await session.scalars(
        select(InboundPayload).where(
            InboundPayload.id == payload_id, inbound_payload_visible(scope)
        )
    )
    return result.one_or_none()


async def list_payloads(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    statuses: Collection[InboundStatus] = (),
    connector: str | None = None,
) -> Sequence[InboundPayload]:
    """Newest first."""
    query = select(InboundPayload).where(inbound_payload_visible(scope))
    if statuses:
        query = query.where(InboundPayload.status.in_(list(statuses)))
    if connector is not None:
        query = query.where(InboundPayload.connector == connector)
    if after is not None:
        query = query.where(tuple_(InboundPayload.received_at, InboundPayload.id) < after)
    result = await session.scalars(
        query.order_by(InboundPayload.received_at.desc(), InboundPayload.id.desc()).limit(limit)
    )
    return result.all()


async def payload_counts(
    session: AsyncSession, connectors: Collection[str]
) -> dict[tuple[str, InboundStatus], int]:
    """(connector, status) → how many payloads, for the received and rejected ones."""
    if not connectors:
        return {}
    result = await session.execute(
        select(InboundPayload.connector, InboundPayload.status, func.count())
        .where(
            InboundPayload.connector.in_(list(connectors)),
            InboundPayload.status.in_([InboundStatus.RECEIVED, InboundStatus.REJECTED]),
        )
        .group_by(InboundPayload.connector, InboundPayload.status)
    )
    return {(connector, status): count for connector, status, count in result.all()}


async def stale_received(
    session: AsyncSession, older_than: datetime, *, limit: int = 100
) -> Sequence[uuid.UUID]:
    """Connector payloads still `received` a while after arriving: their job was lost (a Redis
    flush, a worker killed mid-job); the poll cron re-enqueues them."""
    result = await session.scalars(
        select(InboundPayload.id)
        .where(
            InboundPayload.status == InboundStatus.RECEIVED,
            InboundPayload.received_at < older_than,
            InboundPayload.connector.in_(select(ConnectorInstance.name)),
        )
        .order_by(InboundPayload.received_at)
        .limit(limit)
    )
    return result.all()
