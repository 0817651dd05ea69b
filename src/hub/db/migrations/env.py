"""Alembic environment. From code (`hub.db.migrate`) a live connection is handed in through
`config.attributes["connection"]`; from the `alembic` command line the URL comes from the hub's
settings (`HUB_DATABASE_URL`)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from hub.db.registry import metadata


def run_with(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from hub.config import get_settings
    from hub.db.engine import create_engine

    url = get_settings().database_url
    if url is None:
        raise SystemExit("set HUB_DATABASE_URL to run alembic from the command line")
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run_with)
    await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run_with(given)
else:
    asyncio.run(run_from_settings())
