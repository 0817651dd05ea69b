"""Signed-in callers for tests: register an account through the accounts service and mint a
token with the app's own development issuer (the same path `hub token` takes)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from starlette.applications import Starlette

from hub.accounts import service as accounts
from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import Clock

CLIENT_ROLES = (Role.PARTNER_CLIENT, Role.SUPPLIER_CLIENT)


class Identities:
    def __init__(self, app: Starlette, sessions: SessionFactory, clock: Clock) -> None:
        self.app = app
        self.sessions = sessions
        self.clock = clock

    @property
    def issuer_settings(self) -> tuple[str, str]:
        settings = self.app.state.runtime.settings
        return settings.auth_issuer, settings.auth_audience

    async def register(
        self,
        role: Role,
        *,
        organisation_id: uuid.UUID | None = None,
        staff_id: uuid.UUID | None = None,
        subject: str | None = None,
        scopes: tuple[str, ...] = (),
    ) -> str:
        subject = subject or f"{role.value}-{uuid.uuid4().hex[:8]}"
        async with unit_of_work(self.sessions) as session:
            await accounts.register(
                session,
                issuer=self.issuer_settings[0],
                subject=subject,
                role=role,
                display_name=subject,
                organisation_id=organisation_id,
                staff_id=staff_id,
                scopes=scopes,
                actor="test",
                clock=self.clock,
            )
        return subject

    def mint(
        self,
        subject: str,
        *,
        client: bool = False,
        scopes: tuple[str, ...] = (),
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        issuer = self.app.state.runtime.identity.dev_issuer
        claims = {"client_id": subject, "scope": " ".join(scopes)} if client else {}
        token: str = issuer.mint(subject, claims, ttl=ttl)
        return token

    async def token(
        self,
        role: Role,
        *,
        organisation_id: uuid.UUID | None = None,
        staff_id: uuid.UUID | None = None,
        scopes: tuple[str, ...] = (),
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        subject = await self.register(
            role, organisation_id=organisation_id, staff_id=staff_id, scopes=scopes
        )
        return self.mint(subject, client=role in CLIENT_ROLES, scopes=scopes, ttl=ttl)
