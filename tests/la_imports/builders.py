"""Builders for la_imports rows (Polar style: insert directly, no service), for tests elsewhere
that need an import to exist — e.g. the tenancy walk over every root list."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts.models import Contract
from hub.integrations.models import InboundChannel, InboundPayload
from hub.la_imports.models import BatchStatus, ImportFormat, PortalImportBatch


async def create_portal_import(
    session: AsyncSession, *, contract_id: uuid.UUID, **overrides: object
) -> PortalImportBatch:
    """A completed, empty import of a one-line file for the contract."""
    contract = await session.get(Contract, contract_id)
    assert contract is not None
    body = b"package_reference,change_type,effective_date,nhs_number\r\n"
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    payload = InboundPayload(
        connector="la_portal",
        channel=InboundChannel.UPLOAD,
        organisation_id=contract.provider_id,
        delivery_key=f"{contract.id}:{uuid.uuid4()}",
        content_type="text/csv",
        body=body,
        sha256=hashlib.sha256(body).hexdigest(),
        received_at=now,
    )
    session.add(payload)
    await session.flush()
    values: dict[str, object] = {
        "contract_id": contract.id,
        "commissioner_id": contract.commissioner_id,
        "payload_id": payload.id,
        "filename": "brokerage.csv",
        "format": ImportFormat.CSV,
        "status": BatchStatus.COMPLETED,
        "imported_by": "test",
        "started_at": now,
        "completed_at": now,
        "ignored_columns": [],
    }
    values.update(overrides)
    batch = PortalImportBatch(**values)
    session.add(batch)
    await session.flush()
    return batch
