"""HTTP-level guards in front of every route: request body cap, bearer authentication and
per-client rate limits. They answer before GraphQL runs, with proper status codes and headers
(401 + WWW-Authenticate, 403, 413, 429 + Retry-After), which resolvers cannot set."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.auth.authenticate import AuthenticationFailed, bearer_token
from hub.auth.tokens import TokenError
from hub.errors import Forbidden, HubError
from hub.logging import get_logger
from hub.metrics import METRICS_PATH

log = get_logger("hub.auth")


async def _send_error(
    send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` (413) without reading more than that into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_error(
                send,
                413,
                "REQUEST_TOO_LARGE",
                f"request bodies are limited to {self.max_bytes} bytes",
            )
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestBodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except RequestBodyTooLarge:
            if not response_started:
                await _send_error(
                    send,
                    413,
                    "REQUEST_TOO_LARGE",
                    f"request bodies are limited to {self.max_bytes} bytes",
                )


class RequestBodyTooLarge(Exception):
    """Raised from `receive` once a streamed (chunked) body passes the cap; the middleware
    answers 413. A route that catches every exception must let this one through."""


class AuthenticationMiddleware:
    """Resolve `Authorization: Bearer …` to a Principal in `scope["state"]["principal"]`.

    No header: the request goes on anonymously and each field's permission decides. A bad
    token is refused here (401) rather than treated as anonymous, so a client with an expired
    token learns why. Websockets authenticate in `connection_init` instead (see the view).
    `/metrics` is left alone: its bearer token is the metrics token, not an identity token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        runtime: Any = getattr(scope["app"].state, "runtime", None)
        state = scope.setdefault("state", {})
        header = dict(scope.get("headers") or []).get(b"authorization")
        try:
            token = bearer_token(header.decode("latin-1") if header is not None else None)
            if token is not None:
                principal = await runtime.identity.authenticator.authenticate(token)
                state["principal"] = principal
                if principal.is_client:
                    decision = await runtime.identity.rate_limiter.take(
                        principal.client_id, time.time()
                    )
                    if not decision.allowed:
                        await _send_error(
                            send,
                            429,
                            "RATE_LIMITED",
                            f"too many requests from client {principal.client_id}; retry in "
                            f"{decision.retry_after_seconds} s",
                            {"retry-after": str(decision.retry_after_seconds)},
                        )
                        return
        except (TokenError, AuthenticationFailed) as exc:
            log.info("auth.refused", code=exc.code, reason=exc.message)
            challenge = f'Bearer error="invalid_token", error_description="{exc.code}"'
            await _send_error(send, 401, exc.code, exc.message, {"www-authenticate": challenge})
            return
        except Forbidden as exc:
            log.info("auth.forbidden", code=exc.code, reason=exc.message)
            await _send_error(send, 403, exc.code, exc.message)
            return
        except HubError as exc:
            await _send_error(send, 503, exc.code, exc.message)
            return
        await self.app(scope, receive, send)
