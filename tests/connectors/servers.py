"""Real HTTP on loopback for connector tests: uvicorn serving an ASGI app from a thread.

The connector under test runs on the test's event loop; the upstream runs on its own loop in
a background thread, so the two talk over a real socket exactly as in production (h11
framing, Content-Length, dropped connections), and the test can still stop, start and inspect
the upstream between calls.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp


def bind_loopback() -> socket.socket:
    """A socket bound to a free loopback port and not yet listening.

    Until a server listens on it, connecting is refused: a dead upstream at a known address,
    which a server can later bring back to life on the very same port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServerThread:
    """uvicorn serving `app` on `sock` (or a fresh loopback socket) in a daemon thread."""

    def __init__(self, app: ASGIApp, sock: socket.socket | None = None) -> None:
        self.sock = sock or bind_loopback()
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            http="h11",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("uvicorn exited before it started")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start in {timeout} s")
            time.sleep(0.005)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self.sock.close()


class ReferenceServerHandle:
    """The running reference server plus its admin API, for tests."""

    def __init__(self, thread: ServerThread, token: str) -> None:
        self.thread = thread
        self.token = token

    @property
    def url(self) -> str:
        return self.thread.url

    async def _admin(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.request(
                method, path, json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
        response.raise_for_status()
        return response.json()

    async def add_fault(self, kind: str, **options: Any) -> None:
        await self._admin("POST", "/_admin/faults", {"kind": kind, **options})

    async def clear_faults(self) -> None:
        await self._admin("DELETE", "/_admin/faults")

    async def requests_to(self, path: str) -> int:
        counts = await self._admin("GET", "/_admin/requests")
        return int(counts["by_path"].get(path, 0))

    async def put_record(self, feed: str, item: dict[str, Any]) -> None:
        await self._admin("PUT", f"/_admin/records/{feed}", item)

    async def send_webhook(self, url: str, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._admin(
            "POST", "/_admin/webhooks/visit-event", {"url": url, **options}
        )
        return result
