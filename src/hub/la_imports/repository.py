"""Every query the la_imports domain runs.

Reads for callers take an `AccessScope` and apply `portal_import_visible` (rows are read
through their batch, so they are exactly as visible as it is). The lookups the import itself
makes — the contract's packages and people, earlier rows of the same contract — run for the
hub (`AccessScope.system()`), after the service has checked that the caller may import for
that contract at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime

from sqlalchemy import or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts.models import Contract
from hub.la_imports.models import BatchStatus, PortalImportBatch, PortalImportRow, RowStatus
from hub.organisations.models import Organisation
from hub.packages.models import CarePackage
from hub.people.models import Person
from hub.tenancy import AccessScope, contract_visible, portal_import_visible


def add(session: AsyncSession, row: PortalImportBatch | PortalImportRow) -> None:
    session.add(row)


async def importable_contract(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID
) -> Contract | None:
    """The contract, if the caller may see it (a commissioner their own, an admin any)."""
    result = await session.scalars(
        select(Contract).where(Contract.id == contract_id, contract_visible(scope))
    )
    return result.one_or_none()


async def contract_by_reference(session: AsyncSession, reference: str) -> Contract | None:
    """For the command line, which acts for the hub."""
    result = await session.scalars(select(Contract).where(Contract.reference == reference))
    return result.one_or_none()


async def organisation(session: AsyncSession, organisation_id: uuid.UUID) -> Organisation | None:
    """Organisations are the public directory (names and ODS codes): unscoped."""
    return await session.get(Organisation, organisation_id)


# --- batches ---------------------------------------------------------------------------------


async def get_batch(
    session: AsyncSession, scope: AccessScope, batch_id: uuid.UUID
) -> PortalImportBatch | None:
    result = await session.scalars(
        select(PortalImportBatch).where(
            PortalImportBatch.id == batch_id, portal_import_visible(scope)
        )
    )
    return result.one_or_none()


async def get_many(
    session: AsyncSession, scope: AccessScope, ids: Sequence[uuid.UUID]
) -> Sequence[PortalImportBatch]:
    result = await session.scalars(
        select(PortalImportBatch).where(PortalImportBatch.id.in_(ids), portal_import_visible(scope))
    )
    return result.all()


async def lock_batch(session: AsyncSession, batch_id: uuid.UUID) -> PortalImportBatch | None:
    """The batch locked for this transaction: one chunk of one batch is applied at a time,
    even when the worker and a retried job both pick it up."""
    result = await session.scalars(
        select(PortalImportBatch)
        .where(PortalImportBatch.id == batch_id)
        .with_for_update(of=PortalImportBatch)
        .execution_options(populate_existing=True)
    )
    return result.one_or_none()


async def list_batches(
    session: AsyncSession,
    scope: AccessScope,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    contract_id: uuid.UUID | None = None,
    statuses: Collection[BatchStatus] = (),
) -> Sequence[PortalImportBatch]:
    """Visible batches, newest first, keyset-paginated on (started_at, id) descending."""
    query = (
        select(PortalImportBatch)
        .where(portal_import_visible(scope))
        .order_by(PortalImportBatch.started_at.desc(), PortalImportBatch.id.desc())
        .limit(limit)
    )
    if contract_id is not None:
        query = query.where(PortalImportBatch.contract_id == contract_id)
    if statuses:
        query = query.where(PortalImportBatch.status.in_(list(statuses)))
    if after is not None:
        query = query.where(
            tuple_(PortalImportBatch.started_at, PortalImportBatch.id) < tuple_(*after)
        )
    result = await session.scalars(query)
    return result.all()


# --- rows ------------------------------------------------------------------------------------


async def list_rows(
    session: AsyncSession,
    batch_id: uuid.UUID,
    *,
    limit: int,
    after_row: int | None = None,
    statuses: Collection[RowStatus] = (),
    with_problems: bool = False,
) -> Sequence[PortalImportRow]:
    """A batch's rows in file order (the caller has already found the batch visible)."""
    query = (
        select(PortalImportRow)
        .where(PortalImportRow.batch_id == batch_id)
        .order_by(PortalImportRow.row_number)
        .limit(limit)
    )
    if statuses:
        query = query.where(PortalImportRow.status.in_(list(statuses)))
    if with_problems:
        query = query.where(PortalImportRow.problems != [])
    if after_row is not None:
        query = query.where(PortalImportRow.row_number > after_row)
    result = await session.scalars(query)
    return result.all()


async def applied_with_hash(
    session: AsyncSession, contract_id: uuid.UUID, row_hash: str
) -> PortalImportRow | None:
    """The row that applied this content on this contract, if one did."""
    result = await session.scalars(
        select(PortalImportRow).where(
            PortalImportRow.contract_id == contract_id,
            PortalImportRow.row_hash == row_hash,
            PortalImportRow.status == RowStatus.APPLIED,
        )
    )
    return result.one_or_none()


async def supersede_open_invalid(
    session: AsyncSession,
    *,
    contract_id: uuid.UUID,
    batch_id: uuid.UUID,
    row_hash: str,
    package_reference: str | None,
    change_type: str | None,
    effective_date: date | None,
    by_row_id: uuid.UUID,
) -> int:
    """Mark superseded the open invalid rows of earlier imports that `by_row_id` sends again:
    the same content, or a row for the same package and change — for a `change` row, on the
    same effective date unless the old row's date could not be read. Returns how many."""
    same_event = None
    if package_reference is not None and change_type is not None:
        same_event = (PortalImportRow.package_reference == package_reference) & (
            PortalImportRow.change_type == change_type
        )
        if change_type == "change" and effective_date is not None:
            same_event &= or_(
                PortalImportRow.effective_date.is_(None),
                PortalImportRow.effective_date == effective_date,
            )
    matches = PortalImportRow.row_hash == row_hash
    if same_event is not None:
        matches = or_(matches, same_event)
    result = await session.execute(
        update(PortalImportRow)
        .where(
            PortalImportRow.contract_id == contract_id,
            PortalImportRow.status == RowStatus.INVALID,
            PortalImportRow.batch_id != batch_id,
            matches,
        )
        .values(status=RowStatus.SUPERSEDED, superseded_by_id=by_row_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- the packages and people rows apply to ------------------------------------------------------


async def package_on_contract(
    session: AsyncSession, contract_id: uuid.UUID, reference: str
) -> CarePackage | None:
    result = await session.scalars(
        select(CarePackage).where(
            CarePackage.contract_id == contract_id, CarePackage.reference == reference
        )
    )
    return result.one_or_none()


async def person(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    return await session.get(Person, person_id)
