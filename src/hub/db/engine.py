"""Engine and session factory. Sessions never commit on their own: see `hub.db.uow`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 5,
    statement_timeout_ms: int = 15_000,
    application_name: str = "care-hub",
) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(statement_timeout_ms),
                # Times leave the database in UTC whatever the server's own setting is.
                "timezone": "UTC",
            }
        },
    )


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    # Every table must be mapped before the first flush: foreign keys name tables of other
    # domains (accounts → staff_members), which a process may not have imported yet.
    import hub.db.registry  # noqa: F401

    # expire_on_commit=False: mapped values stay readable after the unit of work commits.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
