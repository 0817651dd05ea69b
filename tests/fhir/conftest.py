"""Fixtures for the FHIR endpoint: a referring partner (a GP federation's system) with
client-credentials tokens, the provider referrals are addressed to (the root `provider`
fixture, ODS AX123), and the UK Core / BaRS example payloads in `payloads/`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.organisations.models import OrganisationKind
from tests import builders
from tests.fhir.live import served
from tests.support.identity import Identities

PAYLOADS = Path(__file__).parent / "payloads"
FHIR_JSON = "application/fhir+json"
READ_WRITE = ("referrals:read", "referrals:write")


def payload(name: str) -> dict[str, Any]:
    """A fresh copy of an example payload, safe to modify."""
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def encode(document: Any) -> bytes:
    return json.dumps(document, indent=2).encode()


@dataclass
class Partner:
    """A referring organisation's system: its organisation id and a client token."""

    organisation_id: uuid.UUID
    token: str
    http: httpx.AsyncClient

    def headers(self, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", "content-type": FHIR_JSON, **extra}

    async def post(self, path: str, body: bytes, **headers: str) -> httpx.Response:
        return await self.http.post(f"/fhir/{path}", content=body, headers=self.headers(**headers))

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(
            f"/fhir/{path}",
            params=params,
            headers={"authorization": f"Bearer {self.token}", "accept": FHIR_JSON},
        )


async def make_partner(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    *,
    ods_code: str,
    scopes: tuple[str, ...] = READ_WRITE,
) -> Partner:
    async with unit_of_work(sessions) as session:
        organisation = await builders.create_organisation(
            session, kind=OrganisationKind.REFERRER, name=f"Partner {ods_code}", ods_code=ods_code
        )
    token = await identities.token(
        Role.PARTNER_CLIENT, organisation_id=organisation.id, scopes=scopes
    )
    return Partner(organisation.id, token, http)


@pytest.fixture
async def partner(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, provider: uuid.UUID
) -> Partner:
    """A GP federation (ODS Y99901) allowed to send and read referrals; the provider AX123
    exists to receive them."""
    return await make_partner(http, identities, sessions, ods_code="Y99901")


@pytest.fixture
async def live(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The hub over real HTTP on loopback (uvicorn), for tests that must cross a socket."""
    async with served(app) as client:
        yield client
