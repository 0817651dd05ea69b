"""`Visit.facts` over GraphQL: the office reads what was recorded at a visit, with its flags
and both times; the read is attributed to the person in the access log; another provider's
office sees no visit at all, and a visit's facts batch in one query per page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.kit.ids import uuid7
from hub.kit.time import FixedClock
from hub.tenancy import AccessScope
from hub.visits import facts
from hub.visits.facts import ObservationKind, Verification, VerificationMethod
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

VISIT_FACTS = """
query Facts($id: ID!) {
  visit(id: $id) {
    status
    facts { id kind occurredAt deviceOccurredAt receivedAt source flags
            verificationMethod distanceM details }
  }
}"""


async def test_the_office_reads_a_visits_facts_and_the_read_is_logged(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
) -> None:
    clock.current = START + timedelta(minutes=5)
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        other = await builders.create_organisation(session, name="Hilltop Care")
        contract = await builders.create_contract(session, provider=provider)
        person = await builders.create_person(session, latitude=53.4808, longitude=-2.2426)
        package = await builders.create_package(session, contract=contract, person=person)
        carer = await builders.create_staff(session, organisation=provider)
        visit = await builders.create_visit(
            session, package=package, carers=(carer,), planned_start=START
        )
    scope = AccessScope(Role.CARER, provider.id, carer.id)
    async with unit_of_work(sessions) as session:
        checked_in = await facts.record_check_in(
            session,
            scope=scope,
            actor="test",
            clock=clock,
            fact_id=uuid7(),
            visit_id=visit.id,
            staff_id=carer.id,
            occurred_at=START + timedelta(minutes=2),
            device_time=START + timedelta(minutes=1),
            verification=Verification(
                VerificationMethod.GPS, latitude=53.4838, longitude=-2.2426, accuracy_m=9
            ),
            source="mobile",
        )
        await facts.record_observation(
            session,
            scope=scope,
            actor="test",
            clock=clock,
            fact_id=uuid7(),
            visit_id=visit.id,
            staff_id=carer.id,
            occurred_at=START + timedelta(minutes=4),
            kind=ObservationKind.HYDRATION,
            values={"fluid_ml": 300},
            source="mobile",
        )
    coordinator = GraphQLClient(
        http, token=await identities.token(Role.COORDINATOR, organisation_id=provider.id)
    )
    outsider = GraphQLClient(
        http, token=await identities.token(Role.COORDINATOR, organisation_id=other.id)
    )
    visit_id = encode_global_id("Visit", visit.id)

    data = (await coordinator.execute(VISIT_FACTS, {"id": visit_id})).ok()
    hidden = (await outsider.execute(VISIT_FACTS, {"id": visit_id})).ok()

    found = data["visit"]
    assert found["status"] == "IN_PROGRESS"
    assert [(f["kind"], f["flags"]) for f in found["facts"]] == [
        ("CHECK_IN", ["OUTSIDE_GEOFENCE"]),
        ("OBSERVATION", []),
    ]
    check_in, hydration = found["facts"]
    assert check_in["id"] == str(checked_in.fact_id)
    assert check_in["occurredAt"] == (START + timedelta(minutes=2)).isoformat()
    assert check_in["deviceOccurredAt"] == (START + timedelta(minutes=1)).isoformat()
    assert check_in["receivedAt"] == clock.now().isoformat()
    assert check_in["verificationMethod"] == "gps"
    assert 320 < check_in["distanceM"] < 350
    assert hydration["details"] == {"kind": "hydration", "values": {"fluid_ml": 300}, "note": None}
    assert hidden == {"visit": None}
    async with sessions() as session:
        rows = (await session.scalars(select(AccessLogEntry))).all()
    assert [(row.fields, row.person_ids) for row in rows] == [(["facts"], [person.id])]
