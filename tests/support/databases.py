"""Real PostgreSQL and Redis for the tests.

PostgreSQL: the embedded server by default, or `HUB_TEST_DATABASE_URL` (a maintenance database
on a server where the tests may create databases). The schema is migrated once into a template
database; every test gets its own clone (`CREATE DATABASE … TEMPLATE …`), so tests commit for
real, run concurrent transactions, and never see each other's rows.

Redis: the embedded server by default, or `HUB_TEST_REDIS_URL`. Each pytest-xdist worker uses
its own database number, flushed before every test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from hub.db.engine import create_engine
from hub.db.migrate import upgrade
from hub.embedded import EmbeddedPostgres, EmbeddedRedis


def to_asyncpg_dsn(url: str) -> str:
    """A libpq-style URL asyncpg accepts, from either spelling."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def with_database(url: str, database: str, *, driver: str = "postgresql+asyncpg") -> str:
    return (
        make_url(url)
        .set(drivername=driver, database=database)
        .render_as_string(hide_password=False)
    )


@contextmanager
def postgres_admin_url(tmp_root: Path) -> Iterator[str]:
    given = os.environ.get("HUB_TEST_DATABASE_URL")
    if given:
        yield to_asyncpg_dsn(given)
        return
    server = EmbeddedPostgres(tmp_root / "pg", delete_on_stop=True)
    server.start()
    asyncio.run(_without_durability(server.admin_url))
    try:
        yield server.admin_url
    finally:
        server.stop()


@contextmanager
def redis_base_url(tmp_root: Path) -> Iterator[str]:
    given = os.environ.get("HUB_TEST_REDIS_URL")
    if given:
        yield given
        return
    server = EmbeddedRedis(tmp_root / "redis")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


async def _without_durability(admin_dsn: str) -> None:
    """The tests' private cluster is thrown away after the run, so it need not survive a power
    cut: without fsync, synchronous commit and full-page writes, every test's CREATE DATABASE
    and commit stops waiting on the disk. Only this cluster; never the hub's own."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            await conn.execute(f"ALTER SYSTEM SET {setting} = off")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


class DatabaseFactory:
    """Creates the migrated template once, then a fresh clone per test."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.prefix = f"hub_test_{worker}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_template"

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create_template(self) -> None:
        async def run() -> None:
            await self._admin(f'CREATE DATABASE "{self.template}"')
            engine = create_engine(
                with_database(self.admin_dsn, self.template), pool_size=1, max_overflow=0
            )
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()

        asyncio.run(run())

    def drop_template(self) -> None:
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))

    async def clone(self, *, migrated: bool = True) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
        template = f' TEMPLATE "{self.template}"' if migrated else ""
        await self._admin(f'CREATE DATABASE "{name}"{template}')
        return name

    async def drop(self, name: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, name: str) -> str:
        return with_database(self.admin_dsn, name)
