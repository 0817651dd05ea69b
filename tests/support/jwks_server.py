"""Real HTTP listeners on 127.0.0.1 for the token tests: a fake identity provider's JWKS
endpoint, and a bystander that records any request (the target of a hostile `jku` or `x5u`).

They are `http.server` servers on a free port in a daemon thread, not mocks: the hub's code
reaches them through a real `httpx.AsyncClient` and real sockets, so "the JWKS was fetched
twice" and "the jku URL was never contacted" are counted where the requests land.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from joserfc.jwk import Key

from hub.auth.jwks import public_jwks_document


class _Listener:
    """One HTTP server on 127.0.0.1:<free port>; subclasses decide how to answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner._serve(self)

            def do_POST(self) -> None:
                owner._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: test output is for the tests."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        status, body = self.respond(request.command, request.path)
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def respond(self, method: str, path: str) -> tuple[int, bytes]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class JwksServer(_Listener):
    """A fake identity provider's JWKS endpoint. Publish keys, rotate them, make it fail, and
    read `requests` to see how often the hub fetched."""

    PATH = "/.well-known/jwks.json"

    def __init__(self) -> None:
        super().__init__()
        self._document: dict[str, Any] = {"keys": []}
        self._status = 200
        self._requests = 0

    @property
    def url(self) -> str:
        return self.base_url + self.PATH

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    def publish(self, *keys: Key) -> None:
        """Serve the public parts of `keys` (private keys may be passed; they are stripped)."""
        self.publish_document(public_jwks_document(list(keys)))

    def publish_document(self, document: dict[str, Any]) -> None:
        """Serve `document` exactly as given (for hostile or broken JWKS)."""
        with self._lock:
            self._document = json.loads(json.dumps(document))

    def fail_with(self, status: int) -> None:
        """Answer every request with `status` (200 restores normal service)."""
        with self._lock:
            self._status = status

    def respond(self, method: str, path: str) -> tuple[int, bytes]:
        with self._lock:
            self._requests += 1
            if path != self.PATH:
                return 404, b'{"error": "not found"}'
            if self._status != 200:
                return self._status, b'{"error": "unavailable"}'
            return 200, json.dumps(self._document).encode()


class HitRecorder(_Listener):
    """A listener that must never be contacted. It answers with `document` (an attacker's
    JWKS, so that following it would make a forged token verify) and records every request."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._body = json.dumps(document or {"keys": []}).encode()
        self._hits: list[str] = []

    @property
    def hits(self) -> list[str]:
        with self._lock:
            return list(self._hits)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def respond(self, method: str, path: str) -> tuple[int, bytes]:
        with self._lock:
            self._hits.append(f"{method} {path}")
        return 200, self._body
