from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity


class OrganisationKind(StrEnum):
    LOCAL_AUTHORITY = "local_authority"
    ICB = "icb"
    PROVIDER = "provider"
    SUPPLIER = "supplier"
    REFERRER = "referrer"


class Organisation(Entity):
    """A commissioner (local authority, ICB), provider, software supplier or referrer.
    The root of tenancy: every other row belongs to one or more organisations."""

    __tablename__ = "organisations"

    kind: Mapped[OrganisationKind] = mapped_column(
        Enum(
            OrganisationKind,
            name="organisation_kind",
            values_callable=lambda e: [m.value for m in e],
        )
    )
    name: Mapped[str] = mapped_column(Text)
    # ODS code as given by the source (trimmed); unique when present.
    ods_code: Mapped[str | None] = mapped_column(Text, unique=True)
