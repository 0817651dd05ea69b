"""Visits over GraphQL/HTTP: generation (counts, idempotency, the triage hold), competency-gated
assignment with its typed refusal, cancellation, the derived status filter, the carer's view,
tenancy through lists, `visit(id:)` and `node(id:)`, and batched nested lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages.models import CarePackage
from hub.packages.triage import Rag
from hub.staff.competency import CompetencyStatus
from hub.staff.models import StaffMember
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities
from tests.support.sqlcount import counting_statements

MEDICATION_TASK = {
    "code": "administer_medication",
    "description": "Administer medication",
    "requires": "medication",
}

GENERATE = """
mutation Generate($input: GenerateVisitsInput!) {
  generateVisits(input: $input) {
    __typename
    ... on VisitGeneration {
      created existing outsidePackageDates superseded
      package { reference }
      visits { plannedStart localDate startResolution status tasks { code requires } }
    }
    ... on UserError { code message }
    ... on InvalidInputError { field }
  }
}"""

ASSIGN = """
mutation Assign($input: AssignCarersInput!) {
  assignCarers(input: $input) {
    __typename
    ... on Visit { id status assignedCarers { name } }
    ... on AssignmentRefusedError {
      code message
      refusals { code message carerId competence tasks carer { name } }
    }
    ... on UserError { code message }
  }
}"""

CANCEL = """
mutation Cancel($input: CancelVisitInput!) {
  cancelVisit(input: $input) {
    __typename
    ... on Visit { status cancellationReason }
    ... on UserError { code message }
    ... on InvalidInputError { field }
  }
}"""

VISITS = """
query Visits($from: DateTime!, $to: DateTime!, $status: [VisitStatus!], $carer: ID,
             $package: ID, $first: Int, $after: String) {
  visits(from: $from, to: $to, status: $status, carerId: $carer, packageId: $package,
         first: $first, after: $after) {
    nodes { id status plannedStart lateAfter missedAfter package { reference } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@dataclass
class Parties:
    provider: Organisation
    other_provider: Organisation
    contract: Contract
    other_contract: Contract


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
    return Parties(provider, other_provider, contract, other_contract)


def gid(type_name: str, value: uuid.UUID) -> str:
    return encode_global_id(type_name, value)


async def client_for(
    http: httpx.AsyncClient,
    identities: Identities,
    role: Role,
    organisation: Organisation,
    staff: StaffMember | None = None,
) -> GraphQLClient:
    token = await identities.token(
        role, organisation_id=organisation.id, staff_id=staff.id if staff else None
    )
    return GraphQLClient(http, token=token)


async def run(client: GraphQLClient, document: str, **values: Any) -> dict[str, Any]:
    data = (await client.execute(document, {"input": values})).ok()
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def _carer(
    sessions: SessionFactory, organisation: Organisation, status: CompetencyStatus
) -> StaffMember:
    async with unit_of_work(sessions) as session:
        return await builders.create_staff(
            session,
            organisation=organisation,
            competencies={"medication": status},
            expires_on=date(2027, 6, 30),
        )


async def test_generate_assign_and_cancel(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, parties: Parties
) -> None:
    async with unit_of_work(sessions) as session:
        package = await builders.create_package(session, contract=parties.contract)
        await builders.add_schedule_entry(
            session, package, start_time=time(1, 30), weekdays=[7], tasks=[MEDICATION_TASK]
        )
        held = await builders.create_package(
            session, contract=parties.contract, rag=Rag.RED, held_out_of_rota=True
        )
        await builders.add_schedule_entry(session, held)
    evidenced = await _carer(sessions, parties.provider, CompetencyStatus.EVIDENCED)
    restricted = await _carer(sessions, parties.provider, CompetencyStatus.RESTRICTED)
    office = await client_for(http, identities, Role.COORDINATOR, parties.provider)
    package_id = gid("CarePackage", package.id)

    # Sundays 01:30 in October 2026; the 25th is the clock change.
    generated = await run(
        office, GENERATE, packageId=package_id, dateFrom="2026-10-18", dateTo="2026-10-31"
    )
    assert generated["__typename"] == "VisitGeneration"
    assert (generated["created"], generated["existing"]) == (2, 0)
    assert [
        (v["plannedStart"], v["localDate"], v["startResolution"]) for v in generated["visits"]
    ] == [
        ("2026-10-18T00:30:00+00:00", "2026-10-18", "EXACT"),
        ("2026-10-25T00:30:00+00:00", "2026-10-25", "FIRST_OF_REPEATED"),
    ]
    assert generated["visits"][0]["tasks"] == [
        {"code": "administer_medication", "requires": "medication"}
    ]
    again = await run(
        office, GENERATE, packageId=package_id, dateFrom="2026-10-18", dateTo="2026-11-29"
    )
    assert (again["created"], again["existing"]) == (5, 2)
    upcoming = next(v for v in again["visits"] if v["localDate"] == "2026-11-29")
    assert upcoming["status"] == "SCHEDULED"

    refused = await run(
        office,
        GENERATE,
        packageId=gid("CarePackage", held.id),
        dateFrom="2026-12-01",
        dateTo="2026-12-02",
    )
    assert (refused["__typename"], refused["code"]) == ("ConflictError", "PACKAGE_HELD_OUT_OF_ROTA")
    too_long = await run(
        office, GENERATE, packageId=package_id, dateFrom="2026-12-01", dateTo="2027-03-01"
    )
    assert (too_long["__typename"], too_long["field"]) == ("InvalidInputError", "dateTo")

    data = (
        await office.execute(
            VISITS,
            {"from": "2026-11-29T00:00:00Z", "to": "2026-11-30T00:00:00Z"},
        )
    ).ok()
    visit_id = data["visits"]["nodes"][0]["id"]

    refusal = await run(
        office,
        ASSIGN,
        visitId=visit_id,
        staffIds=[gid("StaffMember", restricted.id), gid("StaffMember", evidenced.id)],
    )
    assert refusal["__typename"] == "AssignmentRefusedError"
    assert refusal["code"] == "ASSIGNMENT_REFUSED"
    name = f"{restricted.given_name} {restricted.family_name}"
    assert refusal["refusals"] == [
        {
            "code": "WRONG_NUMBER_OF_CARERS",
            "message": "this visit is single-handed and needs 1 carer; 2 given",
            "carerId": None,
            "competence": None,
            "tasks": [],
            "carer": None,
        },
        {
            "code": "COMPETENCE_RESTRICTED",
            "message": f"{name} cannot be assigned: medication competence is restricted "
            "(task: Administer medication)",
            "carerId": gid("StaffMember", restricted.id),
            "competence": "medication",
            "tasks": ["Administer medication"],
            "carer": {"name": name},
        },
    ]
    unknown = await run(
        office, ASSIGN, visitId=visit_id, staffIds=[gid("StaffMember", uuid.uuid4())]
    )
    assert (unknown["__typename"], unknown["code"]) == ("NotFoundError", "STAFF_NOT_FOUND")
    assigned = await run(
        office, ASSIGN, visitId=visit_id, staffIds=[gid("StaffMember", evidenced.id)]
    )
    assert assigned["__typename"] == "Visit"
    assert assigned["assignedCarers"] == [
        {"name": f"{evidenced.given_name} {evidenced.family_name}"}
    ]

    blank = await run(office, CANCEL, visitId=visit_id, reason=" ")
    assert (blank["__typename"], blank["field"]) == ("InvalidInputError", "reason")
    cancelled = await run(office, CANCEL, visitId=visit_id, reason="person in respite")
    assert cancelled == {
        "__typename": "Visit",
        "status": "CANCELLED",
        "cancellationReason": "person in respite",
    }
    twice = await run(office, CANCEL, visitId=visit_id, reason="again")
    assert (twice["__typename"], twice["code"]) == ("ConflictError", "VISIT_CANCELLED")

    # Only the office writes: a carer's attempt is refused before anything runs.
    carer = await client_for(http, identities, Role.CARER, parties.provider, evidenced)
    denied = await carer.execute(CANCEL, {"input": {"visitId": visit_id, "reason": "x"}})
    assert denied.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_visits_query_filters_status_carer_and_tenancy(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    parties: Parties,
    clock: FixedClock,
) -> None:
    anna = await _carer(sessions, parties.provider, CompetencyStatus.EVIDENCED)
    ben = await _carer(sessions, parties.provider, CompetencyStatus.EVIDENCED)
    now = clock.now()  # 2026-11-23 09:00 UTC; contract: late after 15 min, missed after 60
    async with unit_of_work(sessions) as session:
        package = await builders.create_package(session, contract=parties.contract, reference="V-1")
        foreign_package = await builders.create_package(session, contract=parties.other_contract)
        at = {
            "missed": now - timedelta(minutes=61),
            "late_edge": now - timedelta(minutes=60),
            "scheduled_edge": now - timedelta(minutes=15),
            "late": now - timedelta(minutes=15, microseconds=1),
            "future": now + timedelta(hours=2),
        }
        visits = {
            key: await builders.create_visit(
                session,
                package=package,
                planned_start=start,
                carers=(anna,) if key != "future" else (ben,),
            )
            for key, start in at.items()
        }
        foreign = await builders.create_visit(session, package=foreign_package, planned_start=now)
    office = await client_for(http, identities, Role.COORDINATOR, parties.provider)
    window = {"from": "2026-11-23T00:00:00Z", "to": "2026-11-24T00:00:00+00:00"}

    async def listed(client: GraphQLClient = office, **variables: Any) -> list[tuple[str, str]]:
        data = (await client.execute(VISITS, {**window, **variables})).ok()
        return [(node["id"], node["status"]) for node in data["visits"]["nodes"]]

    def vid(key: str) -> str:
        return gid("Visit", visits[key].id)

    assert await listed() == [
        (vid("missed"), "MISSED"),
        (vid("late_edge"), "LATE"),
        (vid("late"), "LATE"),
        (vid("scheduled_edge"), "SCHEDULED"),
        (vid("future"), "SCHEDULED"),
    ]
    assert await listed(status=["LATE"]) == [(vid("late_edge"), "LATE"), (vid("late"), "LATE")]
    assert [i for i, _ in await listed(status=["SCHEDULED", "MISSED"])] == [
        vid("missed"),
        vid("scheduled_edge"),
        vid("future"),
    ]
    assert [i for i, _ in await listed(carer=gid("StaffMember", ben.id))] == [vid("future")]
    assert await listed(package=gid("CarePackage", foreign_package.id)) == []
    # Pages over a status filter: complete and in order.
    data = (
        await office.execute(VISITS, {**window, "status": ["SCHEDULED", "LATE"], "first": 2})
    ).ok()
    first_ids = [node["id"] for node in data["visits"]["nodes"]]
    rest = await listed(
        status=["SCHEDULED", "LATE"], first=2, after=data["visits"]["pageInfo"]["endCursor"]
    )
    assert first_ids + [i for i, _ in rest] == [
        vid("late_edge"),
        vid("late"),
        vid("scheduled_edge"),
        vid("future"),
    ]
    # A naive time is refused with its field.
    naive = await office.execute(VISITS, {"from": "2026-11-23T00:00:00", "to": window["to"]})
    assert naive.errors[0]["extensions"] == {"code": "NAIVE_DATETIME", "field": "from"}

    # A carer sees only the visits assigned to them.
    carer = await client_for(http, identities, Role.CARER, parties.provider, ben)
    assert [i for i, _ in await listed(carer)] == [vid("future")]
    # Another provider's visit: not listed, null by id and by node.
    lookup = """query One($id: ID!) { visit(id: $id) { id } node(id: $id) { id } }"""
    foreign_id = gid("Visit", foreign.id)
    assert foreign_id not in [i for i, _ in await listed()]
    assert (await office.execute(lookup, {"id": foreign_id})).ok() == {"visit": None, "node": None}
    assert (await carer.execute(lookup, {"id": vid("missed")})).ok() == {
        "visit": None,
        "node": None,
    }
    mine = (await carer.execute(lookup, {"id": vid("future")})).ok()
    assert mine == {"visit": {"id": vid("future")}, "node": {"id": vid("future")}}


async def _packages_with_visits(
    sessions: SessionFactory, contract: Contract, carers: list[StaffMember], count: int
) -> list[CarePackage]:
    start = datetime.fromisoformat("2026-11-24T08:00:00+00:00")
    created: list[CarePackage] = []
    async with unit_of_work(sessions) as session:
        for _ in range(count):
            package = await builders.create_package(session, contract=contract)
            await builders.add_schedule_entry(session, package)
            for day in range(4):
                await builders.create_visit(
                    session,
                    package=package,
                    planned_start=start + timedelta(days=day),
                    carers=(carers[day % len(carers)],),
                )
            created.append(package)
    return created


async def test_nested_lists_are_batched(
    app: Starlette,
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    parties: Parties,
) -> None:
    carers = [
        await _carer(sessions, parties.provider, CompetencyStatus.EVIDENCED) for _ in range(3)
    ]
    office = await client_for(http, identities, Role.COORDINATOR, parties.provider)
    query = """
    query Board {
      carePackages(first: 50) {
        nodes {
          reference rag provider { name } contract { id } person { id }
          schedule { startTime }
          nextVisits(first: 3) {
            status package { reference }
            assignedCarers { name competencies { competence effectiveStatus } }
          }
        }
      }
    }"""

    async def measure() -> tuple[int, dict[str, Any]]:
        with counting_statements(app.state.runtime.engine) as log:
            data = (await office.execute(query)).ok()
        return len(log.queries()), data

    await _packages_with_visits(sessions, parties.contract, carers, 2)
    small, small_data = await measure()
    await _packages_with_visits(sessions, parties.contract, carers, 6)
    large, large_data = await measure()
    assert len(small_data["carePackages"]["nodes"]) == 2
    nodes = large_data["carePackages"]["nodes"]
    assert len(nodes) == 8
    assert all(len(node["nextVisits"]) == 3 for node in nodes)
    assert all(len(v["assignedCarers"]) == 1 for node in nodes for v in node["nextVisits"])
    assert all(node["schedule"] == [{"startTime": "08:00:00"}] for node in nodes)
    assert large == small, (small, large)
