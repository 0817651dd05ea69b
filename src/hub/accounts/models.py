from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity


class Role(StrEnum):
    CARER = "carer"
    COORDINATOR = "coordinator"
    REGISTERED_MANAGER = "registered_manager"
    COMMISSIONER = "commissioner"
    PARTNER_CLIENT = "partner_client"
    SUPPLIER_CLIENT = "supplier_client"
    ADMIN = "admin"


ROLE_ENUM = Enum(Role, name="account_role", values_callable=lambda e: [m.value for m in e])


class Account(Entity):
    """Who a token's subject is to the hub: role, organisation, staff record, allowed scopes.

    Identity comes from the issuer's token; authorisation comes from here, so offboarding,
    a change of organisation or a revoked scope takes effect at the next request (and at the
    next event on a live subscription) without waiting for tokens to expire."""

    __tablename__ = "accounts"

    issuer: Mapped[str] = mapped_column(Text)
    # The token's `sub`; for client-credentials tokens, the OAuth client id.
    subject: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(ROLE_ENUM)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id"), index=True
    )
    staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_members.id"))
    display_name: Mapped[str] = mapped_column(Text)
    allowed_scopes: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    active: Mapped[bool] = mapped_column(server_default=text("true"))

    __table_args__ = (UniqueConstraint("issuer", "subject"),)
