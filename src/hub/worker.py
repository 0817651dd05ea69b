"""The arq worker: time-based rules, connector polls, event relays and exports run here.

`hub worker` runs it on its own; `hub serve` runs it in-process by default (embedded mode).
Every job is idempotent: arq may run a job twice, and `_job_id` de-duplicates enqueues.

arq's own loop ends for good at the first Redis error, in silence when it runs as a task. So
the hub runs it under `supervise`, which outlives Redis outages:

* the poll loop: when Redis goes away, `supervise` logs it once, pings with capped backoff until
  Redis answers, and runs the same `HubWorker` again (its running jobs carry on meanwhile);
  any other crash is logged at error level and the loop restarts after a pause;
* a job's bookkeeping: a job that finished while Redis was away keeps trying to record its end
  (`finish_job`) until Redis is back, so a job that ran is not run again, and a job that could
  not start is released to run once Redis is back, so it is not lost;
* a job body that hits a Redis error (one that enqueues other jobs) is retried by arq later
  (`Retry`), never recorded as a failure;
* `WorkerPulse` records when the loop last polled Redis: `/readyz` reads it for the in-process
  worker and `hub worker-check` reads the file it writes for a `hub worker` (its probe).

Routine job runs log at debug; slow runs and failures at warning or error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix
from arq.cron import CronJob
from arq.worker import Function, Retry, Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub.governance import runner as governance
from hub.integrations import tasks as integrations
from hub.la_imports import tasks as la_imports
from hub.logging import get_logger
from hub.runtime import Runtime
from hub.worker_pulse import WorkerPulse

log = get_logger("hub.worker")

HEARTBEAT_KEY = "hub:worker:heartbeat"
# Errors that mean "Redis is not there right now" rather than a fault in the hub. redis-py's
# BusyLoadingError (a restarted Redis loading its data) is a ConnectionError.
REDIS_DOWN: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
)
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 5.0
# How long a finished job keeps trying to record its end in Redis before giving up (it then
# runs again once Redis is back, which idempotent jobs allow).
RECORD_PATIENCE_SECONDS = 600.0
# A job whose body met a Redis outage runs again this much later.
REDIS_RETRY_SECONDS = 5


async def heartbeat(ctx: dict[str, Any]) -> str:
    """Record that a worker is alive; `/readyz` and `/metrics` report how long ago this ran."""
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


def describe(error: BaseException) -> str:
    """`ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.`"""
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _observed(name: str, coroutine: Callable[..., Awaitable[Any]], slow_seconds: float) -> Any:
    """A job body that logs its run (debug, or warning when slow) and turns a Redis outage met
    inside it into an arq `Retry`: the job runs again later instead of counting as failed."""

    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            result = await coroutine(ctx, *args, **kwargs)
        except REDIS_DOWN as exc:
            log.warning(
                "job.redis_unavailable",
                job=name,
                job_id=ctx.get("job_id"),
                retry_in_seconds=REDIS_RETRY_SECONDS,
                error=describe(exc),
            )
            raise Retry(defer=REDIS_RETRY_SECONDS) from exc
        seconds = round(time.monotonic() - started, 3)
        if seconds >= slow_seconds:
            log.warning("job.slow", job=name, job_id=ctx.get("job_id"), seconds=seconds)
        else:
            log.debug("job.done", job=name, job_id=ctx.get("job_id"), seconds=seconds)
        return result

    return run


class HubWorker(Worker):
    """arq's worker, made to outlive Redis outages (see the module docstring)."""

    def __init__(
        self, *args: Any, pulse: WorkerPulse, slow_job_seconds: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pulse = pulse
        for name, function in list(self.functions.items()):
            observed = _observed(name, function.coroutine, slow_job_seconds)
            if isinstance(function, CronJob):
                replaced: Function | CronJob = dataclasses.replace(function, coroutine=observed)
                self.cron_jobs[self.cron_jobs.index(function)] = replaced  # type: ignore[assignment]
            else:
                replaced = dataclasses.replace(function, coroutine=observed)
            self.functions[name] = replaced

    async def heart_beat(self) -> None:
        # arq calls this at the end of every poll iteration: the loop is alive and Redis answers.
        await super().heart_beat()
        self.pulse.record_poll()

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except REDIS_DOWN as exc:
            # Redis went away before the job's body ran (its end is recorded patiently, see
            # finish_job): release it, so it runs once Redis is back instead of waiting out
            # its in-progress marker (or, if Redis lost it, the cron or relay enqueues again).
            log.warning("job.not_started", job_id=job_id, error=describe(exc))
            await wait_for_redis(self.pool, self.pulse)
            with contextlib.suppress(*REDIS_DOWN):
                await self.pool.delete(in_progress_key_prefix + job_id)

    async def finish_job(self, *args: Any, **kwargs: Any) -> None:
        await self._patiently(super().finish_job, *args, **kwargs)

    async def finish_failed_job(self, *args: Any, **kwargs: Any) -> None:
        await self._patiently(super().finish_failed_job, *args, **kwargs)

    async def _patiently(
        self,
        write: Callable[..., Awaitable[None]],
        *args: Any,
        **kw: Any,
    ) -> None:
        """Run a bookkeeping write (one MULTI/EXEC, safe to repeat) until Redis takes it."""
        deadline = time.monotonic() + RECORD_PATIENCE_SECONDS
        delay = FIRST_DELAY_SECONDS
        while True:
            try:
                await write(*args, **kw)
                return
            except REDIS_DOWN:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY_SECONDS)

    async def settle_after_crash(self) -> None:
        """Make arq's job-slot accounting match the jobs really running. A Redis error between
        taking a slot and starting the job (`start_jobs`) leaks the slot; enough leaks and the
        worker would never take a job again."""
        running = sum(1 for task in self.tasks.values() if not task.done())
        self.sem = asyncio.BoundedSemaphore(self.max_jobs + 1)
        for _ in range(running):  # never waits: max_jobs + 1 permits, at most max_jobs running
            await self.sem.acquire()  # the running tasks release theirs when they end
        self.job_counter = running


