"""The strawberry ASGI view: builds the per-request context from the running hub."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from hub.config import Settings
from hub.graphql.context import Context
from hub.runtime import Runtime


class HubGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: Schema, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=True,
            # Only the maintained protocol; the legacy subscriptions-transport-ws is off.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=3),
            max_subscriptions_per_connection=10,
            multipart_uploads_enabled=False,
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        runtime: Runtime = request.app.state.runtime
        state: dict[str, Any] = request.scope.get("state", {})
        return Context(
            request=request,
            settings=runtime.settings,
            sessions=runtime.sessions,
            redis=runtime.redis,
            clock=runtime.clock,
            metrics=runtime.metrics,
            request_id=str(state.get("request_id", "")),
        )
