"""Who imports and who reads: the contract's commissioner (admins for any), the provider's office
reads; other councils see nothing; reading rows that identify people is access-logged."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.graphql.ids import encode_global_id
from hub.organisations.models import OrganisationKind
from tests import builders
from tests.la_imports.conftest import IMPORT, ROWS, World
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

LIST = "{ portalImports { nodes { id } } }"
ONE = "query($id: ID!) { portalImport(id: $id) { id appliedRows } }"


async def _other_council(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory
) -> GraphQLClient:
    async with unit_of_work(sessions) as session:
        council = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY, name="Southvale Council"
        )
    return GraphQLClient(
        http, token=await identities.token(Role.COMMISSIONER, organisation_id=council.id)
    )


async def test_another_council_neither_imports_for_nor_sees_the_contract(
    world: World, http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory
) -> None:
    batch = await world.import_file("brokerage_mixed.csv")
    other = await _other_council(http, identities, sessions)

    attempt = await world.import_file("brokerage_mixed.csv", client=other)
    listed = (await other.execute(LIST)).ok()["portalImports"]["nodes"]
    read = (await other.execute(ONE, {"id": batch["id"]})).ok()["portalImport"]

    assert (attempt["__typename"], attempt["code"]) == ("NotFoundError", "CONTRACT_NOT_FOUND")
    assert listed == []
    assert read is None


async def test_the_providers_office_reads_but_does_not_import(
    world: World, http: httpx.AsyncClient, identities: Identities
) -> None:
    batch = await world.import_file("brokerage_mixed.csv")
    office = GraphQLClient(
        http, token=await identities.token(Role.COORDINATOR, organisation_id=world.provider)
    )

    read = (await office.execute(ONE, {"id": batch["id"]})).ok()["portalImport"]
    attempt = await office.execute(
        IMPORT,
        {
            "input": {
                "contractId": world.contract_gid,
                "format": "CSV",
                "filename": "x.csv",
                "content": "",
            }
        },
    )

    assert read == {"id": batch["id"], "appliedRows": 4}
    assert attempt.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_admin_imports_for_any_contract(
    world: World, http: httpx.AsyncClient, identities: Identities
) -> None:
    admin = GraphQLClient(http, token=await identities.token(Role.ADMIN))

    batch = await world.import_file("brokerage_corrected.csv", client=admin)

    assert (batch["status"], batch["appliedRows"]) == ("COMPLETED", 6)


async def test_bad_input_is_named(world: World) -> None:
    not_base64 = await world.commissioner.execute(
        IMPORT,
        {
            "input": {
                "contractId": world.contract_gid,
                "format": "CSV",
                "filename": "x.csv",
                "content": "%%%",
                "base64": True,
            }
        },
    )
    wrong_id = await world.import_file(
        "brokerage_mixed.csv", contract_gid=encode_global_id("CarePackage", world.contract)
    )

    result = not_base64.ok()["importPortalFile"]
    assert (result["__typename"], result["code"]) == ("InvalidInputError", "INVALID_BASE64")
    assert (wrong_id["__typename"], wrong_id["code"]) == ("InvalidInputError", "INVALID_ID")


async def test_reading_rows_that_identify_people_is_logged(
    world: World, sessions: SessionFactory
) -> None:
    batch = await world.import_file("brokerage_mixed.csv")
    async with read_only(sessions) as session:
        before = list(await session.scalars(select(AccessLogEntry.id)))

    response = await world.commissioner.execute(
        ROWS, {"id": batch["id"], "status": ["APPLIED"], "withProblems": False}
    )

    applied = response.ok()["portalImport"]["rows"]["nodes"]
    async with read_only(sessions) as session:
        rows = list(
            await session.scalars(
                select(AccessLogEntry).where(AccessLogEntry.id.not_in(before or [0]))
            )
        )
    [entry] = rows
    assert entry.fields == ["portalImport.rows"]
    assert entry.row_count == len(applied) == 4
    assert len(set(entry.person_ids)) == 3  # rows 2 and 6 are the same person
