"""Serve the test's app over real HTTP and websockets on loopback (uvicorn in this event loop).

The app's lifespan is already running (the `app` fixture), so uvicorn starts none of its own;
tests can still reach the app's runtime (`app.state.runtime`) to observe it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from hub.embedded import free_port


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """Yield the base URL (`http://127.0.0.1:<port>`) while uvicorn serves `app`."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    # `_serve`, not `serve`: the latter takes over SIGINT/SIGTERM, which belong to pytest here.
    task = asyncio.create_task(server._serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                await task  # raises why it could not start
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
