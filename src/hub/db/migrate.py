"""Alembic, driven from code: `hub migrate`, the embedded start-up, `/readyz` and the tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "file_template",
        "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s",
    )
    return config


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def database_is_behind(current: str | None) -> bool:
    """True when the database lacks migrations this code needs.

    A database *ahead* of the code (a revision this code does not know, written by a newer
    release) is not behind: during a rolling release, or after rolling the image back, the
    older code keeps serving, as expand/contract migrations intend."""
    head = head_revision()
    if current == head:
        return False
    if current is None:
        return head is not None
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        known = scripts.get_revision(current)
    except Exception:  # alembic raises its own errors for revisions it has never seen
        known = None
    return known is not None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    def run(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(run)


async def pending_model_changes(engine: AsyncEngine) -> list[object]:
    """What `alembic check` would report: differences between the models and the database."""
    from hub.db.registry import metadata

    def run(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(run)
