"""Call GraphQL the way clients do: over HTTP (httpx through the ASGI app) and over
graphql-transport-ws (through `AsgiWebSocket`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp

from tests.support.asgi import AsgiWebSocket


@dataclass
class GraphQLResponse:
    status_code: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = self.body.get("errors") or []
        return errors

    def ok(self) -> Any:
        """The data, after asserting there were no errors (their messages are shown if any)."""
        assert not self.errors, [e.get("message") for e in self.errors]
        assert self.status_code == 200, self.status_code
        return self.data


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, *, token: str | None = None) -> None:
        self.http = http
        self.token = token

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        operation_name: str | None = None,
    ) -> GraphQLResponse:
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        if operation_name:
            payload["operationName"] = operation_name
        response = await self.http.post("/graphql", json=payload, headers=self._headers())
        return GraphQLResponse(response.status_code, response.json())

    async def execute_get(self, query: str) -> GraphQLResponse:
        response = await self.http.get("/graphql", params={"query": query}, headers=self._headers())
        return GraphQLResponse(response.status_code, response.json())


class SubscriptionSession:
    """graphql-transport-ws over an open socket: init, subscribe, read `next` payloads."""

    def __init__(self, socket: AsgiWebSocket) -> None:
        self.socket = socket
        self._ids = itertools.count(1)

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.socket.send_json({"type": "connection_init", "payload": payload or {}})
        return await self.socket.receive_json()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        operation_id = str(next(self._ids))
        await self.socket.send_json(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )
        return operation_id

    async def next_message(self, timeout: float = 5.0) -> dict[str, Any]:
        return await self.socket.receive_json(timeout)


__all__ = ["ASGIApp", "GraphQLClient", "GraphQLResponse", "SubscriptionSession"]
