"""People over GraphQL/HTTP: tenancy (list, by id, node), the key-safe window, the access log,
the NhsNumber scalar, and each mutation's typed errors and permissions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation, OrganisationKind
from hub.people.models import Person
from hub.staff.models import StaffMember
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

ERRORS = """
    ... on UserError { __typename code message }
    ... on InvalidInputError { field reason }
"""


@dataclass
class World:
    provider: Organisation
    other_provider: Organisation
    council: Organisation
    person: Person
    other_person: Person
    carer: StaffMember

    @property
    def person_id(self) -> str:
        return encode_global_id("Person", self.person.id)


@pytest.fixture
async def world(sessions: SessionFactory) -> World:
    async with unit_of_work(sessions) as session:
        council = await builders.create_organisation(session, kind=OrganisationKind.LOCAL_AUTHORITY)
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        other_provider = await builders.create_organisation(session, name="Hillside Care")
        contract = await builders.create_contract(session, commissioner=council, provider=provider)
        other_contract = await builders.create_contract(session, provider=other_provider)
        person = await builders.create_person(
            session, given_name="Edith", family_name="Crawley", nhs_number="9434765919"
        )
        other_person = await builders.create_person(session, family_name="Crawford")
        package = await builders.create_package(session, contract=contract, person=person)
        await builders.create_package(session, contract=other_contract, person=other_person)
        carer = await builders.create_staff(session, organisation=provider)
        await builders.create_visit(
            session,
            package=package,
            carers=(carer,),
            planned_start=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        )
    return World(provider, other_provider, council, person, other_person, carer)


async def _as(
    http: httpx.AsyncClient,
    identities: Identities,
    role: Role,
    organisation: Organisation,
    staff: StaffMember | None = None,
) -> GraphQLClient:
    token = await identities.token(
        role,
        organisation_id=organisation.id,
        staff_id=staff.id if staff else None,
        ttl=timedelta(hours=4),  # tests move the clock through a visit window
    )
    return GraphQLClient(http, token=token)


async def _access_log(sessions: SessionFactory) -> list[AccessLogEntry]:
    async with read_only(sessions) as session:
        rows = await session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id))
        return list(rows.all())


PERSON_FIELDS = """
    id name givenName familyName dateOfBirth nhsNumber nhsNumberFormatted nhsNumberStatus createdAt
    address { line1 town postcode } contacts { name } medicationSupport
    riskFlags { falls safeguarding dnar loneWorking livesAlone }
    accessDetails keySafeCode
