"""Drive the ASGI app in-process: its lifespan, HTTP (through httpx) and websockets.

httpx speaks HTTP to an ASGI app but not websockets, so `AsgiWebSocket` plays the client side
of the ASGI websocket protocol directly: the app runs as a task fed by two queues."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import ASGIApp, Message


@contextlib.asynccontextmanager
async def running_lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Start the app's lifespan, yield, then shut it down; start-up failures are raised."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    state: dict[str, Any] = {}

    async def receive() -> Message:
        return await to_app.get()

    async def send(message: Message) -> None:
        await from_app.put(message)

    scope = {"type": "lifespan", "state": state, "asgi": {"version": "3.0"}}
    task: asyncio.Future[None] = asyncio.ensure_future(app(scope, receive, send))
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        await task
        raise RuntimeError(f"lifespan start-up failed: {started.get('message')}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        stopped = await from_app.get()
        await task
        if stopped["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"lifespan shutdown failed: {stopped.get('message')}")


class WebSocketClosed(Exception):
    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"websocket closed with {code} {reason}".strip())
        self.code = code
        self.reason = reason


class AsgiWebSocket:
    """The client end of one websocket connection to an ASGI app."""

    def __init__(
        self, app: ASGIApp, path: str, subprotocols: list[str], headers: list[tuple[bytes, bytes]]
    ) -> None:
        self._app = app
        self._scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "subprotocols": subprotocols,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Future[None] | None = None
        self.accepted_subprotocol: str | None = None
        self.close_code: int | None = None

    async def connect(self) -> None:
        async def receive() -> Message:
            return await self._to_app.get()

        async def send(message: Message) -> None:
            await self._from_app.put(message)

        self._task = asyncio.ensure_future(self._app(self._scope, receive, send))
        await self._to_app.put({"type": "websocket.connect"})
        message = await self._next_message(5.0)
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
            raise WebSocketClosed(self.close_code, message.get("reason", ""))
        assert message["type"] == "websocket.accept", message
        self.accepted_subprotocol = message.get("subprotocol")

    async def _next_message(self, timeout: float) -> Message:
        return await asyncio.wait_for(self._from_app.get(), timeout)

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": json.dumps(payload)})

    async def receive_json(self, timeout: float = 5.0) -> dict[str, Any]:
        message = await self._next_message(timeout)
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
            raise WebSocketClosed(self.close_code, message.get("reason", ""))
        text = message.get("text") or (message.get("bytes") or b"").decode()
        decoded: dict[str, Any] = json.loads(text)
        return decoded

    async def wait_closed(self, timeout: float = 5.0) -> int:
        """Read until the server closes; return the close code."""
        while True:
            message = await self._next_message(timeout)
            if message["type"] == "websocket.close":
                self.close_code = int(message.get("code", 1000))
                return self.close_code

    async def close(self, code: int = 1000) -> None:
        if self._task is None:
            return
        await self._to_app.put({"type": "websocket.disconnect", "code": code})
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._task, 5.0)
        if not self._task.done():
            self._task.cancel()
        self._task = None


@contextlib.asynccontextmanager
async def websocket_connect(
    app: ASGIApp,
    path: str = "/graphql",
    *,
    subprotocols: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[AsgiWebSocket]:
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    socket = AsgiWebSocket(app, path, subprotocols or ["graphql-transport-ws"], raw_headers)
    await socket.connect()
    try:
        yield socket
    finally:
        await socket.close()
