"""Every response carrying identifiable personal data writes exactly one access-log row first;
if it cannot be written, the data is withheld. The log itself cannot be changed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import strawberry
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.app import create_app
from hub.audit.models import AccessLogEntry
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.context import Info
from hub.graphql.permissions import EVERYONE, allow
from hub.graphql.schema import Mutation, Subscription
from hub.graphql.schema import Query as HubQuery
from hub.kit.time import FixedClock
from tests.support.asgi import running_lifespan
from tests.support.identity import Identities

PEOPLE = [uuid.UUID(int=i) for i in (1, 2, 3)]


@strawberry.type
class FakePerson:
    id: strawberry.ID
    name: str


@strawberry.type
class Query(HubQuery):
    @strawberry.field(extensions=allow(*EVERYONE))
    def people_for_test(self, info: Info, count: int = 3) -> list[FakePerson]:
        chosen = PEOPLE[:count]
        info.context.audit.person_read("peopleForTest", chosen)
        return [
            FakePerson(id=strawberry.ID(str(p)), name=f"Person {i}") for i, p in enumerate(chosen)
        ]


@pytest.fixture
async def audited_app(settings: Settings, clock: FixedClock) -> AsyncIterator[Starlette]:
    schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)
    assert settings.database_url
    assert settings.redis_url
    app = create_app(
        settings,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        clock=clock,
        graphql_schema=schema,
    )
    async with running_lifespan(app):
        yield app


@pytest.fixture
async def client(audited_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=audited_app), base_url="http://t"
    ) as http:
        yield http


async def _rows(sessions: SessionFactory) -> list[AccessLogEntry]:
    async with sessions() as session:
        return list(
            (await session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id))).all()
        )


async def test_a_read_of_personal_data_writes_one_attributable_row(
    audited_app: Starlette,
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    clock: FixedClock,
    provider: uuid.UUID,
) -> None:
    identities = Identities(audited_app, sessions, clock)
    subject = await identities.register(Role.COORDINATOR, organisation_id=provider)
    response = await client.post(
        "/graphql",
        json={
            "query": "query Rota { a: peopleForTest { name } b: peopleForTest(count: 2) { id } }",
            "operationName": "Rota",
        },
        headers={
            "authorization": f"Bearer {identities.mint(subject)}",
            "x-purpose-of-use": "direct care",
            "x-request-id": "req-42",
        },
    )
    assert response.status_code == 200
    assert len(response.json()["data"]["a"]) == 3
    [row] = await _rows(sessions)
    assert row.subject == subject
    assert row.role == "coordinator"
    assert row.organisation_id == provider
    assert row.operation_name == "Rota"
    assert row.purpose == "direct care"
    assert row.request_id == "req-42"
    assert row.fields == ["peopleForTest"]
    assert sorted(row.person_ids) == PEOPLE
    assert row.row_count == 5  # 3 + 2 person records returned


async def test_a_read_without_personal_data_writes_nothing(
    audited_app: Starlette, client: httpx.AsyncClient, sessions: SessionFactory, clock: FixedClock
) -> None:
    token = await Identities(audited_app, sessions, clock).token(Role.ADMIN)
    response = await client.post(
        "/graphql",
        json={"query": "{ hub { version } organisations { nodes { name } } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert await _rows(sessions) == []


async def test_if_the_access_log_cannot_be_written_the_data_is_withheld(
    audited_app: Starlette, client: httpx.AsyncClient, sessions: SessionFactory, clock: FixedClock
) -> None:
    token = await Identities(audited_app, sessions, clock).token(Role.ADMIN)
    async with unit_of_work(sessions) as session:
        await session.execute(text("ALTER TABLE access_log RENAME TO access_log_unavailable"))
    response = await client.post(
        "/graphql",
        json={"query": "{ peopleForTest { name } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
    assert "Person" not in response.text


@pytest.mark.parametrize(
    "statement",
    ["UPDATE access_log SET purpose = 'x'", "DELETE FROM access_log", "TRUNCATE access_log"],
)
async def test_the_database_refuses_to_change_the_access_log(
    audited_app: Starlette,
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    clock: FixedClock,
    statement: str,
) -> None:
    token = await Identities(audited_app, sessions, clock).token(Role.ADMIN)
    await client.post(
        "/graphql",
        json={"query": "{ peopleForTest { name } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    with pytest.raises(DBAPIError, match="append-only"):
        async with unit_of_work(sessions) as session:
            await session.execute(text(statement))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AccessLogEntry)) == 1
