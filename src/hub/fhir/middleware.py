"""Refusals made before a FHIR route runs, answered as FHIR.

The HTTP guards in front of every route (`hub.auth.http`: a bad or expired token 401, an
unregistered account 403, a body over the cap 413, a client over its rate 429) answer in the
GraphQL error shape, because they serve ``/graphql`` too and must answer before any route is
chosen. A FHIR client cannot read that shape, so for paths under ``/fhir`` this middleware —
placed outside those guards — rewrites their JSON error into an OperationOutcome, keeping the
status and the headers that matter (``WWW-Authenticate``, ``Retry-After``, ``X-Request-Id``).
Answers that are already FHIR JSON pass through untouched.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.fhir.outcome import error, operation_outcome

FHIR_JSON = b"application/fhir+json"
_ISSUE_TYPES = {401: "login", 403: "forbidden", 413: "too-costly", 429: "throttled"}


class FhirErrorMiddleware:
    def __init__(self, app: ASGIApp, prefix: str = "/fhir") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def translating_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers") or []).get(b"content-type", b"")
                if message["status"] >= 400 and not content_type.startswith(FHIR_JSON):
                    held = message
                    return
                await send(message)
                return
            if held is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status: int = held["status"]
            body = json.dumps(_outcome(status, b"".join(chunks))).encode()
            headers: list[tuple[bytes, bytes]] = [
                (name, value)
                for name, value in held.get("headers") or []
                if name not in (b"content-type", b"content-length")
            ]
            headers += [(b"content-type", FHIR_JSON), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, translating_send)


def _outcome(status: int, body: bytes) -> dict[str, Any]:
    """The refusal's message and code, read from the GraphQL error shape when it is one."""
    message, code = f"refused with HTTP {status}", None
    try:
        decoded = json.loads(body)
        first = decoded["errors"][0]
        message = str(first["message"])
        code = first.get("extensions", {}).get("code")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        text = body.decode("utf-8", "replace").strip()
        message = text[:500] or message
    return operation_outcome(
        [
            error(
                _ISSUE_TYPES.get(status, "exception" if status >= 500 else "processing"),
                message,
                detail_code=str(code) if code else None,
            )
        ]
    )