async def wait_for_redis(redis: ArqRedis, pulse: WorkerPulse) -> float:
    """Ping until Redis answers, backing off from 0.5 s to 5 s with jitter; the seconds waited.
    Each attempt is a sign of life for `hub worker-check`."""
    started = time.monotonic()
    delay = FIRST_DELAY_SECONDS
    while True:
        try:
            await redis.ping()
            return time.monotonic() - started
        except REDIS_DOWN as exc:
            pulse.record_waiting(describe(exc))
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not secrecy
        delay = min(delay * 2, MAX_DELAY_SECONDS)


async def supervise(worker: HubWorker) -> None:
    """Run the worker until cancelled (or, in burst mode, until the queue is empty), through
    Redis outages and crashes. See the module docstring."""
    pulse = worker.pulse
    delay = FIRST_DELAY_SECONDS
    while True:
        try:
            await worker.async_run()
            if worker.burst:
                return
            # arq's loop only returns in burst mode; anything else is a fault, shown as one.
            raise RuntimeError("the arq worker loop returned")
        except REDIS_DOWN as exc:
            error = describe(exc)
            pulse.record_waiting(error)
            log.warning("worker.redis_unavailable", error=error)
            await worker.settle_after_crash()
            waited = await wait_for_redis(worker.pool, pulse)
            log.info("worker.redis_back", waited_seconds=round(waited, 1))
            delay = FIRST_DELAY_SECONDS
        except Exception as exc:
            pulse.record_crash(describe(exc))
            log.error(
                "worker.crashed", error=describe(exc), restart_in_seconds=delay, exc_info=True
            )
            await worker.settle_after_crash()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_SECONDS)


def build_worker(
    runtime: Runtime,
    *,
    burst: bool = False,
    handle_signals: bool = False,
    pulse: WorkerPulse | None = None,
) -> HubWorker:
    """A worker sharing the runtime's engine and Redis pool (in-process or standalone)."""
    settings = runtime.settings
    return HubWorker(
        functions=FUNCTIONS,
        cron_jobs=cron_jobs(settings.worker_heartbeat_seconds)
        + governance.cron_jobs(settings.governance_scan_seconds)
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
        pulse=pulse or WorkerPulse(),
        slow_job_seconds=settings.worker_slow_job_seconds,
    )
