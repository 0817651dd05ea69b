"""`/healthz`: the process is alive. `/readyz`: it can do its job (database reachable,
migrations at head, Redis reachable). Load balancers route on readiness."""

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
            beat = await runtime.redis.get(HEARTBEAT_KEY)
        checks["redis"] = "ok"
        if beat:
            seen = datetime.fromisoformat(beat.decode() if isinstance(beat, bytes) else beat)
            checks["worker_last_seen_seconds"] = round(
                (datetime.now(UTC) - seen).total_seconds(), 1
            )
        else:
            checks["worker_last_seen_seconds"] = None
    except Exception as exc:
        ready = False
        checks["redis"] = f"unreachable: {type(exc).__name__}"

    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
