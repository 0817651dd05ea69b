"""Per-request DataLoaders for referrals. Each batch opens its own read session and applies the
caller's tenancy scope, so `node(id:)` and nested fields see exactly what `referrals` lists."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from hub.graphql.context import Info
from hub.graphql.loaders import by_id_loader
from hub.referrals import repository
from hub.referrals.models import Referral
from hub.tenancy import AccessScope


def referral_loader(info: Info) -> DataLoader[uuid.UUID, Referral | None]:
    """Referrals by id, visible to the caller; None for a missing or foreign id."""
    scope = AccessScope.of(info.context.require_principal())

    async def fetch(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[Referral]:
        return await repository.get_many(session, scope, ids)

    return by_id_loader(info.context, "referral_by_id", fetch, lambda row: row.id)
