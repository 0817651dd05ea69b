from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.app import create_app
from hub.config import Environment, Settings
from hub.db.engine import SessionFactory, create_engine, create_session_factory
from hub.db.uow import unit_of_work
from hub.kit.time import FixedClock
from hub.organisations import service as organisations
from hub.organisations.models import OrganisationKind
from tests.support.asgi import running_lifespan
from tests.support.databases import DatabaseFactory, postgres_admin_url, redis_base_url
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

# The settings the hub reads must never come from the developer's own shell or .env.
for _name in [n for n in os.environ if n.startswith("HUB_") and not n.startswith("HUB_TEST_")]:
    del os.environ[_name]


@pytest.fixture(scope="session")
def services_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="care-hub-tests-") as root:
        yield Path(root)


@pytest.fixture(scope="session")
def database_factory(services_root: Path) -> Iterator[DatabaseFactory]:
    with postgres_admin_url(services_root) as admin_dsn:
        factory = DatabaseFactory(admin_dsn)
        factory.create_template()
        try:
            yield factory
        finally:
            factory.drop_template()


@pytest.fixture(scope="session")
def redis_server(services_root: Path) -> Iterator[str]:
    with redis_base_url(services_root) as url:
        yield url


@pytest.fixture
async def database_url(database_factory: DatabaseFactory) -> AsyncIterator[str]:
    """A freshly migrated database of this test's own."""
    name = await database_factory.clone()
    try:
        yield database_factory.url(name)
    finally:
        await database_factory.drop(name)


@pytest.fixture
async def redis_url(redis_server: str) -> str:
    """The test's Redis database (one per xdist worker), flushed before the test."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0) + 1 if worker.startswith("gw") else 1
    url = f"{redis_server.rsplit('/', 1)[0]}/{index}"
    client = Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    return url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path / "hub",
        inprocess_worker=False,
        # Carer tokens may send GraphQL text here, so domain tests can probe carer permissions
        # and tenancy with any document. The trusted-document tests (tests/mobile/test_documents,
        # test_pull, test_versions) override this with the production rule.
        mobile_carer_raw_documents=True,
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return create_session_factory(engine)


@pytest.fixture
async def app(settings: Settings, clock: FixedClock) -> AsyncIterator[Starlette]:
    assert settings.database_url
    assert settings.redis_url
    application = create_app(
        settings, database_url=settings.database_url, redis_url=settings.redis_url, clock=clock
    )
    async with running_lifespan(application):
        yield application


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def graphql(http: httpx.AsyncClient) -> GraphQLClient:
    """An anonymous caller."""
    return GraphQLClient(http)


@pytest.fixture
def identities(app: Starlette, sessions: SessionFactory, clock: FixedClock) -> Identities:
    return Identities(app, sessions, clock)


@pytest.fixture
async def provider(sessions: SessionFactory, clock: FixedClock) -> uuid.UUID:
    """A provider organisation to hang staff accounts on."""
    async with unit_of_work(sessions) as session:
        organisation = await organisations.create(
            session,
            kind=OrganisationKind.PROVIDER,
            name="Riverside Homecare",
            ods_code="AX123",
            actor="test",
            clock=clock,
        )
    return organisation.id


@pytest.fixture
async def admin_graphql(http: httpx.AsyncClient, identities: Identities) -> GraphQLClient:
    return GraphQLClient(http, token=await identities.token(Role.ADMIN))


@pytest.fixture
async def coordinator_graphql(
    http: httpx.AsyncClient, identities: Identities, provider: uuid.UUID
) -> GraphQLClient:
    return GraphQLClient(
        http, token=await identities.token(Role.COORDINATOR, organisation_id=provider)
    )
