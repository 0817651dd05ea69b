"""graphql-transport-ws security: token in connection_init, 3 s to authenticate, at most 10
subscriptions per socket, authorisation re-checked per event, socket closed at token expiry."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update
from starlette.applications import Starlette

from hub.accounts.models import Account, Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import FixedClock
from tests.support.asgi import WebSocketClosed, websocket_connect
from tests.support.graphql import SubscriptionSession
from tests.support.identity import Identities

SLOW_TICKS = "subscription { heartbeat(intervalSeconds: 0.05, count: 1000) }"


async def _closed_code(socket_session: SubscriptionSession, timeout: float = 5.0) -> int:
    try:
        while True:
            await socket_session.next_message(timeout)
    except WebSocketClosed as closed:
        return closed.code


async def test_no_connection_init_closes_4408_within_about_3_seconds(app: Starlette) -> None:
    async with websocket_connect(app) as socket:
        started = time.monotonic()
        code = await socket.wait_closed(timeout=6)
        elapsed = time.monotonic() - started
    assert code == 4408
    assert 2.5 <= elapsed <= 4.0


@pytest.mark.parametrize("payload", [{}, {"authorization": "Bearer not-a-token"}, {"token": 42}])
async def test_a_missing_or_bad_token_closes_4403_without_ack(
    app: Starlette, payload: dict[str, object]
) -> None:
    async with websocket_connect(app) as socket:
        session = SubscriptionSession(socket)
        await socket.send_json({"type": "connection_init", "payload": payload})
        assert await _closed_code(session) == 4403


async def test_an_expired_token_closes_4403(
    app: Starlette, identities: Identities, clock: FixedClock
) -> None:
    token = await identities.token(Role.ADMIN, ttl=timedelta(minutes=1))
    clock.advance(timedelta(minutes=3))
    async with websocket_connect(app) as socket:
        session = SubscriptionSession(socket)
        await socket.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert await _closed_code(session) == 4403


async def test_subscribe_before_ack_closes_4401(app: Starlette) -> None:
    async with websocket_connect(app) as socket:
        session = SubscriptionSession(socket)
        await session.subscribe(SLOW_TICKS)
        assert await _closed_code(session) == 4401


async def test_the_eleventh_subscription_on_a_socket_is_refused(
    app: Starlette, identities: Identities
) -> None:
    token = await identities.token(Role.ADMIN)
    async with websocket_connect(app) as socket:
        session = SubscriptionSession(socket)
        assert (await session.init({"authorization": f"Bearer {token}"}))[
            "type"
        ] == "connection_ack"
        for _ in range(10):
            await session.subscribe("subscription { heartbeat(intervalSeconds: 30, count: 2) }")
        # the first event of each of the ten arrives at once
        firsts = [await session.next_message() for _ in range(10)]
        assert {m["type"] for m in firsts} == {"next"}
        eleventh = await session.subscribe(
            "subscription { heartbeat(intervalSeconds: 30, count: 2) }"
        )
        refusal = await session.next_message()
        assert refusal["id"] == eleventh
        assert refusal["type"] == "error"
        assert "limit" in refusal["payload"][0]["message"]


async def test_a_token_expiring_mid_stream_closes_the_socket(
    app: Starlette, identities: Identities, clock: FixedClock
) -> None:
    # The hub's clock says the token has 1 s left; the socket must close when it runs out.
    token = await identities.token(Role.ADMIN, ttl=timedelta(minutes=1))
    clock.advance(timedelta(seconds=59))
    async with websocket_connect(app) as socket:
        session = SubscriptionSession(socket)
        assert (await session.init({"authorization": f"Bearer {token}"}))[
            "type"
        ] == "connection_ack"
        await session.subscribe(SLOW_TICKS)
        assert (await session.next_message())["type"] == "next"
        started = time.monotonic()
        assert await _closed_code(session, timeout=5) == 4403
        assert time.monotonic() - started < 3


async def test_an_account_switched_off_mid_stream_stops_delivery(
    app: Starlette, identities: Identities, sessions: SessionFactory, provider: uuid.UUID
) -> None:
    subject = await identities.register(Role.COORDINATOR, organisation_id=provider)
    token = identities.mint(subject)
    async with websocket_connect(app) as socket:
        session = SubscriptionSession(socket)
        assert (await session.init({"authorization": f"Bearer {token}"}))[
            "type"
        ] == "connection_ack"
        op = await session.subscribe(SLOW_TICKS)
        assert (await session.next_message())["type"] == "next"
        async with unit_of_work(sessions) as db:
            await db.execute(update(Account).where(Account.subject == subject).values(active=False))
        delivered_after = 0
        message = await session.next_message()
        while message["type"] == "next" and message["payload"].get("data"):
            delivered_after += 1  # an event already in flight when the account was switched off
            message = await session.next_message()
        assert delivered_after <= 1
        assert message["id"] == op
        assert message["payload"]["data"] is None
        assert "withdrawn" in message["payload"]["errors"][0]["message"]
        assert (await session.next_message())["type"] == "complete"
