"""The caller of a request, as the hub sees it: identity from the token, role, organisation and
scopes from the hub's own `accounts` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from hub.accounts.models import Role


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: uuid.UUID
    subject: str
    role: Role
    organisation_id: uuid.UUID | None
    staff_id: uuid.UUID | None
    client_id: str | None
    scopes: frozenset[str]
    expires_at: datetime

    @property
    def actor(self) -> str:
        """How the event log and the access log name this caller."""
        if self.client_id:
            return f"client:{self.client_id}"
        if self.staff_id:
            return f"staff:{self.staff_id}"
        return f"account:{self.account_id}"

    @property
    def is_client(self) -> bool:
        return self.role in (Role.PARTNER_CLIENT, Role.SUPPLIER_CLIENT)

    def has_scopes(self, *required: str) -> bool:
        """All of `required` (AND), as RFC 6750 `insufficient_scope` means."""
        return set(required) <= self.scopes
