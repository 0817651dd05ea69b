"""A council commissioning homecare from a provider (ODS AB1C2) on one contract, its
commissioner signed in, and the brokerage export files in `files/`."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.events.models import Event
from hub.graphql.ids import encode_global_id
from hub.organisations.models import OrganisationKind
from hub.packages.models import CarePackage
from hub.people.models import Person
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

FILES = Path(__file__).parent / "files"

IMPORT = """
mutation Import($input: ImportPortalFileInput!) {
  importPortalFile(input: $input) {
    __typename
    ... on PortalImport {
      id status filename format totalRows processedRows appliedRows unchangedRows
      invalidRows warningRows ignoredColumns errorCode errorMessage fileHash
    }
    ... on UserError { code message }
  }
}"""

ROWS = """
query Rows($id: ID!, $status: [PortalImportRowStatus!], $withProblems: Boolean!) {
  portalImport(id: $id) {
    rows(first: 100, status: $status, withProblems: $withProblems) {
      nodes {
        id rowNumber status packageReference changeType effectiveDate packageId personId
        appliedRowId supersededById values
        problems { column problem code severity rawValue }
        cells { column value }
      }
    }
  }
}"""


def file_bytes(name: str) -> bytes:
    return (FILES / name).read_bytes()


@dataclass
class World:
    council: uuid.UUID
    provider: uuid.UUID
    contract: uuid.UUID
    contract_reference: str
    other_contract: uuid.UUID
    commissioner: GraphQLClient

    @property
    def contract_gid(self) -> str:
        return encode_global_id("Contract", self.contract)

    async def import_file(
        self,
        name: str,
        *,
        content: bytes | None = None,
        format: str | None = None,
        client: GraphQLClient | None = None,
        contract_gid: str | None = None,
    ) -> dict[str, Any]:
        raw = content if content is not None else file_bytes(name)
        chosen = format or ("JSON" if name.endswith(".json") else "CSV")
        response = await (client or self.commissioner).execute(
            IMPORT,
            {
                "input": {
                    "contractId": contract_gid or self.contract_gid,
                    "format": chosen,
                    "filename": name,
                    "content": base64.b64encode(raw).decode(),
                    "base64": True,
                }
            },
        )
        result: dict[str, Any] = response.ok()["importPortalFile"]
        return result

    async def rows(
        self, batch_id: str, *, status: list[str] | None = None, with_problems: bool = False
    ) -> list[dict[str, Any]]:
        response = await self.commissioner.execute(
            ROWS, {"id": batch_id, "status": status, "withProblems": with_problems}
        )
        nodes: list[dict[str, Any]] = response.ok()["portalImport"]["rows"]["nodes"]
        return nodes


@pytest.fixture
async def world(http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory) -> World:
    async with unit_of_work(sessions) as session:
        council = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY, name="Northvale City Council"
        )
        provider = await builders.create_organisation(
            session, kind=OrganisationKind.PROVIDER, name="Ashbrook Care", ods_code="AB1C2"
        )
        contract = await builders.create_contract(
            session,
            commissioner=council,
            provider=provider,
            reference="NV-HC-2026",
            starts_on=date(2026, 4, 1),
        )
        other = await builders.create_contract(session, reference="SV-HC-2026")
    token = await identities.token(Role.COMMISSIONER, organisation_id=council.id)
    return World(
        council=council.id,
        provider=provider.id,
        contract=contract.id,
        contract_reference=contract.reference,
        other_contract=other.id,
        commissioner=GraphQLClient(http, token=token),
    )


async def domain_counts(sessions: SessionFactory) -> dict[str, int]:
    """What an import changes in the care graph: packages, people and their events."""
    async with read_only(sessions) as session:
        packages = await session.scalar(select(func.count()).select_from(CarePackage))
        people = await session.scalar(select(func.count()).select_from(Person))
        events = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                Event.type.like("package.%")
                | Event.type.like("person.%")
                | Event.type.like("portal.%")
            )
        )
    return {"packages": packages or 0, "people": people or 0, "events": events or 0}
