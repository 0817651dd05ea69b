"""Across domains: a foreign id answers exactly like a missing one (IDOR), and every field that
returns a person's data writes exactly one access-log row naming the reader."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from graphql import GraphQLInterfaceType, GraphQLUnionType, get_named_type
from sqlalchemy import func, select

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.graphql.schema import schema
from hub.integrations import archive
from hub.integrations import service as integrations
from hub.integrations.models import ConnectorKind
from hub.kit.time import FixedClock
from hub.la_imports.models import PortalImportRow, RowStatus
from hub.organisations.models import Organisation, OrganisationKind
from hub.people.models import PersonLinkHold
from hub.referrals.models import ReferralSource
from hub.tenancy import AccessScope
from tests import builders
from tests.governance import builders as governance_builders
from tests.la_imports import builders as la_imports_builders
from tests.mobile.command_builder import seed_device_with_unsynced_and_quarantined
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities


def gid(type_name: str, value: uuid.UUID) -> str:
    return encode_global_id(type_name, value)


@dataclass
class World:
    provider_a: uuid.UUID
    provider_b: uuid.UUID
    commissioner_x: uuid.UUID
    contract_x: uuid.UUID
    contract_y: uuid.UUID
    carer_1: uuid.UUID
    carer_2: uuid.UUID
    visit_1: uuid.UUID  # carer 1's
    visit_2: uuid.UUID  # carer 2's, another person
    person_1: uuid.UUID
    person_2: uuid.UUID
    package_1: uuid.UUID
    package_b: uuid.UUID
    referral_1: uuid.UUID
    partner: uuid.UUID


@pytest.fixture
async def world(sessions: SessionFactory, clock: FixedClock) -> World:
    async with unit_of_work(sessions) as session:
        provider_a = await builders.create_organisation(session, name="Provider A")
        provider_b = await builders.create_organisation(session, name="Provider B")
        council_x = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY
        )
        council_y = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY
        )
        gp = await builders.create_organisation(session, kind=OrganisationKind.REFERRER)
        contract_x = await builders.create_contract(
            session, commissioner=council_x, provider=provider_a
        )
        contract_y = await builders.create_contract(
            session, commissioner=council_y, provider=provider_b
        )
        carer_1 = await builders.create_staff(session, organisation=provider_a)
        carer_2 = await builders.create_staff(session, organisation=provider_a)
        person_1 = await builders.create_person(session)
        person_2 = await builders.create_person(session)
        package_1 = await builders.create_package(session, contract=contract_x, person=person_1)
        package_2 = await builders.create_package(session, contract=contract_x, person=person_2)
        package_b = await builders.create_package(session, contract=contract_y)
        start = clock.now() + timedelta(hours=1)
        visit_1 = await builders.create_visit(
            session, package=package_1, carers=(carer_1,), planned_start=start
        )
        visit_2 = await builders.create_visit(
            session, package=package_2, carers=(carer_2,), planned_start=start
        )
        referral = await builders.create_referral(
            session,
            source=ReferralSource.GP,
            referrer_organisation_id=gp.id,
            provider_id=provider_a.id,
            person_id=person_1.id,
            contract_id=contract_x.id,
        )
        # A council's write that named person 1's NHS number with other details: held, and
        # readable with person 1 by provider A's office (which may see person 1).
        session.add(
            PersonLinkHold(
                existing_person_id=person_1.id,
                receiving_organisation_id=provider_b.id,
                sender_organisation_id=council_y.id,
                source="la-portal:test",
                submitted={"familyName": "Someone"},
                actor="test",
            )
        )
        await session.flush()
    return World(
        provider_a=provider_a.id,
        provider_b=provider_b.id,
        commissioner_x=council_x.id,
        contract_x=contract_x.id,
        contract_y=contract_y.id,
        carer_1=carer_1.id,
        carer_2=carer_2.id,
        visit_1=visit_1.id,
        visit_2=visit_2.id,
        person_1=person_1.id,
        person_2=person_2.id,
        package_1=package_1.id,
        package_b=package_b.id,
        referral_1=referral.id,
        partner=gp.id,
    )


async def _client(
    http: httpx.AsyncClient, identities: Identities, role: Role, **kwargs: Any
) -> GraphQLClient:
    return GraphQLClient(http, token=await identities.token(role, **kwargs))


async def _access_rows(sessions: SessionFactory) -> list[AccessLogEntry]:
    async with sessions() as session:
        return list(
            (await session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id))).all()
        )


# --- IDOR ---------------------------------------------------------------------------------------


async def test_a_carer_cannot_read_another_carers_visit_or_person(
    http: httpx.AsyncClient,
    identities: Identities,
    world: World,
    sessions: SessionFactory,
    clock: FixedClock,
) -> None:
    carer = await _client(
        http, identities, Role.CARER, organisation_id=world.provider_a, staff_id=world.carer_1
    )
    own = (
        await carer.execute(
            "query($id: ID!) { visit(id: $id) { id } }", {"id": gid("Visit", world.visit_1)}
        )
    ).ok()
    assert own["visit"]["id"] == gid("Visit", world.visit_1)

    for type_name, field, value in (
        ("Visit", "visit", world.visit_2),
        ("Person", "person", world.person_2),
        ("CarePackage", "carePackage", world.package_b),
    ):
        foreign = gid(type_name, value)
        missing = gid(type_name, uuid.uuid4())
        by_field = await carer.execute(
            f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}", {"id": foreign}
        )
        by_node = await carer.execute("query($id: ID!) { node(id: $id) { id } }", {"id": foreign})
        not_there = await carer.execute(
            f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}", {"id": missing}
        )
        # Exactly the answer for an id that does not exist: null, no error.
        assert by_field.body == not_there.body == {"data": {field: None}}
        assert by_node.body == {"data": {"node": None}}

    window = {"from": clock.now().isoformat(), "to": (clock.now() + timedelta(days=1)).isoformat()}
    listed = (
        await carer.execute(
            "query($from: DateTime!, $to: DateTime!) "
            "{ visits(from: $from, to: $to) { nodes { id } } }",
            window,
        )
    ).ok()
    assert [v["id"] for v in listed["visits"]["nodes"]] == [gid("Visit", world.visit_1)]
    people = (await carer.execute("{ people { nodes { id } } }")).ok()
    assert [p["id"] for p in people["people"]["nodes"]] == [gid("Person", world.person_1)]
    # Refused reads wrote no access-log rows naming the other person.
    assert all(world.person_2 not in row.person_ids for row in await _access_rows(sessions))


async def test_a_commissioner_cannot_read_another_commissioners_contract(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    commissioner = await _client(
        http, identities, Role.COMMISSIONER, organisation_id=world.commissioner_x
    )
    query = "query($id: ID!) { contract(id: $id) { id } node(id: $id) { id } }"
    own = (await commissioner.execute(query, {"id": gid("Contract", world.contract_x)})).ok()
    assert own["contract"]["id"] == own["node"]["id"] == gid("Contract", world.contract_x)
    foreign = await commissioner.execute(query, {"id": gid("Contract", world.contract_y)})
    assert foreign.body == {"data": {"contract": None, "node": None}}
    listed = (await commissioner.execute("{ contracts { nodes { id } } }")).ok()
    assert [c["id"] for c in listed["contracts"]["nodes"]] == [gid("Contract", world.contract_x)]


async def test_a_provider_office_cannot_read_another_providers_package(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    office = await _client(http, identities, Role.COORDINATOR, organisation_id=world.provider_a)
    answer = await office.execute(
        "query($id: ID!) { carePackage(id: $id) { id } }",
        {"id": gid("CarePackage", world.package_b)},
    )
    assert answer.body == {"data": {"carePackage": None}}


# --- person data is always attributable ---------------------------------------------------------

PERSON_FIELD_QUERIES: dict[str, tuple[str, str]] = {
    # "Type.field": (document, the field name the access log records)
    "Query.person": ("query($p: ID!) { person(id: $p) { givenName } }", "person"),
    "Query.people": ("{ people { nodes { givenName } } }", "people"),
    "Query.node": ("query($p: ID!) { node(id: $p) { ... on Person { givenName } } }", "node"),
    "CarePackage.person": (
        "query($k: ID!) { carePackage(id: $k) { person { givenName } } }",
        "person",
    ),
    "Referral.person": ("query($r: ID!) { referral(id: $r) { person { givenName } } }", "person"),
    "PersonLinkHold.existingPerson": (
        "{ personLinkHolds { nodes { existingPerson { givenName } } } }",
        "existingPerson",
    ),
    "Mutation.updatePersonRisks": (
        "mutation($p: ID!) { updatePersonRisks(input: {personId: $p, riskFlags: {falls: true}}) "
        "{ ... on Person { givenName } } }",
        "updatePersonRisks",
    ),
    "Mutation.setAccessDetails": (
        'mutation($p: ID!) { setAccessDetails(input: {personId: $p, keySafeCode: "1234"}) '
        "{ ... on Person { givenName } } }",
        "setAccessDetails",
    ),
    "Mutation.registerPerson": (
        "mutation { registerPerson(input: {"
        'givenName: "Ada", familyName: "Lovell", dateOfBirth: "1940-02-03", '
        'address: {line1: "1 High St", town: "Northvale", postcode: "NV1 2AB"}}) '
        "{ ... on Person { givenName } } }",
        "registerPerson",
    ),
}


# Carer-only fields (an office caller cannot use them, so the loop below cannot either); each
# has its own test asserting exactly one access-log row per request.
AUDITED_IN_MOBILE_TESTS = {
    "MobileChanges.people": (
        "tests/mobile/test_pull.py::test_the_first_pull_is_the_whole_window_of_this_carer"
    ),
    "MobileVisitDetail.person": (
        "tests/mobile/test_pull.py::test_the_visit_detail_writes_one_access_row"
    ),
}


def _fields_returning_person() -> set[str]:
    found: set[str] = set()
    graphql_schema = schema._schema
    for name, graphql_type in graphql_schema.type_map.items():
        if (
            name.startswith("__")
            or name in ("PersonConnection", "PersonEdge")
            or not hasattr(graphql_type, "fields")
        ):
            continue
        for field_name, field in graphql_type.fields.items():
            named = get_named_type(field.type)
            returns_person = named.name in ("Person", "PersonConnection")
            if isinstance(named, GraphQLUnionType):
                returns_person = any(member.name == "Person" for member in named.types)
            if isinstance(named, GraphQLInterfaceType) and named.name == "Node":
                returns_person = True  # node(id:) can return a Person
            if returns_person:
                found.add(f"{name}.{field_name}")
    return found


def test_every_field_returning_person_data_has_an_audit_test() -> None:
    """A new field that returns a person fails here until it is added (and audited) above."""
    assert _fields_returning_person() == set(PERSON_FIELD_QUERIES) | set(AUDITED_IN_MOBILE_TESTS)


@pytest.mark.parametrize("field", sorted(PERSON_FIELD_QUERIES))
async def test_each_person_field_writes_exactly_one_access_row(
    http: httpx.AsyncClient,
    identities: Identities,
    world: World,
    sessions: SessionFactory,
    field: str,
) -> None:
    document, logged_as = PERSON_FIELD_QUERIES[field]
    subject = await identities.register(Role.COORDINATOR, organisation_id=world.provider_a)
    office = GraphQLClient(http, token=identities.mint(subject))
    variables = {
        "p": gid("Person", world.person_1),
        "k": gid("CarePackage", world.package_1),
        "r": gid("Referral", world.referral_1),
    }
    used = {k: v for k, v in variables.items() if f"${k}" in document}
    before = len(await _access_rows(sessions))
    data = (await office.execute(document, used)).ok()
    assert data, field
    rows = (await _access_rows(sessions))[before:]
    assert len(rows) == 1, (field, rows)
    [row] = rows
    assert row.subject == subject
    assert row.role == "coordinator"
    assert logged_as in row.fields
    if field != "Mutation.registerPerson":
        assert world.person_1 in row.person_ids
    async with sessions() as session:
        total = await session.scalar(select(func.count()).select_from(AccessLogEntry))
    assert total == before + 1


# --- person data held before (or without) a person record ------------------------------------

# Fields that return a person's data without returning a Person: an unlinked referral's minimum
# dataset, what an upstream sent, a council's import rows. Their descriptions promise the
# access log; the walk below finds every field that makes that promise, so a new one fails
# here until it is added (and proved) in this catalogue.
#   "Type.field": (document, the role that reads it, the field name the access log records,
#                  the record the row must name)
UNLINKED_FIELD_QUERIES: dict[str, tuple[str, Role, str, str]] = {
    "Referral.minimumDataset": (
        "query($u: ID!) { referral(id: $u) { minimumDataset } }",
        Role.COORDINATOR,
        "minimumDataset",
        "Referral",
    ),
    "InboundPayload.body": (
        '{ inboundPayloads(connector: "rota-system") { nodes { body } } }',
        Role.COORDINATOR,
        "inboundPayload.body",
        "InboundPayload",
    ),
    "InboundPayload.bodyBase64": (
        '{ inboundPayloads(connector: "rota-system") { nodes { bodyBase64 } } }',
        Role.COORDINATOR,
        "inboundPayload.bodyBase64",
        "InboundPayload",
    ),
    "PortalImport.rows": (
        "query($i: ID!) { portalImport(id: $i) { rows { nodes { cells { column value } } } } }",
        Role.COMMISSIONER,
        "portalImport.rows",
        "PortalImportRow",
    ),
    "PortalImport.invalidRowsCsv": (
        "query($i: ID!) { portalImport(id: $i) { invalidRowsCsv } }",
        Role.COMMISSIONER,
        "portalImport.invalidRowsCsv",
        "PortalImportRow",
    ),
}
# Fields that promise the access log and prove it in their own domain's tests.
AUDITED_IN_DOMAIN_TESTS = {
    "Visit.facts": (
        "tests/visits/test_facts_graphql.py"
        "::test_the_office_reads_a_visits_facts_and_the_read_is_logged"
    ),
    "QuarantinedCommand.payload": (
        "tests/mobile/test_devices.py"
        "::test_the_office_reads_quarantined_commands_whole_and_resolves_them_once"
    ),
}
# The fields the security review named; the promise in their descriptions must not be dropped.
MUST_BE_AUDITED = {
    "Referral.minimumDataset",
    "InboundPayload.body",
    "InboundPayload.bodyBase64",
    "PortalImport.rows",
    "PortalImport.invalidRowsCsv",
}


def _fields_promising_the_access_log() -> set[str]:
    found: set[str] = set()
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or not hasattr(graphql_type, "fields"):
            continue
        for field_name, field in graphql_type.fields.items():
            if name in ("Query", "Mutation", "Subscription"):
                continue  # root fields are covered by the Person walk above
            if "recorded in the access log" in (field.description or ""):
                found.add(f"{name}.{field_name}")
    return found


def test_every_field_holding_unlinked_person_data_has_an_audit_test() -> None:
    promised = _fields_promising_the_access_log() - _fields_returning_person()
    assert promised >= MUST_BE_AUDITED
    assert promised == set(UNLINKED_FIELD_QUERIES) | set(AUDITED_IN_DOMAIN_TESTS)


@dataclass
class Unlinked:
    referral: uuid.UUID
    payload: uuid.UUID
    portal_import: uuid.UUID
    portal_row: uuid.UUID
    nhs_number: str


@pytest.fixture
async def unlinked(sessions: SessionFactory, world: World, clock: FixedClock) -> Unlinked:
    nhs_number = builders.valid_nhs_number(424242)
    async with unit_of_work(sessions) as session:
        referral = await builders.create_referral(
            session,
            source=ReferralSource.HOSPITAL_DISCHARGE,
            provider_id=world.provider_a,
            contract_id=world.contract_x,
            minimum_dataset={
                "nhsNumber": f"{nhs_number[:3]} {nhs_number[3:6]} {nhs_number[6:]}",
                "dateOfBirth": "1941-03-09",
                "addressLine1": "4 Mill Lane",
                "nextOfKin": "Sam Example (son) 07700 900123",
            },
        )
        await integrations.register_instance(
            session,
            AccessScope.system(),
            organisation_id=world.provider_a,
            kind=ConnectorKind.SUPPLIER_REST,
            name="rota-system",
            base_url="http://127.0.0.1:9/",
            webhook_secrets_env=None,
            credentials_env=None,
            poll_interval_seconds=300,
            enabled=True,
            actor="test",
            clock=clock,
        )
        payload, _ = await archive.keep(
            session,
            connector="rota-system",
            channel="webhook",
            body=f'{{"package": {{"nhs_number": "{nhs_number}"}}}}'.encode(),
            content_type="application/json",
            delivery_key="webhook:unlinked-person-data",
            organisation_id=world.provider_a,
            clock=clock,
        )
        batch = await la_imports_builders.create_portal_import(
            session, contract_id=world.contract_x
        )
        row = PortalImportRow(
            batch_id=batch.id,
            contract_id=world.contract_x,
            row_number=2,
            row_hash="unlinked-row",
            status=RowStatus.INVALID,
            raw=[["package_reference", "PK-1"], ["NHS Number", nhs_number]],
            problems=[{"column": "effective_date", "problem": "missing", "code": "required"}],
        )
        session.add(row)
        await session.flush()
    return Unlinked(referral.id, payload.id, batch.id, row.id, nhs_number)


@pytest.mark.parametrize("field", sorted(UNLINKED_FIELD_QUERIES))
async def test_each_unlinked_person_data_field_writes_exactly_one_access_row(
    http: httpx.AsyncClient,
    identities: Identities,
    world: World,
    unlinked: Unlinked,
    sessions: SessionFactory,
    field: str,
) -> None:
    document, role, logged_as, record_type = UNLINKED_FIELD_QUERIES[field]
    organisation = world.commissioner_x if role is Role.COMMISSIONER else world.provider_a
    subject = await identities.register(role, organisation_id=organisation)
    reader = GraphQLClient(http, token=identities.mint(subject))
    variables = {
        "u": gid("Referral", unlinked.referral),
        "i": gid("PortalImport", unlinked.portal_import),
    }
    used = {k: v for k, v in variables.items() if f"${k}" in document}
    before = len(await _access_rows(sessions))
    data = (await reader.execute(document, used)).ok()
    assert unlinked.nhs_number.replace(" ", "") in str(data).replace(" ", "") or (
        field == "InboundPayload.bodyBase64"
    ), data
    rows = (await _access_rows(sessions))[before:]
    assert len(rows) == 1, (field, rows)
    [row] = rows
    assert row.subject == subject
    assert logged_as in row.fields
    record_id = {
        "Referral": unlinked.referral,
        "InboundPayload": unlinked.payload,
        "PortalImportRow": unlinked.portal_row,
    }[record_type]
    assert f"{record_type}:{record_id}" in row.records
    assert row.nhs_numbers == [unlinked.nhs_number]
    assert row.person_ids == []


async def test_reads_before_linking_show_in_the_persons_access_log(
    http: httpx.AsyncClient,
    identities: Identities,
    world: World,
    unlinked: Unlinked,
    sessions: SessionFactory,
) -> None:
    """A subject-access search by person finds the reads of the referral made before it was
    linked to them, through the NHS number the referral carried."""
    office = await _client(http, identities, Role.COORDINATOR, organisation_id=world.provider_a)
    document = "query($u: ID!) { referral(id: $u) { minimumDataset } }"
    (await office.execute(document, {"u": gid("Referral", unlinked.referral)})).ok()
    async with unit_of_work(sessions) as session:
        person = await builders.create_person(session, nhs_number=unlinked.nhs_number)
        await builders.create_package(
            session, contract=await session.get(Contract, world.contract_x), person=person
        )
    manager = await _client(
        http, identities, Role.REGISTERED_MANAGER, organisation_id=world.provider_a
    )
    log = (
        await manager.execute(
            "query($p: ID!) { accessLog(personId: $p) { nodes { fields records personCount } } }",
            {"p": gid("Person", person.id)},
        )
    ).ok()["accessLog"]["nodes"]
    assert {
        "fields": ["minimumDataset"],
        "records": [f"Referral:{unlinked.referral}"],
        "personCount": 0,
    } in log


# --- tenancy on every list ------------------------------------------------------------------

LISTS = {
    "contracts": "{ contracts { nodes { id } } }",
    "people": "{ people { nodes { id } } }",
    "staffMembers": "{ staffMembers { nodes { id } } }",
    "carePackages": "{ carePackages { nodes { id } } }",
    "visits": (
        "query($from: DateTime!, $to: DateTime!) { visits(from: $from, to: $to) { nodes { id } } }"
    ),
    "referrals": "{ referrals { nodes { id } } }",
    "changeRequests": "{ changeRequests { nodes { id } } }",
    "devices": "{ devices { nodes { id } } }",
    "unsyncedWork": "{ unsyncedWork { nodes { id } } }",
    "quarantinedCommands": "{ quarantinedCommands { nodes { id } } }",
    "exceptionCases": "{ exceptionCases { nodes { id } } }",
    "portalImports": "{ portalImports { nodes { id } } }",
    "personLinkHolds": "{ personLinkHolds { nodes { id } } }",
    "connectorInstances": "{ connectorInstances { nodes { id } } }",
    "inboundPayloads": "{ inboundPayloads { nodes { id } } }",
    "governanceRuleFailures": "{ governanceRuleFailures { nodes { id } } }",
}
# Lists only a registered manager (and admins) may read: the stranger asks as one.
MANAGER_LISTS = {"governanceRuleFailures"}


def test_the_list_catalogue_covers_every_root_list() -> None:
    query_type = schema._schema.query_type
    assert query_type is not None
    connections = {
        name
        for name, field in query_type.fields.items()
        if get_named_type(field.type).name.endswith("Connection")
    }
    # Organisations are the public directory; the access log and accounts (a manager sees their
    # own organisation's, themselves included) are checked by their own tests
    # (tests/audit, tests/accounts/test_lifecycle.py).
    assert connections - {"organisations", "accessLog", "accounts"} == set(LISTS)


async def test_every_list_is_filtered_by_tenancy(
    http: httpx.AsyncClient,
    identities: Identities,
    world: World,
    sessions: SessionFactory,
    clock: FixedClock,
) -> None:
    async with unit_of_work(sessions) as session:
        stranger_org = await builders.create_organisation(session, name="Unrelated provider")
        raised_by = await session.get(Organisation, world.provider_a)
        assert raised_by is not None
        await builders.create_change_request(
            session, raised_by=raised_by, contract_id=world.contract_x
        )
        await seed_device_with_unsynced_and_quarantined(
            session, staff_id=world.carer_1, organisation_id=world.provider_a, now=clock.now()
        )
        await governance_builders.create_exception_case(
            session,
            contract_id=world.contract_x,
            provider_id=world.provider_a,
            person_id=world.person_1,
        )
        await la_imports_builders.create_portal_import(session, contract_id=world.contract_x)
        await integrations.register_instance(
            session,
            AccessScope.system(),
            organisation_id=world.provider_a,
            kind=ConnectorKind.SUPPLIER_REST,
            name="rota-system",
            base_url="http://127.0.0.1:9/",
            webhook_secrets_env=None,
            credentials_env=None,
            poll_interval_seconds=300,
            enabled=True,
            actor="test",
            clock=clock,
        )
        await archive.keep(
            session,
            connector="rota-system",
            channel="webhook",
            body=b'{"event": "visit.checked_in"}',
            content_type="application/json",
            delivery_key="webhook:tenancy-check",
            organisation_id=world.provider_a,
            clock=clock,
        )
        await governance_builders.create_rule_failure(
            session, contract_id=world.contract_x, provider_id=world.provider_a
        )
    window = {"from": clock.now().isoformat(), "to": (clock.now() + timedelta(days=1)).isoformat()}
    admin = await _client(http, identities, Role.ADMIN)
    stranger = await _client(http, identities, Role.COORDINATOR, organisation_id=stranger_org.id)
    stranger_manager = await _client(
        http, identities, Role.REGISTERED_MANAGER, organisation_id=stranger_org.id
    )
    for name, document in LISTS.items():
        variables = window if "$from" in document else None
        everything = (await admin.execute(document, variables)).ok()[name]["nodes"]
        assert everything, f"{name}: the world should give the admin rows to see"
        reader = stranger_manager if name in MANAGER_LISTS else stranger
        seen = (await reader.execute(document, variables)).ok()[name]["nodes"]
        assert seen == [], f"{name}: an unrelated provider saw {len(seen)} rows"
