"""Who a person belongs to, written as the attack: a second organisation — its own contract,
its own council, its own tokens — tries to reach a person another office registered, over
GraphQL on real HTTP, and gets nothing of the record.

- by id: `createCarePackage` on the person (no package yet) is "no person", like a random id;
- by NHS number: `registerPerson` with another date of birth or family name registers and links
  nothing, is held for the attacker's own office to review, and names nothing of the record;
  with the full demographic match (NHS number, date of birth, family name — as a PDS trace)
  the organisation is linked, the match is an event, and its first read is access-logged;
- through the portal: a council's 'new' row carrying the number is held (the row kept whole,
  a data-quality case for the provider's office) unless the demographics match.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.events.models import Event
from hub.governance.models import ExceptionCase
from hub.graphql.ids import encode_global_id, expect_global_id
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages.models import CarePackage
from hub.people import service
from hub.people.models import LinkBasis, PersonLink, PersonLinkHold
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

NHS_NUMBER = "9434765919"
# What office A typed: none of it may reach office B (or council B) without a match.
SECRETS = ("Crawley", "Edith", "4 Mill Lane", "NV1 1AA", "Mary Crawley", "07700 900123", "4242")

REGISTER = """mutation($input: RegisterPersonInput!) {
    registerPerson(input: $input) {
        __typename
        ... on Person { id givenName familyName dateOfBirth address { line1 postcode }
                        contacts { name phone } keySafeCode accessDetails
                        riskFlags { falls safeguarding } }
        ... on PersonHeldForReview { code message reference heldBy }
        ... on UserError { code message }
    }
}"""

PERSON = """query($id: ID!) {
    person(id: $id) { id familyName keySafeCode }
    node(id: $id) { id }
    people { nodes { id familyName } }
}"""

CREATE_PACKAGE = """mutation($input: CreateCarePackageInput!) {
    createCarePackage(input: $input) {
        __typename
        ... on CarePackage { id person { familyName keySafeCode address { line1 } } }
        ... on UserError { code message }
    }
}"""

HOLDS = """{ personLinkHolds { nodes { id source submitted
    existingPerson { familyName keySafeCode } } } }"""

CASES = """{ exceptionCases(rule: [DATA_QUALITY]) {
    nodes { id title subjectType subjectId personId contract { reference } }
} }"""

IMPORT = """mutation($input: ImportPortalFileInput!) {
    importPortalFile(input: $input) {
        __typename
        ... on PortalImport {
            id appliedRows invalidRows
            rows(first: 10) { nodes { status personId packageId cells { column value }
                                      problems { column code problem rawValue } } }
        }
        ... on UserError { code message }
    }
}"""


@dataclass
class Side:
    """One organisation's world: a provider, its council, their contract and their tokens."""

    provider: Organisation
    council: Organisation
    contract_id: uuid.UUID
    contract_reference: str
    office: GraphQLClient
    commissioner: GraphQLClient

    @property
    def contract_gid(self) -> str:
        return encode_global_id("Contract", self.contract_id)


@dataclass
class World:
    a: Side
    b: Side
    person_id: uuid.UUID

    @property
    def person_gid(self) -> str:
        return encode_global_id("Person", self.person_id)


async def _side(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, name: str, ods: str
) -> Side:
    async with unit_of_work(sessions) as session:
        council = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY, name=f"{name} Council"
        )
        provider = await builders.create_organisation(
            session, kind=OrganisationKind.PROVIDER, name=f"{name} Homecare", ods_code=ods
        )
        contract = await builders.create_contract(
            session,
            commissioner=council,
            provider=provider,
            reference=f"{ods}-HC",
            starts_on=date(2026, 4, 1),
        )
    office = await identities.token(Role.COORDINATOR, organisation_id=provider.id)
    commissioner = await identities.token(Role.COMMISSIONER, organisation_id=council.id)
    return Side(
        provider,
        council,
        contract.id,
        contract.reference,
        GraphQLClient(http, token=office),
        GraphQLClient(http, token=commissioner),
    )


def _registration(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "givenName": "Edith",
        "familyName": "Crawley",
        "dateOfBirth": "1938-05-02",
        "nhsNumber": "943 476 5919",
        "address": {"line1": "4 Mill Lane", "town": "Northvale", "postcode": "NV1 1AA"},
        "contacts": [{"name": "Mary Crawley", "phone": "07700 900123", "keyHolder": True}],
        "riskFlags": {"falls": True, "safeguarding": True},
        "keySafeCode": "4242",
        "accessDetails": "Key safe left of the door",
    }
    values.update(overrides)
    return values


