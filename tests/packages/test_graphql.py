"""Care packages over GraphQL/HTTP: the office's flow (create, schedule, move, triage, release),
nested fields, each expected error's __typename, permissions, filters and tenancy through lists,
`carePackage(id:)` and `node(id:)`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.graphql.ids import encode_global_id
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages.lifecycle import PackageStatus
from hub.packages.triage import Rag
from hub.people.models import Person
from hub.people.vocabulary import MedicationSupport
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

PACKAGE_FIELDS = """
  __typename
  ... on CarePackage {
    id reference status allowedNextStatuses startsOn rag heldOutOfRota informationGaps
    ragReasons { code rating sentence }
    schedule { weekdays startTime durationMinutes timeCritical doubleHanded
               tasks { code description requires requiresLabel } }
    provider { name }
    contract { id }
    person { id }
  }
  ... on UserError { code message }
  ... on InvalidInputError { field }
"""


def mutation(name: str, input_type: str, extra: str = "") -> str:
    return f"""
mutation Run($input: {input_type}!) {{
  {name}(input: $input) {{ {PACKAGE_FIELDS} {extra} }}
}}"""


CREATE = mutation("createCarePackage", "CreateCarePackageInput")
CHANGE = mutation(
    "changePackageStatus",
    "ChangePackageStatusInput",
    "... on IllegalPackageTransitionError { current target allowed }",
)
SCHEDULE = mutation("setPackageSchedule", "SetPackageScheduleInput")
TRIAGE = mutation("triagePackage", "TriagePackageInput")
RELEASE = mutation("releaseTriageHold", "ReleaseTriageHoldInput")

VISIBILITY = """
query Visible($id: ID!) {
  carePackages(first: 50) { nodes { id } }
  carePackage(id: $id) { id }
  node(id: $id) { id ... on CarePackage { reference } }
}"""


@dataclass
class Parties:
    provider: Organisation
    other_provider: Organisation
    contract: Contract
    other_contract: Contract
    person: Person


@pytest.fixture
async def parties(sessions: SessionFactory) -> Parties:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        other_provider = await builders.create_organisation(session, name="Hilltop Care")
        commissioner = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY
        )
        contract = await builders.create_contract(
            session, commissioner=commissioner, provider=provider
        )
        other_contract = await builders.create_contract(
            session, commissioner=commissioner, provider=other_provider
        )
        person = await builders.create_person(
            session,
            falls_risk=True,
            medication_support=MedicationSupport.ADMINISTER,
            registered_by_id=provider.id,
        )
    return Parties(provider, other_provider, contract, other_contract, person)


async def office(
    http: httpx.AsyncClient, identities: Identities, organisation: Organisation
) -> GraphQLClient:
    token = await identities.token(Role.COORDINATOR, organisation_id=organisation.id)
    return GraphQLClient(http, token=token)


def gid(type_name: str, value: uuid.UUID) -> str:
    return encode_global_id(type_name, value)


async def run(client: GraphQLClient, document: str, **values: Any) -> dict[str, Any]:
    data = (await client.execute(document, {"input": values})).ok()
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def test_the_office_creates_schedules_moves_triages_and_releases_a_package(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, parties: Parties
) -> None:
    client = await office(http, identities, parties.provider)
    created = await run(
        client,
        CREATE,
        personId=gid("Person", parties.person.id),
        contractId=gid("Contract", parties.contract.id),
        startsOn="2026-12-01",
        reference="LA-77",
    )
    assert created["__typename"] == "CarePackage"
    assert created["status"] == "REFERRED"
    assert created["allowedNextStatuses"] == ["ACCEPTED", "ENDED"]
    assert created["provider"] == {"name": "Riverside Homecare"}
    assert created["contract"] == {"id": gid("Contract", parties.contract.id)}
    assert created["person"] == {"id": gid("Person", parties.person.id)}
    package = created["id"]

    scheduled = await run(
        client,
        SCHEDULE,
        packageId=package,
        entries=[
            {
                "weekdays": [1, 2, 3, 4, 5, 6, 7],
                "startTime": "08:00:00",
                "durationMinutes": 45,
                "timeCritical": True,
                "tasks": [
                    {
                        "code": "administer_medication",
                        "description": "Administer insulin",
                        "requires": "medication",
                    }
                ],
            },
            {"weekdays": [3], "startTime": "18:30:00", "durationMinutes": 30},
        ],
    )
    assert scheduled["schedule"] == [
        {
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "startTime": "08:00:00",
            "durationMinutes": 45,
            "timeCritical": True,
            "doubleHanded": False,
            "tasks": [
                {
                    "code": "administer_medication",
                    "description": "Administer insulin",
                    "requires": "medication",
                    "requiresLabel": "medication",
                }
            ],
        },
        {
            "weekdays": [3],
            "startTime": "18:30:00",
            "durationMinutes": 30,
            "timeCritical": False,
            "doubleHanded": False,
            "tasks": [],
        },
    ]
    for status in ("ACCEPTED", "PLANNED"):
        moved = await run(client, CHANGE, packageId=package, status=status)
        assert moved["status"] == status

    triaged = await run(client, TRIAGE, packageId=package, informationGaps=["RISK_ASSESSMENT"])
    assert triaged["rag"] == "RED"
    assert triaged["heldOutOfRota"] is True
    assert triaged["informationGaps"] == ["RISK_ASSESSMENT"]
    assert [(r["code"], r["rating"]) for r in triaged["ragReasons"][:2]] == [
        ("TIME_CRITICAL_MEDICATION_ADMINISTRATION", "RED"),
        ("FALLS_RISK_UNASSESSED", "RED"),
    ]
    assert triaged["ragReasons"][0]["sentence"].startswith(
        "carers administer medication and 7 visits a week are time-critical"
    )

    released = await run(client, RELEASE, packageId=package, reason="assessment done on site")
    assert released["heldOutOfRota"] is False
    assert released["rag"] == "RED"

    # Reading the package's person is recorded in the access log.
    async with read_only(sessions) as session:
        entries = (await session.scalars(select(AccessLogEntry))).all()
    assert any(parties.person.id in entry.person_ids for entry in entries)
    assert any("person" in entry.fields for entry in entries)


async def test_expected_failures_are_typed_union_members(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, parties: Parties
) -> None:
    async with unit_of_work(sessions) as session:
        referred = await builders.create_package(
            session, contract=parties.contract, status=PackageStatus.REFERRED
        )
        green = await builders.create_package(session, contract=parties.contract, rag=Rag.GREEN)
        carer = await builders.create_staff(session, organisation=parties.provider)
    client = await office(http, identities, parties.provider)
    package = gid("CarePackage", referred.id)

    wrong_provider = await run(
        client,
        CREATE,
        personId=gid("Person", parties.person.id),
        contractId=gid("Contract", parties.contract.id),
        providerId=gid("Organisation", parties.other_provider.id),
        startsOn="2026-12-01",
    )
    assert wrong_provider["__typename"] == "InvalidInputError"
    assert (wrong_provider["field"], wrong_provider["code"]) == (
        "providerId",
        "PROVIDER_NOT_ON_CONTRACT",
    )
    foreign_contract = await run(
        client,
        CREATE,
        personId=gid("Person", parties.person.id),
        contractId=gid("Contract", parties.other_contract.id),
        startsOn="2026-12-01",
    )
    assert (foreign_contract["__typename"], foreign_contract["code"]) == (
        "NotFoundError",
        "CONTRACT_NOT_FOUND",
    )
    illegal = await run(client, CHANGE, packageId=package, status="LIVE")
    assert illegal["__typename"] == "IllegalPackageTransitionError"
    assert illegal["code"] == "ILLEGAL_PACKAGE_TRANSITION"
    assert (illegal["current"], illegal["target"], illegal["allowed"]) == (
        "REFERRED",
        "LIVE",
        ["ACCEPTED", "ENDED"],
    )
    assert illegal["message"] == (
        "a package in status referred cannot move to live; allowed: accepted, ended"
    )
    no_reason = await run(client, CHANGE, packageId=package, status="ENDED")
    assert (no_reason["__typename"], no_reason["field"], no_reason["code"]) == (
        "InvalidInputError",
        "reason",
        "REASON_REQUIRED",
    )
    bad_day = await run(
        client,
        SCHEDULE,
        packageId=package,
        entries=[{"weekdays": [8], "startTime": "08:00:00", "durationMinutes": 30}],
    )
    assert (bad_day["__typename"], bad_day["field"]) == ("InvalidInputError", "entries[0].weekdays")
    with_offset = await run(
        client,
        SCHEDULE,
        packageId=package,
        entries=[{"weekdays": [1], "startTime": "08:00:00+01:00", "durationMinutes": 30}],
    )
    assert (with_offset["field"], with_offset["code"]) == (
        "entries[0].startTime",
        "OFFSET_NOT_ALLOWED",
    )
    not_held = await run(client, RELEASE, packageId=gid("CarePackage", green.id), reason="ok")
    assert (not_held["__typename"], not_held["code"]) == ("ConflictError", "NOT_HELD_OUT_OF_ROTA")
    wrong_kind = await run(client, TRIAGE, packageId=gid("Contract", referred.id))
    assert (wrong_kind["__typename"], wrong_kind["field"]) == ("InvalidInputError", "packageId")

    # A carer may read (their own packages) but not write.
    carer_token = await identities.token(
        Role.CARER, organisation_id=parties.provider.id, staff_id=carer.id
    )
    denied = await GraphQLClient(http, token=carer_token).execute(
        TRIAGE, {"input": {"packageId": package}}
    )
    assert denied.data is None
    assert denied.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_filters_pages_and_tenancy(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, parties: Parties
) -> None:
    async with unit_of_work(sessions) as session:
        red = await builders.create_package(
            session,
            contract=parties.contract,
            reference="P-1",
            rag=Rag.RED,
            held_out_of_rota=True,
            status=PackageStatus.PLANNED,
        )
        amber = await builders.create_package(
            session, contract=parties.contract, reference="P-2", rag=Rag.AMBER
        )
        await builders.create_package(
            session, contract=parties.contract, reference="P-3", starts_on=date(2026, 11, 1)
        )
        foreign = await builders.create_package(
            session, contract=parties.other_contract, reference="P-0", rag=Rag.RED
        )
        carer = await builders.create_staff(session, organisation=parties.provider)
        await builders.create_visit(session, package=amber, carers=(carer,))
    client = await office(http, identities, parties.provider)
    listing = """
    query List($rag: [Rag!], $status: [PackageStatus!], $held: Boolean, $contract: ID,
               $first: Int, $after: String) {
      carePackages(rag: $rag, status: $status, heldOutOfRota: $held, contractId: $contract,
                   first: $first, after: $after) {
        nodes { reference }
        pageInfo { hasNextPage endCursor }
      }
    }"""

    async def references(graph: GraphQLClient = client, **variables: Any) -> list[str]:
        data = (await graph.execute(listing, variables)).ok()
        return [node["reference"] for node in data["carePackages"]["nodes"]]

    assert await references() == ["P-1", "P-2", "P-3"]
    assert await references(rag=["RED"]) == ["P-1"]
    assert await references(rag=["AMBER", "RED"]) == ["P-1", "P-2"]
    assert await references(status=["PLANNED"]) == ["P-1"]
    assert await references(held=False) == ["P-2", "P-3"]
    assert await references(contract=gid("Contract", parties.other_contract.id)) == []
    first_page = (await client.execute(listing, {"first": 2})).ok()["carePackages"]
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert await references(first=2, after=first_page["pageInfo"]["endCursor"]) == ["P-3"]

    # Another provider's package: not listed, null by id and by node.
    visible = (await client.execute(VISIBILITY, {"id": gid("CarePackage", foreign.id)})).ok()
    assert "P-0" not in [n["id"] for n in visible["carePackages"]["nodes"]]
    assert visible["carePackage"] is None
    assert visible["node"] is None
    mine = (await client.execute(VISIBILITY, {"id": gid("CarePackage", red.id)})).ok()
    assert mine["node"] == {"id": gid("CarePackage", red.id), "reference": "P-1"}

    # A carer sees the packages of the visits assigned to them, nothing else.
    carer_client = GraphQLClient(
        http,
        token=await identities.token(
            Role.CARER, organisation_id=parties.provider.id, staff_id=carer.id
        ),
    )
    assert await references(carer_client) == ["P-2"]