"""


async def test_another_providers_office_cannot_see_the_person_by_list_id_or_node(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, world: World
) -> None:
    query = f"""query($id: ID!) {{
        people {{ nodes {{ familyName }} }}
        person(id: $id) {{ {PERSON_FIELDS} }}
        node(id: $id) {{ ... on Person {{ familyName }} }}
    }}"""
    own = await _as(http, identities, Role.COORDINATOR, world.provider)
    data = (await own.execute(query, {"id": world.person_id})).ok()
    assert data["people"]["nodes"] == [{"familyName": "Crawley"}]
    assert data["person"]["nhsNumber"] == "9434765919"
    assert data["person"]["nhsNumberFormatted"] == "943 476 5919"
    assert data["person"]["nhsNumberStatus"] == "UNVERIFIED"
    assert data["node"] == {"familyName": "Crawley"}
    [entry] = await _access_log(sessions)
    assert entry.person_ids == [world.person.id]
    assert set(entry.fields) == {"people", "person", "node"}

    other = await _as(http, identities, Role.COORDINATOR, world.other_provider)
    data = (await other.execute(query, {"id": world.person_id})).ok()
    assert data["people"]["nodes"] == [{"familyName": "Crawford"}]
    assert data["person"] is None
    assert data["node"] is None


async def test_the_key_safe_code_shows_to_the_carer_only_inside_the_visit_window(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    world: World,
) -> None:
    office = await _as(http, identities, Role.REGISTERED_MANAGER, world.provider)
    set_access = f"""mutation($input: SetAccessDetailsInput!) {{
        setAccessDetails(input: $input) {{
            __typename ... on Person {{ accessDetails keySafeCode updatedAt }} {ERRORS}
        }}
    }}"""
    result = (
        await office.execute(
            set_access,
            {
                "input": {
                    "personId": world.person_id,
                    "accessDetails": "Side door",
                    "keySafeCode": "C1234",
                }
            },
        )
    ).ok()["setAccessDetails"]
    assert result.pop("updatedAt")
    assert result == {"__typename": "Person", "accessDetails": "Side door", "keySafeCode": "C1234"}

    carer = await _as(http, identities, Role.CARER, world.provider, world.carer)
    query = """query($id: ID!) { person(id: $id) { familyName accessDetails keySafeCode } }"""
    # 09:00: the 10:00 visit's window opens at 09:30.
    early = (await carer.execute(query, {"id": world.person_id})).ok()["person"]
    assert early == {"familyName": "Crawley", "accessDetails": None, "keySafeCode": None}
    clock.advance(timedelta(minutes=30))
    inside = (await carer.execute(query, {"id": world.person_id})).ok()["person"]
    assert inside == {"familyName": "Crawley", "accessDetails": "Side door", "keySafeCode": "C1234"}
    clock.advance(timedelta(hours=1, minutes=30, seconds=1))  # 11:00:01: end + 30 min passed
    late = (await carer.execute(query, {"id": world.person_id})).ok()["person"]
    assert late["keySafeCode"] is None

    commissioner = await _as(http, identities, Role.COMMISSIONER, world.council)
    seen = (await commissioner.execute(query, {"id": world.person_id})).ok()["person"]
    assert seen == {"familyName": "Crawley", "accessDetails": None, "keySafeCode": None}

    log = await _access_log(sessions)
    assert [sorted(entry.fields) for entry in log] == [
        ["accessDetails", "keySafeCode", "setAccessDetails"],
        ["person"],
        ["accessDetails", "keySafeCode", "person"],
        ["person"],
        ["person"],
    ]
    assert {entry.role for entry in log[1:4]} == {"carer"}


REGISTER = f"""mutation($input: RegisterPersonInput!) {{
    registerPerson(input: $input) {{
        __typename ... on Person {{ {PERSON_FIELDS} }} {ERRORS}
    }}
}}"""


def _register_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "givenName": "Arthur",
        "familyName": "Dent",
        "dateOfBirth": "1947-03-11",
        "nhsNumber": "999 000 0018",
        "address": {"line1": "155 Country Lane", "town": "Cottington", "postcode": "ct1 1aa"},
        "contacts": [{"name": "Ford Prefect", "relationship": "friend", "keyHolder": True}],
        "riskFlags": {"falls": True, "loneWorking": True},
        "medicationSupport": "PROMPT",
        "keySafeCode": "4242",
    }
    values.update(overrides)
    return values


async def test_register_person_checks_the_nhs_number_at_the_edge(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    office = await _as(http, identities, Role.COORDINATOR, world.provider)
    refused = await office.execute(REGISTER, {"input": _register_input(nhsNumber="9434765918")})
    assert refused.data is None
    [error] = refused.errors
    assert "not a valid NHS number: check digit is 8 but modulus 11 gives 9" in error["message"]
    placeholder = await office.execute(REGISTER, {"input": _register_input(nhsNumber="9999999999")})
    assert "ten copies of one digit" in placeholder.errors[0]["message"]

    created = (await office.execute(REGISTER, {"input": _register_input()})).ok()["registerPerson"]
    assert created["__typename"] == "Person"
    assert (created["nhsNumber"], created["nhsNumberStatus"]) == ("9990000018", "UNVERIFIED")
    assert created["address"]["postcode"] == "CT1 1AA"
    assert created["riskFlags"] == {
        "falls": True,
        "safeguarding": False,
        "dnar": False,
        "loneWorking": True,
        "livesAlone": False,
    }
    assert created["medicationSupport"] == "PROMPT"
    # Sealed on the way in and readable by the registering office (it keeps sight of the
    # person before any package links them).
    assert created["keySafeCode"] == "4242"

    # Registering the same number again is refused only because the office can see the
    # record already (another office's number goes through the demographic match instead).
    duplicate = (await office.execute(REGISTER, {"input": _register_input()})).ok()[
        "registerPerson"
    ]
    assert (duplicate["__typename"], duplicate["code"]) == (
        "ConflictError",
        "DUPLICATE_NHS_NUMBER",
    )
    future = (
        await office.execute(
            REGISTER, {"input": _register_input(nhsNumber=None, dateOfBirth="2027-01-01")}
        )
    ).ok()["registerPerson"]
    assert (future["__typename"], future["field"]) == ("InvalidInputError", "dateOfBirth")


async def test_only_office_staff_change_people_and_foreign_people_are_not_found(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    update = f"""mutation($input: UpdatePersonRisksInput!) {{
        updatePersonRisks(input: $input) {{
            __typename ... on Person {{ medicationSupport riskFlags {{ dnar }} }} {ERRORS}
        }}
    }}"""

    def change(person: Person) -> dict[str, Any]:
        return {
            "input": {
                "personId": encode_global_id("Person", person.id),
                "riskFlags": {"dnar": True, "escalationPreferences": "ReSPECT: treat at home"},
                "medicationSupport": "ADMINISTER",
            }
        }

    office = await _as(http, identities, Role.COORDINATOR, world.provider)
    own = (await office.execute(update, change(world.person))).ok()["updatePersonRisks"]
    assert own == {
        "__typename": "Person",
        "medicationSupport": "ADMINISTER",
        "riskFlags": {"dnar": True},
    }
    foreign = (await office.execute(update, change(world.other_person))).ok()["updatePersonRisks"]
    assert (foreign["__typename"], foreign["code"]) == ("NotFoundError", "PERSON_NOT_FOUND")

    carer = await _as(http, identities, Role.CARER, world.provider, world.carer)
    denied = await carer.execute(update, change(world.person))
    assert denied.errors[0]["extensions"]["code"] == "FORBIDDEN"
    partner = await _as(http, identities, Role.PARTNER_CLIENT, world.provider)
    listing = await partner.execute("{ people { nodes { id } } }")
    assert listing.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_people_are_searched_by_name_or_nhs_number_and_paged(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, world: World
) -> None:
    admin = GraphQLClient(http, token=await identities.token(Role.ADMIN))
    query = """query($search: String, $after: String) {
        people(search: $search, first: 1, after: $after) {
            nodes { familyName } pageInfo { hasNextPage endCursor }
        }
    }"""

    async def names(search: str | None, after: str | None = None) -> dict[str, Any]:
        page: dict[str, Any] = (
            await admin.execute(query, {"search": search, "after": after})
        ).ok()["people"]
        return page

    assert (await names("943 476 5919"))["nodes"] == [{"familyName": "Crawley"}]
    assert (await names("edith craw"))["nodes"] == [{"familyName": "Crawley"}]
    assert (await names("100%"))["nodes"] == []
    first = await names("craw")
    assert first["nodes"] == [{"familyName": "Crawford"}]
    second = await names("craw", first["pageInfo"]["endCursor"])
    assert second["nodes"] == [{"familyName": "Crawley"}]
    assert second["pageInfo"]["hasNextPage"] is False
    [*_, last] = await _access_log(sessions)
    assert last.person_ids == [world.person.id]
