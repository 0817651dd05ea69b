from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.demo import DEMO_ORGANISATIONS, load_demo
from hub.errors import InvalidInput
from hub.events.models import Event
from hub.kit.time import FixedClock
from hub.organisations import service
from hub.organisations.errors import DuplicateOdsCode
from hub.organisations.models import OrganisationKind
from tests.support.graphql import GraphQLClient


async def test_creating_an_organisation_records_an_event(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    async with unit_of_work(sessions) as session:
        created = await service.create(
            session,
            kind=OrganisationKind.PROVIDER,
            name="  Riverside Homecare ",
            ods_code="ax123",
            actor="staff:admin",
            clock=clock,
        )
    assert created.name == "Riverside Homecare"
    assert created.ods_code == "ax123"  # stored as given
    async with sessions() as session:
        events = (await session.scalars(select(Event).where(Event.subject_id == created.id))).all()
    assert [(e.type, e.actor, e.occurred_at) for e in events] == [
        ("organisation.created", "staff:admin", clock.now())
    ]


@pytest.mark.parametrize("bad", ["A1", "A81-001", "ABCDEFGHIJK", "Q X9"])
async def test_a_malformed_ods_code_is_refused_with_the_field(
    sessions: SessionFactory, clock: FixedClock, bad: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        async with unit_of_work(sessions) as session:
            await service.create(
                session, kind=OrganisationKind.ICB, name="ICB", ods_code=bad, actor="a", clock=clock
            )
    assert refused.value.field == "odsCode"
    assert refused.value.code == "INVALID_ODS_CODE"


async def test_an_ods_code_belongs_to_one_organisation(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    async with unit_of_work(sessions) as session:
        await service.create(
            session, kind=OrganisationKind.ICB, name="One", ods_code="QX1", actor="a", clock=clock
        )
    with pytest.raises(DuplicateOdsCode):
        async with unit_of_work(sessions) as session:
            await service.create(
                session,
                kind=OrganisationKind.ICB,
                name="Two",
                ods_code="QX1",
                actor="a",
                clock=clock,
            )


async def test_demo_data_loads_idempotently(sessions: SessionFactory, clock: FixedClock) -> None:
    first = await load_demo(sessions, clock)
    second = await load_demo(sessions, clock)
    assert first == second
    assert first["organisations"] == len(DEMO_ORGANISATIONS)
    async with sessions() as session:
        created = (
            await session.scalars(select(Event).where(Event.type == "organisation.created"))
        ).all()
    assert len(created) == len(DEMO_ORGANISATIONS)


async def test_organisations_page_by_cursor(
    admin_graphql: GraphQLClient, sessions: SessionFactory, clock: FixedClock
) -> None:
    graphql = admin_graphql
    await load_demo(sessions, clock)
    query = """
      query Page($after: String) {
        organisations(first: 3, after: $after) { nodes { name } pageInfo { hasNextPage endCursor } }
      }"""
    names: list[str] = []
    after = None
    while True:
        page = (await graphql.execute(query, {"after": after})).ok()["organisations"]
        names += [n["name"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == sorted(o.name for o in DEMO_ORGANISATIONS)


async def test_page_size_is_capped_with_a_clear_error(admin_graphql: GraphQLClient) -> None:
    response = await admin_graphql.execute("{ organisations(first: 1000) { nodes { name } } }")
    assert response.errors
    assert "first: must be between 1 and 100" in response.errors[0]["message"]


async def test_organisations_need_a_signed_in_caller(graphql: GraphQLClient) -> None:
    response = await graphql.execute("{ organisations { nodes { name } } }")
    assert response.data is None
    assert response.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