def _attacker_registration(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "givenName": "Eve",
        "familyName": "Intruder",
        "dateOfBirth": "1950-01-01",
        "nhsNumber": NHS_NUMBER,
        "address": {"line1": "1 Other Road", "town": "Southvale", "postcode": "SV1 1AA"},
    }
    values.update(overrides)
    return values


@pytest.fixture
async def world(http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory) -> World:
    a = await _side(http, identities, sessions, "Northvale", "AA111")
    b = await _side(http, identities, sessions, "Southvale", "BB222")
    # Office A registers Edith: no package, no referral yet.
    registered = (await a.office.execute(REGISTER, {"input": _registration()})).ok()
    assert registered["registerPerson"]["__typename"] == "Person"
    assert registered["registerPerson"]["keySafeCode"] == "4242"
    person_id = expect_global_id(registered["registerPerson"]["id"], "Person")
    return World(a, b, person_id)


def _shows_nothing_of_edith(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


async def _links(sessions: SessionFactory, organisation: Organisation) -> list[PersonLink]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(PersonLink).where(PersonLink.organisation_id == organisation.id)
        )
        return list(rows.all())


async def _package_count(sessions: SessionFactory) -> int:
    async with read_only(sessions) as session:
        return int(await session.scalar(select(func.count()).select_from(CarePackage)) or 0)


async def _events(sessions: SessionFactory, event_type: str) -> list[Event]:
    async with read_only(sessions) as session:
        rows = await session.scalars(
            select(Event).where(Event.type == event_type).order_by(Event.id)
        )
        return list(rows.all())


# --- by id ---------------------------------------------------------------------------------


async def test_another_office_cannot_attach_a_package_to_a_person_by_id(
    world: World, sessions: SessionFactory
) -> None:
    b = world.b
    attempt = (
        await b.office.execute(
            CREATE_PACKAGE,
            {
                "input": {
                    "personId": world.person_gid,
                    "contractId": b.contract_gid,
                    "startsOn": "2026-12-01",
                }
            },
        )
    ).ok()["createCarePackage"]
    nobody = uuid.uuid4()
    unknown = (
        await b.office.execute(
            CREATE_PACKAGE,
            {
                "input": {
                    "personId": encode_global_id("Person", nobody),
                    "contractId": b.contract_gid,
                    "startsOn": "2026-12-01",
                }
            },
        )
    ).ok()["createCarePackage"]

    # The same answer as for an id that names nobody.
    assert attempt["__typename"] == unknown["__typename"] == "NotFoundError"
    assert attempt["code"] == unknown["code"] == "PERSON_NOT_FOUND"
    assert attempt["message"].replace(str(world.person_id), "?") == unknown["message"].replace(
        str(nobody), "?"
    )
    assert await _package_count(sessions) == 0
    read = await b.office.execute(PERSON, {"id": world.person_gid})
    assert read.ok() == {"person": None, "node": None, "people": {"nodes": []}}
    # Office A still sees its own person, key safe included.
    own = (await world.a.office.execute(PERSON, {"id": world.person_gid})).ok()
    assert own["person"] == {"id": world.person_gid, "familyName": "Crawley", "keySafeCode": "4242"}


async def test_the_registering_office_still_attaches_its_own_person(world: World) -> None:
    a = world.a
    created = (
        await a.office.execute(
            CREATE_PACKAGE,
            {
                "input": {
                    "personId": world.person_gid,
                    "contractId": a.contract_gid,
                    "startsOn": "2026-12-01",
                }
            },
        )
    ).ok()["createCarePackage"]
    assert created["__typename"] == "CarePackage"
    assert created["person"]["keySafeCode"] == "4242"


# --- by NHS number: registration -----------------------------------------------------------


