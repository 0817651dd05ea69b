"""Change requests over GraphQL/HTTP: supplier clients with scopes, the approval flow with its
decisions (loaded once per page), typed errors by __typename, and tenancy through lists,
`changeRequest(id:)` and `node(id:)`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.change_requests.lifecycle import ChangeRequestKind, ChangeRequestStatus
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages.models import CarePackage
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities
from tests.support.sqlcount import counting_statements

CHANGE_FIELDS = """
  __typename
  ... on ChangeRequest {
    id reference kind title status affectedPackageIds affectedWorkflows
    capacityImpact riskImpact costImpactPence assurancePlan effectiveFrom allowedNextStatuses
    raisedBy { name } contract { id }
    decisions { fromStatus toStatus decidedBy decidedAt note }
  }
  ... on UserError { code message }
  ... on InvalidInputError { field }
"""


def mutation(name: str, input_type: str) -> str:
    return f"""
    mutation Run($input: {input_type}!) {{
      {name}(input: $input) {{ {CHANGE_FIELDS} }}
    }}"""


PROPOSE = mutation("proposeChange", "ProposeChangeInput")
ASSESS = mutation("assessChange", "AssessChangeInput")
DECIDE = mutation("decideChange", "DecideChangeInput")
IMPLEMENT = mutation("markChangeImplemented", "MarkChangeImplementedInput")
REVIEW = mutation("reviewChange", "ReviewChangeInput")

VISIBILITY = """
query Visible($id: ID!) {
  changeRequests(first: 50) { nodes { id } }
  changeRequest(id: $id) { id }
  node(id: $id) { id ... on ChangeRequest { title } }
}"""


@dataclass
class Parties:
    provider: Organisation
    commissioner: Organisation
    supplier: Organisation
    other_supplier: Organisation
    contract: Contract
    package: CarePackage


@pytest.fixture
async def parties(sessions: SessionFactory) -> Parties:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, kind=OrganisationKind.PROVIDER)
        commissioner = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY
        )
        supplier = await builders.create_organisation(
            session, kind=OrganisationKind.SUPPLIER, name="CarePlan Systems"
        )
        other_supplier = await builders.create_organisation(session, kind=OrganisationKind.SUPPLIER)
        contract = await builders.create_contract(
            session, commissioner=commissioner, provider=provider
        )
        package = await builders.create_package(session, contract=contract)
    return Parties(provider, commissioner, supplier, other_supplier, contract, package)


async def client(
    http: httpx.AsyncClient,
    identities: Identities,
    role: Role,
    organisation: Organisation,
    scopes: tuple[str, ...] = (),
) -> GraphQLClient:
    token = await identities.token(role, organisation_id=organisation.id, scopes=scopes)
    return GraphQLClient(http, token=token)


def gid(type_name: str, value: uuid.UUID) -> str:
    return encode_global_id(type_name, value)


async def run(graphql: GraphQLClient, query: str, **input_values: Any) -> dict[str, Any]:
    data = (await graphql.execute(query, {"input": input_values})).ok()
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def test_a_supplier_proposes_and_reads_its_own_changes_only(
    http: httpx.AsyncClient, identities: Identities, parties: Parties
) -> None:
    supplier = await client(
        http,
        identities,
        Role.SUPPLIER_CLIENT,
        parties.supplier,
        ("changes:read", "changes:write"),
    )
    proposed = await run(
        supplier,
        PROPOSE,
        kind="SUPPLIER_SOFTWARE_UPDATE",
        title="Release 4.2",
        description="Task confirmation moves to a swipe",
        affectedWorkflows=["task confirmation"],
    )
    assert proposed["__typename"] == "ChangeRequest"
    assert (proposed["status"], proposed["raisedBy"]) == ("PROPOSED", {"name": "CarePlan Systems"})
    assert proposed["allowedNextStatuses"] == ["ASSESSED"]
    [decision] = proposed["decisions"]
    assert (decision["fromStatus"], decision["toStatus"]) == (None, "PROPOSED")
    assert decision["decidedBy"].startswith("client:")
    assert decision["decidedAt"] == "2026-11-23T09:00:00+00:00"

    mine = (await supplier.execute(VISIBILITY, {"id": proposed["id"]})).ok()
    assert mine == {
        "changeRequests": {"nodes": [{"id": proposed["id"]}]},
        "changeRequest": {"id": proposed["id"]},
        "node": {"id": proposed["id"], "title": "Release 4.2"},
    }
    other = await client(
        http, identities, Role.SUPPLIER_CLIENT, parties.other_supplier, ("changes:read",)
    )
    assert (await other.execute(VISIBILITY, {"id": proposed["id"]})).ok() == {
        "changeRequests": {"nodes": []},
        "changeRequest": None,
        "node": None,
    }

    # A supplier names no contracts or packages: it cannot see them.
    hidden = await run(
        supplier,
        PROPOSE,
        kind="SUPPLIER_SOFTWARE_UPDATE",
        title="Release 4.3",
        description="d",
        affectedPackageIds=[gid("CarePackage", parties.package.id)],
    )
    assert (hidden["__typename"], hidden["code"]) == (
        "NotFoundError",
        "CHANGE_REQUEST_PARTY_NOT_FOUND",
    )
    assert str(parties.package.id) in hidden["message"]


async def test_scopes_bind_supplier_clients(
    http: httpx.AsyncClient, identities: Identities, parties: Parties
) -> None:
    reader = await client(
        http, identities, Role.SUPPLIER_CLIENT, parties.supplier, ("changes:read",)
    )
    refused = await reader.execute(
        PROPOSE,
        {"input": {"kind": "SUPPLIER_SOFTWARE_UPDATE", "title": "t", "description": "d"}},
    )
    assert refused.data is None
    assert refused.errors[0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
    writer = await client(
        http, identities, Role.SUPPLIER_CLIENT, parties.supplier, ("changes:write",)
    )
    unread = await writer.execute("{ changeRequests { nodes { id } } }")
    assert unread.errors[0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
    # Suppliers never approve, whatever their scopes.
    decide = await writer.execute(
        DECIDE,
        {"input": {"changeRequestId": gid("ChangeRequest", uuid.uuid4()), "approve": True}},
    )
    assert decide.errors[0]["extensions"]["code"] == "FORBIDDEN"
    partner = await client(
        http, identities, Role.PARTNER_CLIENT, parties.supplier, ("changes:read",)
    )
    denied = await partner.execute("{ changeRequests { nodes { id } } }")
    assert denied.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_variation_is_proposed_assessed_approved_implemented_and_reviewed(
    http: httpx.AsyncClient, identities: Identities, parties: Parties
) -> None:
    office = await client(http, identities, Role.COORDINATOR, parties.provider)
    commissioner = await client(http, identities, Role.COMMISSIONER, parties.commissioner)
    manager = await client(http, identities, Role.REGISTERED_MANAGER, parties.provider)

    no_contract = await run(
        commissioner,
        PROPOSE,
        kind="CONTRACT_VARIATION",
        title="Weekly missed-call report",
        description="d",
    )
    assert (no_contract["__typename"], no_contract["field"]) == ("InvalidInputError", "contractId")

    change = await run(
        commissioner,
        PROPOSE,
        kind="CONTRACT_VARIATION",
        title="Weekly missed-call report",
        description="Additional reporting on missed calls and feedback, tighter timelines",
        contractId=gid("Contract", parties.contract.id),
        affectedPackageIds=[gid("CarePackage", parties.package.id)],
    )
    change_id = change["id"]
    assert change["contract"] == {"id": gid("Contract", parties.contract.id)}
    assert change["affectedPackageIds"] == [gid("CarePackage", parties.package.id)]

    too_early = await run(manager, DECIDE, changeRequestId=change_id, approve=True)
    assert (too_early["__typename"], too_early["code"]) == ("ForbiddenError", "NOT_CHANGE_APPROVER")

    assessed = await run(
        office,
        ASSESS,
        changeRequestId=change_id,
        capacityImpact="half a day a week of admin",
        riskImpact="data inaccuracies under tighter timelines",
        costImpactPence=120_00,
    )
    assert (assessed["status"], assessed["costImpactPence"]) == ("ASSESSED", 12000)

    unapproved = await run(office, IMPLEMENT, changeRequestId=change_id, effectiveFrom="2026-12-01")
    assert unapproved["__typename"] == "ConflictError"
    assert unapproved["code"] == "CHANGE_NOT_APPROVED"
    assert unapproved["message"] == (
        "a contract variation cannot take effect while assessed; it must be approved first"
    )

    approved = await run(
        commissioner, DECIDE, changeRequestId=change_id, approve=True, note="agreed at review"
    )
    assert approved["status"] == "APPROVED"
    implemented = await run(
        office, IMPLEMENT, changeRequestId=change_id, effectiveFrom="2026-12-01"
    )
    assert (implemented["status"], implemented["effectiveFrom"]) == ("IMPLEMENTED", "2026-12-01")
    again = await run(office, IMPLEMENT, changeRequestId=change_id, effectiveFrom="2026-12-01")
    assert (again["__typename"], again["code"]) == (
        "ConflictError",
        "ILLEGAL_CHANGE_REQUEST_TRANSITION",
    )
    reviewed = await run(
        office,
        REVIEW,
        changeRequestId=change_id,
        assurancePlan="weekly reconciliation approved by the registered manager",
        note="no inaccuracies in four weeks",
    )
    assert reviewed["status"] == "REVIEWED"
    assert reviewed["allowedNextStatuses"] == []
    assert [(d["fromStatus"], d["toStatus"], d["note"]) for d in reviewed["decisions"]] == [
        (None, "PROPOSED", None),
        ("PROPOSED", "ASSESSED", None),
        ("ASSESSED", "APPROVED", "agreed at review"),
        ("APPROVED", "IMPLEMENTED", None),
        ("IMPLEMENTED", "REVIEWED", "no inaccuracies in four weeks"),
    ]

    foreign = await run(
        await client(http, identities, Role.COORDINATOR, parties.supplier),
        ASSESS,
        changeRequestId=change_id,
        capacityImpact="c",
        riskImpact="r",
        costImpactPence=0,
    )
    assert (foreign["__typename"], foreign["code"]) == ("NotFoundError", "CHANGE_REQUEST_NOT_FOUND")

    filtered = (
        await commissioner.execute(
            """query($c: ID) {
                 reviewed: changeRequests(
                   status: REVIEWED, kind: CONTRACT_VARIATION, contractId: $c
                 ) { nodes { id } }
                 updates: changeRequests(kind: SUPPLIER_SOFTWARE_UPDATE) { nodes { id } } }""",
            {"c": gid("Contract", parties.contract.id)},
        )
    ).ok()
    assert filtered == {"reviewed": {"nodes": [{"id": change_id}]}, "updates": {"nodes": []}}


async def test_decisions_load_in_one_query_per_page(
    http: httpx.AsyncClient,
    identities: Identities,
    parties: Parties,
    sessions: SessionFactory,
    app: Starlette,
) -> None:
    async with unit_of_work(sessions) as session:
        for _ in range(6):
            await builders.create_change_request(
                session,
                raised_by=parties.provider,
                kind=ChangeRequestKind.SUPPLIER_SOFTWARE_UPDATE,
                status=ChangeRequestStatus.PROPOSED,
            )
    office = await client(http, identities, Role.COORDINATOR, parties.provider)
    query = "{ changeRequests(first: 5) { nodes { id decisions { toStatus } } } }"
    await office.execute(query)  # warm up: parsing, validation, connection pool
    with counting_statements(app.state.runtime.engine) as log:
        data = (await office.execute(query)).ok()
    assert len(data["changeRequests"]["nodes"]) == 5
    decision_queries = [q for q in log.queries() if "change_decisions" in q]
    assert len(decision_queries) == 1
