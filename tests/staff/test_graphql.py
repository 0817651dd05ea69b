"""Staff over GraphQL/HTTP: registering, recording evidence, deactivating; the effective-status
filter; tenancy through `staffMembers`, `staffMember(id:)` and `node(id:)`; a carer's own record;
permission denials and each expected error's __typename."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.events.log import events_for_subject
from hub.graphql.ids import decode_global_id, encode_global_id
from hub.organisations.models import Organisation, OrganisationKind
from hub.staff.competency import CompetencyStatus
from hub.staff.models import Competency, StaffMember
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities
from tests.support.sqlcount import counting_statements

TODAY = date(2026, 11, 23)  # the `clock` fixture's London date

STAFF_FIELDS = """
  __typename
  ... on StaffMember {
    id name givenName familyName role active tupeTransferredOn
    organisation { name } tupeOrigin { name }
    competencies {
      competence label effectiveStatus storedStatus evidenceReference assessedBy assessedOn
      expiresOn
    }
  }
  ... on UserError { code message }
  ... on InvalidInputError { field reason }
"""

REGISTER = f"""
mutation Register($input: RegisterStaffMemberInput!) {{
  registerStaffMember(input: $input) {{ {STAFF_FIELDS} }}
}}"""

RECORD = f"""
mutation Record($input: RecordCompetencyEvidenceInput!) {{
  recordCompetencyEvidence(input: $input) {{ {STAFF_FIELDS} }}
}}"""

DEACTIVATE = f"""
mutation Deactivate($input: DeactivateStaffMemberInput!) {{
  deactivateStaffMember(input: $input) {{ {STAFF_FIELDS} }}
}}"""

LIST = """
query List($first: Int, $after: String, $competence: String,
           $status: [CompetencyStatus!], $role: [StaffRole!], $active: Boolean) {
  staffMembers(first: $first, after: $after, competence: $competence,
               competencyStatus: $status, role: $role, active: $active) {
    nodes { id name competencies { competence effectiveStatus storedStatus } }
    pageInfo { hasNextPage endCursor }
  }
}"""

LIST_WITH_EMPLOYER = """
{ staffMembers { nodes { name organisation { name } competencies { effectiveStatus } } } }"""

ONE = """
query One($id: ID!) {
  staffMember(id: $id) { id name }
  node(id: $id) { __typename ... on StaffMember { name } }
}"""


def gid(staff: StaffMember) -> str:
    return encode_global_id("StaffMember", staff.id)


def org_gid(organisation: Organisation) -> str:
    return encode_global_id("Organisation", organisation.id)


@dataclass
class World:
    provider: Organisation
    incumbent: Organisation
    asha: StaffMember  # a carer at the provider, medication lapsed yesterday
    ben: StaffMember  # a colleague, medication valid
    tom: StaffMember  # at the incumbent provider
    office: GraphQLClient
    admin: GraphQLClient


async def competency(
    session: Any, staff: StaffMember, status: CompetencyStatus, expires_on: date
) -> None:
    session.add(
        Competency(
            staff_id=staff.id,
            code="medication",
            status=status,
            evidence_reference="MED-1",
            assessed_by="Trainer",
            assessed_on=date(2025, 11, 1),
            expires_on=expires_on,
        )
    )
    await session.flush()


async def arrange(
    sessions: SessionFactory, http: httpx.AsyncClient, identities: Identities
) -> World:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        incumbent = await builders.create_organisation(session, name="Oldtown Care")
        asha = await builders.create_staff(
            session, organisation=provider, given_name="Asha", family_name="Begum"
        )
        await competency(session, asha, CompetencyStatus.EVIDENCED, TODAY - timedelta(days=1))
        ben = await builders.create_staff(
            session, organisation=provider, given_name="Ben", family_name="Cole"
        )
        await competency(session, ben, CompetencyStatus.EVIDENCED, TODAY + timedelta(days=30))
        tom = await builders.create_staff(
            session, organisation=incumbent, given_name="Tom", family_name="Hale"
        )
        await competency(session, tom, CompetencyStatus.EVIDENCED, TODAY - timedelta(days=1))
    office = GraphQLClient(
        http, token=await identities.token(Role.REGISTERED_MANAGER, organisation_id=provider.id)
    )
    admin = GraphQLClient(http, token=await identities.token(Role.ADMIN))
    return World(provider, incumbent, asha, ben, tom, office, admin)


async def test_register_record_and_deactivate_through_graphql(
    sessions: SessionFactory, http: httpx.AsyncClient, identities: Identities
) -> None:
    world = await arrange(sessions, http, identities)
    registered = (
        await world.office.execute(
            REGISTER,
            {
                "input": {
                    "givenName": "Priya",
                    "familyName": "Shah",
                    "role": "SENIOR_CARER",
                    "tupeOriginId": org_gid(world.incumbent),
                    "tupeTransferredOn": "2026-12-01",
                }
            },
        )
    ).ok()["registerStaffMember"]
    assert registered | {"id": None} == {
        "__typename": "StaffMember",
        "id": None,
        "name": "Priya Shah",
        "givenName": "Priya",
        "familyName": "Shah",
        "role": "SENIOR_CARER",
        "active": True,
        "tupeTransferredOn": "2026-12-01",
        "organisation": {"name": "Riverside Homecare"},
        "tupeOrigin": {"name": "Oldtown Care"},
        "competencies": [],
    }
    recorded = (
        await world.office.execute(
            RECORD,
            {
                "input": {
                    "staffMemberId": registered["id"],
                    "competence": "mca_dols",
                    "status": "REVALIDATED",
                    "evidenceReference": "MCA-2026-04",
                    "assessedBy": "Registered manager",
                    "assessedOn": "2026-11-20",
                    "expiresOn": "2027-11-19",
                }
            },
        )
    ).ok()["recordCompetencyEvidence"]
    assert recorded["competencies"] == [
        {
            "competence": "mca_dols",
            "label": "MCA/DoLS awareness",
            "effectiveStatus": "REVALIDATED",
            "storedStatus": "REVALIDATED",
            "evidenceReference": "MCA-2026-04",
            "assessedBy": "Registered manager",
            "assessedOn": "2026-11-20",
            "expiresOn": "2027-11-19",
        }
    ]
    deactivated = (
        await world.office.execute(
            DEACTIVATE, {"input": {"staffMemberId": registered["id"], "reason": "Resigned"}}
        )
    ).ok()["deactivateStaffMember"]
    assert deactivated["active"] is False
    async with read_only(sessions) as session:
        events = await events_for_subject(
            session, "staff_member", decode_global_id(registered["id"])[1]
        )
    assert [e.type for e in events] == [
        "staff.registered",
        "competency.recorded",
        "staff.deactivated",
    ]
    assert {e.organisation_id for e in events} == {world.provider.id}


async def test_expired_by_date_shows_and_filters_as_expired_page_by_page(
    sessions: SessionFactory, http: httpx.AsyncClient, identities: Identities, app: Starlette
) -> None:
    world = await arrange(sessions, http, identities)

    async def names(**variables: Any) -> list[str]:
        data = (await world.office.execute(LIST, variables)).ok()["staffMembers"]
        return [node["name"] for node in data["nodes"]]

    expired = await world.office.execute(LIST, {"competence": "medication", "status": ["EXPIRED"]})
    nodes = expired.ok()["staffMembers"]["nodes"]
    # Stored evidenced, expiry yesterday: expired, and only the caller's organisation's.
    assert nodes == [
        {
            "id": gid(world.asha),
            "name": "Asha Begum",
            "competencies": [
                {
                    "competence": "medication",
                    "effectiveStatus": "EXPIRED",
                    "storedStatus": "EVIDENCED",
                }
            ],
        }
    ]
    assert await names(competence="medication", status=["EVIDENCED", "REVALIDATED"]) == ["Ben Cole"]
    assert await names(status=["RESTRICTED"]) == []
    assert await names(role=["CARER"], active=True) == ["Asha Begum", "Ben Cole"]
    # The filter is in SQL: a page of one holds one match, and the next page the rest.
    first = (await world.admin.execute(LIST, {"first": 1, "status": ["EXPIRED"]})).ok()
    page = first["staffMembers"]
    assert [n["name"] for n in page["nodes"]] == ["Asha Begum"]
    assert page["pageInfo"]["hasNextPage"] is True
    second = (
        await world.admin.execute(
            LIST, {"first": 1, "status": ["EXPIRED"], "after": page["pageInfo"]["endCursor"]}
        )
    ).ok()["staffMembers"]
    assert [n["name"] for n in second["nodes"]] == ["Tom Hale"]
    assert second["pageInfo"]["hasNextPage"] is False
    # Nested fields load through per-request DataLoaders: one competency query for the page.
    with counting_statements(app.state.runtime.engine) as log:
        everyone = (await world.admin.execute(LIST_WITH_EMPLOYER)).ok()["staffMembers"]["nodes"]
    assert len(everyone) == 3
    assert {n["organisation"]["name"] for n in everyone} == {"Riverside Homecare", "Oldtown Care"}
    assert sum("FROM competencies" in q for q in log.queries()) == 1
    assert sum("FROM organisations" in q for q in log.queries()) == 1
    bad = await world.office.execute(LIST, {"competence": "Medication!"})
    assert bad.errors[0]["extensions"]["code"] == "INVALID_COMPETENCE_CODE"


async def test_another_providers_staff_are_invisible(
    sessions: SessionFactory, http: httpx.AsyncClient, identities: Identities
) -> None:
    world = await arrange(sessions, http, identities)
    listed = (await world.office.execute(LIST)).ok()["staffMembers"]["nodes"]
    assert {n["name"] for n in listed} == {"Asha Begum", "Ben Cole"}
    foreign = (await world.office.execute(ONE, {"id": gid(world.tom)})).ok()
    assert foreign == {"staffMember": None, "node": None}
    own = (await world.office.execute(ONE, {"id": gid(world.ben)})).ok()
    assert own == {
        "staffMember": {"id": gid(world.ben), "name": "Ben Cole"},
        "node": {"__typename": "StaffMember", "name": "Ben Cole"},
    }
    # A foreign staff member answers like a missing one, to writes too.
    results = []
    for staff_id in (gid(world.tom), encode_global_id("StaffMember", uuid.uuid4())):
        response = await world.office.execute(DEACTIVATE, {"input": {"staffMemberId": staff_id}})
        result = response.ok()["deactivateStaffMember"]
        results.append((result["__typename"], result["code"]))
    assert results == [("NotFoundError", "STAFF_NOT_FOUND")] * 2


async def test_a_carer_sees_only_themself_and_cannot_write(
    sessions: SessionFactory, http: httpx.AsyncClient, identities: Identities
) -> None:
    world = await arrange(sessions, http, identities)
    carer = GraphQLClient(
        http,
        token=await identities.token(
            Role.CARER, organisation_id=world.provider.id, staff_id=world.asha.id
        ),
    )
    listed = (await carer.execute(LIST)).ok()["staffMembers"]["nodes"]
    assert [n["name"] for n in listed] == ["Asha Begum"]
    assert listed[0]["competencies"][0]["effectiveStatus"] == "EXPIRED"
    colleague = (await carer.execute(ONE, {"id": gid(world.ben)})).ok()
    assert colleague == {"staffMember": None, "node": None}
    denied = await carer.execute(
        RECORD,
        {
            "input": {
                "staffMemberId": gid(world.asha),
                "competence": "medication",
                "status": "EVIDENCED",
                "evidenceReference": "self",
                "assessedBy": "me",
                "assessedOn": "2026-11-20",
                "expiresOn": "2027-11-19",
            }
        },
    )
    assert denied.data is None
    assert denied.errors[0]["extensions"]["code"] == "FORBIDDEN"
    commissioner = GraphQLClient(
        http,
        token=await identities.token(Role.COMMISSIONER, organisation_id=world.incumbent.id),
    )
    refused = await commissioner.execute(LIST)
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_expected_errors_come_back_typed(
    sessions: SessionFactory, http: httpx.AsyncClient, identities: Identities
) -> None:
    world = await arrange(sessions, http, identities)
    async with unit_of_work(sessions) as session:
        council = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY, name="Northvale Council"
        )

    async def register(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
        payload = {"givenName": "Priya", "familyName": "Shah", "role": "CARER", **fields}
        response = await client.execute(REGISTER, {"input": payload})
        result: dict[str, Any] = response.ok()["registerStaffMember"]
        return result

    invalid = await register(world.office, givenName=" ")
    assert (invalid["__typename"], invalid["field"], invalid["code"]) == (
        "InvalidInputError",
        "givenName",
        "REQUIRED",
    )
    not_provider = await register(world.admin, organisationId=org_gid(council))
    assert (not_provider["__typename"], not_provider["code"]) == (
        "InvalidInputError",
        "NOT_A_PROVIDER",
    )
    forbidden = await register(world.office, organisationId=org_gid(world.incumbent))
    assert (forbidden["__typename"], forbidden["code"]) == (
        "ForbiddenError",
        "NOT_YOUR_ORGANISATION",
    )
    missing_origin = await register(
        world.office,
        tupeOriginId=encode_global_id("Organisation", uuid.uuid4()),
        tupeTransferredOn="2026-12-01",
    )
    assert (missing_origin["__typename"], missing_origin["code"]) == (
        "NotFoundError",
        "ORGANISATION_NOT_FOUND",
    )
    wrong_id = await register(world.office, tupeOriginId=gid(world.ben))
    assert (wrong_id["__typename"], wrong_id["field"], wrong_id["code"]) == (
        "InvalidInputError",
        "tupeOriginId",
        "INVALID_ID",
    )
    future = (
        await world.office.execute(
            RECORD,
            {
                "input": {
                    "staffMemberId": gid(world.ben),
                    "competence": "medication",
                    "status": "EVIDENCED",
                    "evidenceReference": "MED-2",
                    "assessedBy": "Trainer",
                    "assessedOn": "2026-11-24",
                    "expiresOn": "2027-11-19",
                }
            },
        )
    ).ok()["recordCompetencyEvidence"]
    assert (future["__typename"], future["field"], future["code"]) == (
        "InvalidInputError",
        "assessedOn",
        "IN_FUTURE",
    )
    deactivate = {"input": {"staffMemberId": gid(world.ben)}}
    assert (await world.office.execute(DEACTIVATE, deactivate)).ok()["deactivateStaffMember"][
        "active"
    ] is False
    again = (await world.office.execute(DEACTIVATE, deactivate)).ok()["deactivateStaffMember"]
    assert (again["__typename"], again["code"], again["message"]) == (
        "ConflictError",
        "STAFF_INACTIVE",
        "Ben Cole has already left employment",
    )
