"""Contracts over GraphQL/HTTP: tenancy (lists, by id, node), permissions, the typed errors of
each mutation, and KPI definitions round-tripping through the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hub.accounts.models import Role
from hub.contracts.models import Contract, ServiceType
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.organisations.models import Organisation, OrganisationKind
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

CONTRACT_FIELDS = """
    id reference name status serviceType startsOn endsOn createdAt updatedAt
    commissioner { name kind } provider { name }
    tolerances { lateAfterMinutes timeCriticalLateAfterMinutes missedAfterMinutes
                 minimumStayPercent }
    resolutionOutcomes { code label requiredFields }
    kpis { code name sourceEventTypes qualityRule exceptionRule governanceAction targetPercent }
"""
ERRORS = """
    ... on UserError { __typename code message }
    ... on InvalidInputError { field reason }
"""


@dataclass
class World:
    council_a: Organisation
    council_b: Organisation
    provider: Organisation
    contract_a: Contract
    contract_b: Contract

    @staticmethod
    def gid(row: Contract | Organisation) -> str:
        kind = "Contract" if isinstance(row, Contract) else "Organisation"
        return encode_global_id(kind, row.id)


@pytest.fixture
async def world(sessions: SessionFactory) -> World:
    async with unit_of_work(sessions) as session:
        council_a = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY, name="Council A"
        )
        council_b = await builders.create_organisation(
            session, kind=OrganisationKind.ICB, name="ICB B"
        )
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        contract_a = await builders.create_contract(
            session, commissioner=council_a, provider=provider, reference="A-001"
        )
        contract_b = await builders.create_contract(
            session,
            commissioner=council_b,
            provider=provider,
            reference="B-001",
            service_type=ServiceType.REABLEMENT,
        )
    return World(council_a, council_b, provider, contract_a, contract_b)


async def _client(
    http: httpx.AsyncClient, identities: Identities, role: Role, organisation: uuid.UUID | None
) -> GraphQLClient:
    return GraphQLClient(http, token=await identities.token(role, organisation_id=organisation))


async def test_a_commissioner_sees_only_its_own_contracts_by_list_id_and_node(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    council_a = await _client(http, identities, Role.COMMISSIONER, world.council_a.id)
    data = (
        await council_a.execute(
            f"""query($own: ID!, $other: ID!) {{
                contracts {{ nodes {{ {CONTRACT_FIELDS} }} }}
                own: contract(id: $own) {{ reference }}
                other: contract(id: $other) {{ reference }}
                ownNode: node(id: $own) {{ ... on Contract {{ reference }} }}
                otherNode: node(id: $other) {{ id }}
            }}""",
            {"own": world.gid(world.contract_a), "other": world.gid(world.contract_b)},
        )
    ).ok()
    [contract] = data["contracts"]["nodes"]
    assert contract["reference"] == "A-001"
    assert contract["status"] == "ACTIVE"
    assert contract["commissioner"] == {"name": "Council A", "kind": "LOCAL_AUTHORITY"}
    assert contract["provider"] == {"name": "Riverside Homecare"}
    assert contract["tolerances"]["missedAfterMinutes"] == 60
    assert data["own"] == {"reference": "A-001"}
    assert data["ownNode"] == {"reference": "A-001"}
    assert data["other"] is None
    assert data["otherNode"] is None


async def test_the_provider_sees_the_contracts_it_delivers_and_a_carer_none(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    office = await _client(http, identities, Role.COORDINATOR, world.provider.id)
    data = (
        await office.execute(
            "query($t: ServiceType) { contracts(serviceType: $t) { nodes { reference } } }",
            {"t": "REABLEMENT"},
        )
    ).ok()
    assert data["contracts"]["nodes"] == [{"reference": "B-001"}]
    async with unit_of_work(identities.sessions) as session:
        carer = await builders.create_staff(session, organisation=world.provider)
    carer_client = GraphQLClient(
        http,
        token=await identities.token(
            Role.CARER, organisation_id=world.provider.id, staff_id=carer.id
        ),
    )
    refused = await carer_client.execute("{ contracts { nodes { reference } } }")
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_contracts_page_by_reference(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    admin = await _client(http, identities, Role.ADMIN, None)
    query = """query($after: String) {
        contracts(first: 1, after: $after) {
            nodes { reference } pageInfo { hasNextPage endCursor }
        }
    }"""
    first = (await admin.execute(query)).ok()["contracts"]
    second = (await admin.execute(query, {"after": first["pageInfo"]["endCursor"]})).ok()[
        "contracts"
    ]
    assert [first["nodes"], first["pageInfo"]["hasNextPage"]] == [[{"reference": "A-001"}], True]
    assert [second["nodes"], second["pageInfo"]["hasNextPage"]] == [[{"reference": "B-001"}], False]
    bad = await admin.execute(query, {"after": "bm90LWEtY3Vyc29y"})
    assert bad.errors[0]["extensions"]["code"] == "INVALID_CURSOR"


CREATE = f"""mutation($input: CreateContractInput!) {{
    createContract(input: $input) {{ __typename ... on Contract {{ {CONTRACT_FIELDS} }} {ERRORS} }}
}}"""


def _create_input(world: World, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "reference": "A-002",
        "name": "Council A reablement",
        "commissionerId": world.gid(world.council_a),
        "providerId": world.gid(world.provider),
        "serviceType": "REABLEMENT",
        "startsOn": "2027-01-01",
        "tolerances": {
            "lateAfterMinutes": 20,
            "timeCriticalLateAfterMinutes": 10,
            "missedAfterMinutes": 90,
            "minimumStayPercent": 75,
        },
    }
    values.update(overrides)
    return values


async def test_create_contract_answers_with_the_contract_or_a_typed_error(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    council_a = await _client(http, identities, Role.COMMISSIONER, world.council_a.id)
    created = (await council_a.execute(CREATE, {"input": _create_input(world)})).ok()[
        "createContract"
    ]
    assert created["__typename"] == "Contract"
    assert (created["status"], created["endsOn"], created["resolutionOutcomes"]) == (
        "UPCOMING",
        None,
        [],
    )
    assert created["tolerances"]["timeCriticalLateAfterMinutes"] == 10

    async def error(**overrides: Any) -> dict[str, Any]:
        result: dict[str, Any] = (
            await council_a.execute(CREATE, {"input": _create_input(world, **overrides)})
        ).ok()["createContract"]
        return result

    duplicate = await error()
    assert (duplicate["__typename"], duplicate["code"]) == (
        "ConflictError",
        "DUPLICATE_CONTRACT_REFERENCE",
    )
    bad_tolerances = await error(
        reference="A-003",
        tolerances={
            "lateAfterMinutes": 20,
            "timeCriticalLateAfterMinutes": 30,
            "missedAfterMinutes": 90,
            "minimumStayPercent": 75,
        },
    )
    assert bad_tolerances["__typename"] == "InvalidInputError"
    assert bad_tolerances["field"] == "tolerances.timeCriticalLateAfterMinutes"
    assert bad_tolerances["code"] == "TOLERANCES_OUT_OF_ORDER"
    assert bad_tolerances["reason"].startswith("must not be more than lateAfterMinutes (20)")
    someone_else = await error(reference="A-004", commissionerId=world.gid(world.council_b))
    assert (someone_else["__typename"], someone_else["field"]) == (
        "InvalidInputError",
        "commissionerId",
    )
    missing = await error(
        reference="A-005", providerId=encode_global_id("Organisation", uuid.uuid4())
    )
    assert (missing["__typename"], missing["code"]) == ("NotFoundError", "ORGANISATION_NOT_FOUND")
    wrong_id = await error(reference="A-006", providerId=world.gid(world.contract_a))
    assert (wrong_id["__typename"], wrong_id["field"]) == ("InvalidInputError", "providerId")


async def test_changing_another_commissioners_contract_answers_not_found(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    council_a = await _client(http, identities, Role.COMMISSIONER, world.council_a.id)
    query = f"""mutation($input: SetContractTolerancesInput!) {{
        setContractTolerances(input: $input) {{
            __typename ... on Contract {{ tolerances {{ lateAfterMinutes }} }} {ERRORS}
        }}
    }}"""
    tolerances = {
        "lateAfterMinutes": 10,
        "timeCriticalLateAfterMinutes": 5,
        "missedAfterMinutes": 30,
        "minimumStayPercent": 90,
    }
    other = (
        await council_a.execute(
            query, {"input": {"contractId": world.gid(world.contract_b), "tolerances": tolerances}}
        )
    ).ok()["setContractTolerances"]
    assert (other["__typename"], other["code"]) == ("NotFoundError", "CONTRACT_NOT_FOUND")
    own = (
        await council_a.execute(
            query, {"input": {"contractId": world.gid(world.contract_a), "tolerances": tolerances}}
        )
    ).ok()["setContractTolerances"]
    assert own == {"__typename": "Contract", "tolerances": {"lateAfterMinutes": 10}}
    office = await _client(http, identities, Role.COORDINATOR, world.provider.id)
    denied = await office.execute(
        query, {"input": {"contractId": world.gid(world.contract_a), "tolerances": tolerances}}
    )
    assert denied.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_outcomes_and_kpis_round_trip_through_the_api(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    council_a = await _client(http, identities, Role.COMMISSIONER, world.council_a.id)
    contract_id = world.gid(world.contract_a)
    outcome = (
        await council_a.execute(
            f"""mutation($input: DefineResolutionOutcomeInput!) {{
                defineResolutionOutcome(input: $input) {{
                    __typename ... on Contract {{ resolutionOutcomes {{ code requiredFields }} }}
                    {ERRORS}
                }}
            }}""",
            {
                "input": {
                    "contractId": contract_id,
                    "code": "covered_by_alternative_worker",
                    "label": "Covered by alternative worker within X minutes",
                    "requiredFields": ["alternativeWorker", "coveredWithinMinutes"],
                }
            },
        )
    ).ok()["defineResolutionOutcome"]
    assert outcome["resolutionOutcomes"] == [
        {
            "code": "covered_by_alternative_worker",
            "requiredFields": ["alternativeWorker", "coveredWithinMinutes"],
        }
    ]
    kpi_input = {
        "contractId": contract_id,
        "code": "missed_calls_covered",
        "name": "Missed calls covered within tolerance",
        "sourceEventTypes": ["visit.missed", "case.resolved"],
        "qualityRule": "resolution outcome recorded with its mandatory fields",
        "exceptionRule": "a missed visit with no cover within 60 minutes",
        "governanceAction": "registered manager reviews repeat patterns monthly",
        "targetPercent": 98.5,
    }
    define_kpi = f"""mutation($input: DefineKpiInput!) {{
        defineKpi(input: $input) {{ __typename ... on Contract {{ kpis {{
            code name sourceEventTypes qualityRule exceptionRule governanceAction targetPercent
        }} }} {ERRORS} }}
    }}"""
    defined = (await council_a.execute(define_kpi, {"input": kpi_input})).ok()["defineKpi"]
    expected = {k: v for k, v in kpi_input.items() if k != "contractId"}
    assert defined["kpis"] == [expected]
    # The provider reads the same definitions it is measured by.
    office = await _client(http, identities, Role.COORDINATOR, world.provider.id)
    read = (
        await office.execute(
            "query($id: ID!) { contract(id: $id) { kpis { code targetPercent } "
            "resolutionOutcomes { label } } }",
            {"id": contract_id},
        )
    ).ok()["contract"]
    assert read["kpis"] == [{"code": "missed_calls_covered", "targetPercent": 98.5}]
    assert read["resolutionOutcomes"] == [
        {"label": "Covered by alternative worker within X minutes"}
    ]
    invalid = (
        await council_a.execute(define_kpi, {"input": {**kpi_input, "sourceEventTypes": []}})
    ).ok()["defineKpi"]
    assert (invalid["__typename"], invalid["field"]) == ("InvalidInputError", "sourceEventTypes")
    foreign = (
        await council_a.execute(
            define_kpi, {"input": {**kpi_input, "contractId": world.gid(world.contract_b)}}
        )
    ).ok()["defineKpi"]
    assert foreign["__typename"] == "NotFoundError"