async def test_registering_a_held_number_with_other_demographics_is_held_and_shows_nothing(
    world: World, http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    b = world.b
    response = await b.office.execute(REGISTER, {"input": _attacker_registration()})
    held = response.ok()["registerPerson"]

    assert held["__typename"] == "PersonHeldForReview"
    assert held["code"] == "HELD_FOR_REVIEW"
    # Specific about what happens next and who does it, silent about the other record.
    assert held["heldBy"] == "Southvale Homecare"
    assert "held for review by Southvale Homecare" in held["message"]
    _shows_nothing_of_edith(json.dumps(response.body))
    assert str(world.person_id) not in json.dumps(response.body)
    assert "Northvale" not in json.dumps(response.body)

    # Nothing registered or linked; B still cannot read Edith by id, node or list.
    assert await _links(sessions, b.provider) == []
    read = await b.office.execute(PERSON, {"id": world.person_gid})
    assert read.ok() == {"person": None, "node": None, "people": {"nodes": []}}

    # The typed record is kept whole on the hold, against the record it named.
    async with read_only(sessions) as session:
        [hold] = (await session.scalars(select(PersonLinkHold))).all()
    assert hold.existing_person_id == world.person_id
    assert hold.receiving_organisation_id == b.provider.id
    assert hold.submitted["familyName"] == "Intruder"
    assert hold.submitted["address"]["line1"] == "1 Other Road"
    assert str(hold.id) == held["reference"]

    # A data-quality case on B's own worklist, carrying B's version only.
    cases = await b.office.execute(CASES)
    [case] = cases.ok()["exceptionCases"]["nodes"]
    assert (case["subjectType"], case["subjectId"], case["personId"]) == (
        "person_link_hold",
        str(hold.id),
        None,
    )
    _shows_nothing_of_edith(json.dumps(cases.body))
    # A's office and A's council are not told who tried (their worklists are theirs alone).
    assert (await world.a.office.execute(CASES)).ok()["exceptionCases"]["nodes"] == []
    async with read_only(sessions) as session:
        stored = await session.scalar(
            select(ExceptionCase).where(ExceptionCase.subject_id == hold.id)
        )
    assert stored is not None
    assert stored.person_id is None

    # Both versions to whoever may see the existing record (office A); B sees its own only.
    [theirs] = (await b.office.execute(HOLDS)).ok()["personLinkHolds"]["nodes"]
    assert (theirs["id"], theirs["existingPerson"]) == (str(hold.id), None)
    assert theirs["submitted"]["familyName"] == "Intruder"
    [owners] = (await world.a.office.execute(HOLDS)).ok()["personLinkHolds"]["nodes"]
    assert owners["submitted"]["familyName"] == "Intruder"
    assert owners["existingPerson"] == {"familyName": "Crawley", "keySafeCode": "4242"}

    # The event of the hold names neither the person nor what differed.
    [event] = await _events(sessions, "person.link_held")
    assert event.person_id is None
    assert "Crawley" not in str(event.payload)
    assert "family_name" not in str(event.payload)


async def test_a_held_number_never_answers_as_a_duplicate(world: World) -> None:
    """The old answer, DUPLICATE_NHS_NUMBER, told any office that someone held the number."""
    b = world.b
    for attempt in (
        _attacker_registration(),
        _attacker_registration(familyName="Crawley"),  # right name, wrong date of birth
        _attacker_registration(dateOfBirth="1938-05-02"),  # right date, wrong name
    ):
        answer = (await b.office.execute(REGISTER, {"input": attempt})).ok()["registerPerson"]
        assert answer["__typename"] == "PersonHeldForReview", attempt
        assert answer.get("code") != "DUPLICATE_NHS_NUMBER"


async def test_a_full_demographic_match_links_the_office_and_records_the_match(
    world: World, sessions: SessionFactory
) -> None:
    b = world.b
    # The family name as another system writes it: case, spaces, hyphens, apostrophes.
    answer = (
        await b.office.execute(
            REGISTER,
            {
                "input": _attacker_registration(
                    givenName="E", familyName=" crAW-ley' ", dateOfBirth="1938-05-02"
                )
            },
        )
    ).ok()["registerPerson"]

    # Linked to the existing record: one person, now in B's scope.
    assert answer["__typename"] == "Person"
    assert answer["id"] == world.person_gid
    assert answer["familyName"] == "Crawley"
    [link] = await _links(sessions, b.provider)
    assert (link.person_id, link.basis, link.source) == (
        world.person_id,
        LinkBasis.DEMOGRAPHIC_MATCH,
        "office",
    )
    assert link.matched_fields == ["nhs_number", "date_of_birth", "family_name"]
    [event] = await _events(sessions, "person.linked")
    assert (event.person_id, event.organisation_id) == (world.person_id, b.provider.id)
    assert event.payload["matchedFields"] == ["nhs_number", "date_of_birth", "family_name"]
    assert event.payload["source"] == "office"
    # B's first read of the record is in the access log like any other.
    async with read_only(sessions) as session:
        entries = (
            await session.scalars(
                select(AccessLogEntry).where(AccessLogEntry.organisation_id == b.provider.id)
            )
        ).all()
    assert [entry.person_ids for entry in entries] == [[world.person_id]]
    read = (await b.office.execute(PERSON, {"id": world.person_gid})).ok()
    assert read["person"]["familyName"] == "Crawley"


def test_family_names_compare_as_a_trace_would() -> None:
    same = service.normalise_family_name
    assert same("O'Brien-Smith") == same("obrien smith") == same("O\u2019BRIEN\u2010SMITH")
    assert same("Crawley") != same("Crawford")
    assert same(" ") == ""


# --- by NHS number: the portal --------------------------------------------------------------


def _file(*rows: tuple[str, str, str, str, str]) -> str:
    header = (
        "Package Reference,Change Type,Effective Date,NHS Number,Family Name,Given Name,"
        "Date of Birth,Service Type,Start Date,Weekly Hours,Visits per Day,Time Critical,"
        "Double Handed,Provider ODS\r\n"
    )
    lines = [
        f"{ref},new,01/12/2026,{nhs},{family},{given},{born},Homecare,01/12/2026,10,2,N,N,BB222"
        for ref, nhs, family, given, born in rows
    ]
    return base64.b64encode((header + "\r\n".join(lines) + "\r\n").encode()).decode()


async def _import(side: Side, content: str) -> tuple[dict[str, Any], str]:
    response = await side.commissioner.execute(
        IMPORT,
        {
            "input": {
                "contractId": side.contract_gid,
                "format": "CSV",
                "filename": "brokerage.csv",
                "content": content,
                "base64": True,
            }
        },
    )
    return response.ok()["importPortalFile"], json.dumps(response.body)


async def test_a_portal_row_with_another_tenants_number_is_held_and_shows_nothing(
    world: World, sessions: SessionFactory
) -> None:
    b = world.b
    batch, text = await _import(
        b, _file(("SV-PKG-1", "943 476 5919", "Anyone", "Any", "01/01/1960"))
    )

    assert (batch["appliedRows"], batch["invalidRows"]) == (0, 1)
    [row] = batch["rows"]["nodes"]
    assert (row["status"], row["personId"], row["packageId"]) == ("INVALID", None, None)
    [problem] = row["problems"]
    assert (problem["column"], problem["code"]) == ("nhs_number", "held_for_review")
    assert "held for review by Southvale Homecare" in problem["problem"]
    assert problem["rawValue"] == "943 476 5919"
    # The row is kept whole: every cell the council sent.
    cells = {cell["column"]: cell["value"] for cell in row["cells"]}
    assert (cells["family_name"], cells["date_of_birth"], cells["package_reference"]) == (
        "Anyone",
        "01/01/1960",
        "SV-PKG-1",
    )
    _shows_nothing_of_edith(text)
    assert str(world.person_id) not in text

    assert await _package_count(sessions) == 0
    assert await _links(sessions, b.provider) == await _links(sessions, b.council) == []
    for client in (b.commissioner, b.office):
        read = await client.execute(PERSON, {"id": world.person_gid})
        assert read.ok()["person"] is None
        assert read.ok()["node"] is None
    # The provider's office has the data-quality case (its council sees it on its contract).
    for client in (b.office, b.commissioner):
        cases = await client.execute(CASES)
        [case] = cases.ok()["exceptionCases"]["nodes"]
        assert case["contract"] == {"reference": b.contract_reference}
        assert case["personId"] is None
        _shows_nothing_of_edith(json.dumps(cases.body))
    async with read_only(sessions) as session:
        [hold] = (await session.scalars(select(PersonLinkHold))).all()
    assert (hold.receiving_organisation_id, hold.sender_organisation_id) == (
        b.provider.id,
        b.council.id,
    )
    assert hold.existing_person_id == world.person_id


async def test_a_portal_row_that_matches_links_provider_and_council(
    world: World, sessions: SessionFactory
) -> None:
    b = world.b
    batch, _ = await _import(b, _file(("SV-PKG-2", "9434765919", "CRAWLEY", "Edith", "02/05/1938")))

    assert (batch["appliedRows"], batch["invalidRows"]) == (1, 0)
    [row] = batch["rows"]["nodes"]
    assert row["personId"] == world.person_gid
    assert {link.person_id for link in await _links(sessions, b.provider)} == {world.person_id}
    assert {link.person_id for link in await _links(sessions, b.council)} == {world.person_id}
    linked = await _events(sessions, "person.linked")
    assert {event.organisation_id for event in linked} == {b.provider.id, b.council.id}
    assert {event.payload["source"] for event in linked} == {f"la-portal:{b.contract_reference}"}
    read = (await b.office.execute(PERSON, {"id": world.person_gid})).ok()
    assert read["person"]["familyName"] == "Crawley"


async def test_a_fresh_number_is_imported_as_before(world: World, sessions: SessionFactory) -> None:
    b = world.b
    batch, _ = await _import(
        b, _file(("SV-PKG-3", "9990000018", "Hartley", "Margaret", "14/03/1938"))
    )
    assert (batch["appliedRows"], batch["invalidRows"]) == (1, 0)
    assert await _events(sessions, "person.linked") == []
