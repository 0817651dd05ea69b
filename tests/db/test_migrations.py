from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.engine import create_engine
from hub.db.migrate import (
    current_revision,
    downgrade,
    head_revision,
    pending_model_changes,
    upgrade,
)
from tests.support.databases import DatabaseFactory


@pytest.fixture
async def empty_engine(database_factory: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    name = await database_factory.clone(migrated=False)
    engine = create_engine(database_factory.url(name), pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()
        await database_factory.drop(name)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        return {row[0] for row in rows}


async def test_migrations_go_up_down_and_up_again(empty_engine: AsyncEngine) -> None:
    assert await current_revision(empty_engine) is None
    await upgrade(empty_engine)
    assert await current_revision(empty_engine) == head_revision()
    assert {"events", "organisations", "alembic_version"} <= await _tables(empty_engine)

    await downgrade(empty_engine, "base")
    assert await current_revision(empty_engine) is None
    assert await _tables(empty_engine) == {"alembic_version"}

    await upgrade(empty_engine)
    assert await current_revision(empty_engine) == head_revision()


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    """`alembic check`: every model change has a migration."""
    assert await pending_model_changes(engine) == []


def test_revision_files_are_date_prefixed() -> None:
    from hub.db.migrate import MIGRATIONS_DIR

    names = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert names
    for name in names:
        assert re.match(r"^\d{4}-\d{2}-\d{2}-\d{4}_[a-z0-9_]+\.py$", name), name
