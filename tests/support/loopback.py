"""The app served over real HTTP on loopback, on the test's own event loop.

uvicorn (h11) parses the bytes a client sends, exactly as in production, so a test can send
what no well-behaved client would: bodies that are not UTF-8, chunked bodies past the cap,
raw requests through a socket. The app's lifespan is run by the `app` fixture; the server here
only listens, so its database and Redis connections stay on the loop that opened them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from structlog.testing import capture_logs


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http="h11",
        loop="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):
        if server.started or task.done():
            break
        await asyncio.sleep(0.005)
    if task.done():
        await task
        raise RuntimeError("uvicorn exited before it started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def raw_request(base_url: str, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send `request` byte for byte; return the status and the whole answer."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(_read_response(reader), timeout)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    status = int(answer.split(b" ", 2)[1])
    return status, answer


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head + body


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class ErrorLog:
    """Everything logged at ERROR or above, through structlog or the standard library."""

    def __init__(self, events: list[MutableMapping[str, Any]], handler: _ErrorRecords) -> None:
        self._events = events
        self._handler = handler

    @property
    def entries(self) -> list[str]:
        found = [
            f"{e.get('log_level')}: {e.get('event')} {e.get('error', '')}"
            for e in self._events
            if e.get("log_level") in ("error", "critical", "exception")
        ]
        found += [f"{r.levelname} {r.name}: {r.getMessage()}" for r in self._handler.records]
        return found


@contextlib.contextmanager
def error_log() -> Iterator[ErrorLog]:
    """Collect ERROR-level log entries while the block runs."""
    handler = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with capture_logs() as events:
            yield ErrorLog(events, handler)
    finally:
        root.removeHandler(handler)
