"""`/healthz`: the process is alive. `/readyz`: it can do its job (database reachable,
migrations at head, Redis reachable, and, when this process runs the worker in-process, that
worker polling). Load balancers route on readiness.

A `hub worker` running apart never makes an API replica unready: its own probe is
`hub worker-check`, and the age of the last heartbeat of any worker is reported here
(`worker_last_seen_seconds`) and in `/metrics` (`hub_worker_heartbeat_age_seconds`), which
the shipped alert watches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from hub.db.migrate import current_revision, database_is_behind, head_revision
from hub.runtime import Runtime
from hub.worker import HEARTBEAT_KEY

CHECK_TIMEOUT_SECONDS = 2.0


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def worker_heartbeat_age(runtime: Runtime) -> float | None:
    """Seconds since any worker ran the heartbeat job; None if none has (or Redis is away)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            beat = await runtime.redis.get(HEARTBEAT_KEY)
    except Exception:
        return None
    if not beat:
        return None
    seen = datetime.fromisoformat(beat.decode() if isinstance(beat, bytes) else beat)
    return max(0.0, round((datetime.now(UTC) - seen).total_seconds(), 1))


def in_process_worker_check(runtime: Runtime) -> tuple[bool, dict[str, Any]]:
    """Whether the in-process worker's loop polled Redis recently enough, and the details."""
    pulse = runtime.worker_pulse
    assert pulse is not None
    settings = runtime.settings
    limit = settings.worker_heartbeat_seconds * settings.worker_stale_after_beats
    age = round(pulse.polled_age(), 1)
    check: dict[str, Any] = {
        "in_process": True,
        "state": pulse.state,
        "last_poll_seconds": age,
        "limit_seconds": limit,
        "restarts": pulse.restarts,
    }
    if pulse.error:
        check["error"] = pulse.error
    fresh = age <= limit
    check["status"] = (
        "ok"
        if fresh
        else f"stopped: the in-process worker has not polled Redis for {age:.0f} s "
        f"(limit {limit} s = {settings.worker_stale_after_beats} heartbeats), so no rules run"
    )
    return fresh, check


async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, Any] = {}
    ready = True

    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with runtime.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            current = await current_revision(runtime.engine)
        head = head_revision()
        checks["database"] = "ok"
        checks["migrations"] = {"current": current, "head": head}
        if database_is_behind(current):
            ready = False
            checks["migrations"]["status"] = "behind: run `hub migrate`"
        elif current != head:
            checks["migrations"]["status"] = "ahead of this code (a newer release migrated)"
    except Exception as exc:
        ready = False
        checks["database"] = f"unreachable: {type(exc).__name__}"

    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await runtime.redis.ping()
        checks["redis"] = "ok"
        checks["worker_last_seen_seconds"] = await worker_heartbeat_age(runtime)
    except Exception as exc:
        ready = False
        checks["redis"] = f"unreachable: {type(exc).__name__}"

    if runtime.worker_pulse is not None:
        fresh, checks["worker"] = in_process_worker_check(runtime)
        ready = ready and fresh
    else:
        checks["worker"] = {
            "in_process": False,
            "status": "runs apart (`hub worker`); see worker_last_seen_seconds",
        }

    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
