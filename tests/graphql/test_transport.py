"""GraphQL over HTTP (POST and GET) and over graphql-transport-ws, through the ASGI app."""

from __future__ import annotations

from datetime import datetime

from starlette.applications import Starlette

from hub.accounts.models import Role
from tests.support.asgi import WebSocketClosed, websocket_connect
from tests.support.graphql import GraphQLClient, SubscriptionSession
from tests.support.identity import Identities


async def test_query_over_post(graphql: GraphQLClient) -> None:
    data = (await graphql.execute("{ hub { version environment serverTime } }")).ok()
    assert data["hub"]["environment"] == "test"
    assert datetime.fromisoformat(data["hub"]["serverTime"]).tzinfo is not None


async def test_query_over_get(graphql: GraphQLClient) -> None:
    data = (await graphql.execute_get("{ hub { version } }")).ok()
    assert data["hub"]["version"]


async def test_subscription_over_graphql_transport_ws(
    app: Starlette, identities: Identities
) -> None:
    token = await identities.token(Role.ADMIN)
    async with websocket_connect(app) as socket:
        assert socket.accepted_subprotocol == "graphql-transport-ws"
        session = SubscriptionSession(socket)
        assert (await session.init({"authorization": f"Bearer {token}"}))[
            "type"
        ] == "connection_ack"
        op = await session.subscribe("subscription { heartbeat(intervalSeconds: 0.01, count: 3) }")
        ticks = [await session.next_message() for _ in range(3)]
        assert [t["type"] for t in ticks] == ["next"] * 3
        assert all(t["id"] == op for t in ticks)
        assert (await session.next_message())["type"] == "complete"


async def test_the_legacy_websocket_protocol_is_refused(app: Starlette) -> None:
    try:
        async with websocket_connect(app, subprotocols=["graphql-ws"]) as socket:
            code = await socket.wait_closed()
    except WebSocketClosed as closed:
        code = closed.code
    assert code in (1002, 4406)
