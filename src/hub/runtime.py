"""What a running hub process holds: settings, the engine and session factory, the Redis pool,
the clock, metrics and the schema. Opened by the app's lifespan, closed on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import strawberry
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth.setup import Identity, build_identity
from hub.config import Settings
from hub.db.engine import SessionFactory, create_engine, create_session_factory
from hub.events.notify import EventNotifier
from hub.kit.time import Clock, SystemClock
from hub.logging import get_logger
from hub.metrics import HubMetrics
from hub.people.sealing import sealer_for

if TYPE_CHECKING:
    from hub.worker_pulse import WorkerPulse

log = get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    redis_url: str
    engine: AsyncEngine
    sessions: SessionFactory
    redis: ArqRedis
    schema: strawberry.Schema
    metrics: HubMetrics
    identity: Identity
    # Wakes live feeds when events commit, on this and every other replica (LISTEN/NOTIFY).
    notifier: EventNotifier
    clock: Clock = field(default_factory=SystemClock)
    worker_task: asyncio.Task[None] | None = None
    # The in-process worker's loop (None when `hub worker` runs apart): `/readyz` judges it.
    worker_pulse: WorkerPulse | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        database_url: str,
        redis_url: str,
        schema: strawberry.Schema,
        metrics: HubMetrics,
        clock: Clock | None = None,
    ) -> Runtime:
        # A missing or malformed field-encryption key stops the hub here, at start-up, rather
        # than at the first read of a sealed access detail.
        sealer_for(settings)
        engine = create_engine(
            database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_overflow,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
        redis = await create_pool(RedisSettings.from_dsn(redis_url))
        metrics.watch_pool(engine)
        sessions = create_session_factory(engine)
        clock = clock or SystemClock()
        identity = build_identity(settings, sessions, redis, clock)
        notifier = EventNotifier(
            database_url, fallback_seconds=settings.event_feed_fallback_seconds
        )
        await notifier.start()
        return cls(
            settings=settings,
            database_url=database_url,
            redis_url=redis_url,
            engine=engine,
            sessions=sessions,
            redis=redis,
            schema=schema,
            metrics=metrics,
            identity=identity,
            notifier=notifier,
            clock=clock,
        )

    async def close(self) -> None:
        if self.worker_task is not None:
            self.worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.worker_task
        await self.notifier.close()
        await self.identity.close()
        await self.redis.aclose()
        await self.engine.dispose()
