"""The test's hub app served by uvicorn on a loopback socket, on the test's own event loop.

The app (and its database pool) was started on the test's loop, so it is served there too;
clients then reach it over a real TCP connection (h11 framing, Content-Length, headers as sent),
as partner systems do, rather than through httpx's in-process ASGI transport.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.types import ASGIApp


@asynccontextmanager
async def served(app: ASGIApp, timeout: float = 10.0) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client whose base URL is `app` listening on 127.0.0.1 (a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, http="h11", lifespan="off", log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            if loop.time() > deadline:
                raise RuntimeError(f"uvicorn did not start in {timeout} s")
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout)
        sock.close()
