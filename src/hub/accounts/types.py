from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from hub.accounts.models import Account as AccountRow
from hub.accounts.models import Role as RoleValue
from hub.graphql.ids import encode_global_id


@strawberry.enum(description="What an account may do in the hub.")
class Role(Enum):
    CARER = RoleValue.CARER.value
    COORDINATOR = RoleValue.COORDINATOR.value
    REGISTERED_MANAGER = RoleValue.REGISTERED_MANAGER.value
    COMMISSIONER = RoleValue.COMMISSIONER.value
    PARTNER_CLIENT = RoleValue.PARTNER_CLIENT.value
    SUPPLIER_CLIENT = RoleValue.SUPPLIER_CLIENT.value
    ADMIN = RoleValue.ADMIN.value


@strawberry.type(description="A person or system allowed to use the hub, and as what.")
class Account:
    id: strawberry.ID
    issuer: str = strawberry.field(
        description="The token issuer this account's subject belongs to."
    )
    subject: str = strawberry.field(description="The token `sub` (or OAuth client id for clients).")
    role: Role
    display_name: str
    organisation_id: strawberry.ID | None
    scopes: list[str] = strawberry.field(description="Scopes a client may be granted.")
    active: bool
    created_at: datetime

    @classmethod
    def from_model(cls, row: AccountRow) -> Account:
        return cls(
            id=strawberry.ID(encode_global_id("Account", row.id)),
            issuer=row.issuer,
            subject=row.subject,
            role=Role(row.role.value),
            display_name=row.display_name,
            organisation_id=(
                strawberry.ID(encode_global_id("Organisation", row.organisation_id))
                if row.organisation_id
                else None
            ),
            scopes=list(row.allowed_scopes),
            active=row.active,
            created_at=row.created_at,
        )
