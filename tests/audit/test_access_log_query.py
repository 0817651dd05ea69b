"""`accessLog(personId:)`: who read a person's record, for admins and registered managers of an
organisation that can see the person."""

from __future__ import annotations

import uuid

import httpx

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

READ = "query($p: ID!) { person(id: $p) { givenName } }"
LOG = """query($p: ID!) {
  accessLog(personId: $p) { nodes { subject role operationName fields personCount rowCount } }
}"""


async def test_a_registered_manager_reads_who_read_a_person(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory
) -> None:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session)
        other = await builders.create_organisation(session)
        contract = await builders.create_contract(session, provider=provider)
        person = await builders.create_person(session)
        await builders.create_package(session, contract=contract, person=person)
    person_id = encode_global_id("Person", person.id)
    reader = await identities.register(Role.COORDINATOR, organisation_id=provider.id)
    coordinator = GraphQLClient(http, token=identities.mint(reader))
    (await coordinator.execute(READ, {"p": person_id}, operation_name=None)).ok()

    manager = GraphQLClient(
        http, token=await identities.token(Role.REGISTERED_MANAGER, organisation_id=provider.id)
    )
    entries = (await manager.execute(LOG, {"p": person_id})).ok()["accessLog"]["nodes"]
    assert entries == [
        {
            "subject": reader,
            "role": "coordinator",
            "operationName": None,
            "fields": ["person"],
            "personCount": 1,
            "rowCount": 1,
        }
    ]
    # Another organisation's manager learns nothing, not even that the person exists.
    outsider = GraphQLClient(
        http, token=await identities.token(Role.REGISTERED_MANAGER, organisation_id=other.id)
    )
    assert (await outsider.execute(LOG, {"p": person_id})).ok()["accessLog"]["nodes"] == []
    missing = encode_global_id("Person", uuid.uuid4())
    assert (await manager.execute(LOG, {"p": missing})).ok()["accessLog"]["nodes"] == []
    # Coordinators may not read the log at all.
    refused = await coordinator.execute(LOG, {"p": person_id})
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
