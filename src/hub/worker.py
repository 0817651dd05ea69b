"""The arq worker: time-based rules, connector polls, event relays and exports run here.

`hub worker` runs it on its own; `hub serve` runs it in-process by default (embedded mode).
Every job is idempotent: arq may run a job twice, and `_job_id` de-duplicates enqueues."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker

from hub.governance import runner as governance
from hub.integrations import tasks as integrations
from hub.la_imports import tasks as la_imports
from hub.runtime import Runtime

HEARTBEAT_KEY = "hub:worker:heartbeat"


async def heartbeat(ctx: dict[str, Any]) -> str:
    """Record that a worker is alive; `/readyz` reports how long ago this last ran."""
    now = datetime.now(UTC).isoformat()
    await ctx["redis"].set(HEARTBEAT_KEY, now, ex=3600)
    return now


FUNCTIONS: list[Any] = [
    heartbeat,
    *governance.FUNCTIONS,
    la_imports.PROCESS_BATCH,
    *integrations.FUNCTIONS,
]


def cron_jobs(heartbeat_seconds: int) -> list[Any]:
    seconds = set(range(0, 60, max(1, min(heartbeat_seconds, 60)))) or {0}
    return [
        cron(heartbeat, second=seconds, run_at_startup=True, unique=True, name="system.heartbeat")
    ]


def build_worker(runtime: Runtime, *, burst: bool = False, handle_signals: bool = False) -> Worker:
    """A worker sharing the runtime's engine and Redis pool (in-process or standalone)."""
    return Worker(
        functions=FUNCTIONS,
        cron_jobs=cron_jobs(runtime.settings.worker_heartbeat_seconds)
        + governance.cron_jobs(runtime.settings.governance_scan_seconds)
        + integrations.cron_jobs(),
        redis_pool=runtime.redis,
        redis_settings=RedisSettings.from_dsn(runtime.redis_url),
        burst=burst,
        handle_signals=handle_signals,
        ctx={"runtime": runtime, "sessions": runtime.sessions, "clock": runtime.clock},
        max_jobs=10,
        job_timeout=300,
        keep_result=3600,
        poll_delay=0.2,
    )
