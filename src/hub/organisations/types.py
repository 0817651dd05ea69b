from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.organisations.models import Organisation as OrganisationRow
from hub.organisations.models import OrganisationKind as Kind


@strawberry.enum(description="What part an organisation plays in a care contract.")
class OrganisationKind(Enum):
    LOCAL_AUTHORITY = Kind.LOCAL_AUTHORITY.value
    ICB = Kind.ICB.value
    PROVIDER = Kind.PROVIDER.value
    SUPPLIER = Kind.SUPPLIER.value
    REFERRER = Kind.REFERRER.value


@strawberry.type(
    description="A commissioner (local authority or ICB), care provider, "
    "software supplier or referrer."
)
class Organisation(Node):
    id: strawberry.ID
    kind: OrganisationKind
    name: str
    ods_code: str | None = strawberry.field(
        description="NHS Organisation Data Service code, as given by the source."
    )
    created_at: datetime

    @classmethod
    def from_model(cls, row: OrganisationRow) -> Organisation:
        return cls(
            id=strawberry.ID(encode_global_id("Organisation", row.id)),
            kind=OrganisationKind(row.kind.value),
            name=row.name,
            ods_code=row.ods_code,
            created_at=row.created_at,
        )
