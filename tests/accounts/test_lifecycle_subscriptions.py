"""A switched-off (or re-roled) account's open subscriptions end with AUTHORISATION_LOST within
about a second, even on a quiet stream where no event flows, over a real websocket
(graphql-transport-ws) to the app served on loopback. The re-check is one query per second per
process, whatever the number of subscribers, and leaves other accounts' streams alone."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from hub.accounts.models import Account, Role
from hub.auth.watch import AuthorisationWatch
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.organisations.models import OrganisationKind
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

QUIET_FEED = "subscription($c: ID!) { contractEvents(contractId: $c) { type } }"
HEARTBEAT = "subscription { heartbeat(intervalSeconds: 60, count: 2) }"
SWITCH_OFF = (
    "mutation($id: ID!) { switchOffAccount(input: {accountId: $id}) "
    "{ __typename ... on UserError { code } } }"
)
CHANGE_ROLE = (
    "mutation($id: ID!) { changeAccountRole(input: {accountId: $id, role: COORDINATOR}) "
    "{ __typename ... on UserError { code } } }"
)
# "Within about a second": the re-check runs once a second; allow for the query and a busy
# test machine, not for a second re-check.
WITHIN_SECONDS = 1.6


@dataclass
class Council:
    contract: uuid.UUID
    organisation: uuid.UUID

    @property
    def contract_gid(self) -> str:
        return encode_global_id("Contract", self.contract)


@pytest.fixture
async def council(sessions: SessionFactory) -> Council:
    async with unit_of_work(sessions) as session:
        organisation = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY
        )
        contract = await builders.create_contract(session, commissioner=organisation)
    return Council(contract.id, organisation.id)


def watch_of(app: Starlette) -> AuthorisationWatch:
    watch: AuthorisationWatch = app.state.runtime.identity.authenticator.watch
    return watch


@pytest.fixture
async def sockets() -> AsyncIterator[list[ClientConnection]]:
    opened: list[ClientConnection] = []
    try:
        yield opened
    finally:
        for socket in opened:
            await socket.close()


async def subscribe(
    live_url: str,
    token: str,
    query: str,
    variables: dict[str, Any],
    opened: list[ClientConnection],
) -> ClientConnection:
    socket = await connect(
        f"ws{live_url.removeprefix('http')}/graphql",
        subprotocols=[Subprotocol("graphql-transport-ws")],
    )
    opened.append(socket)
    await socket.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await socket.recv())
    assert ack["type"] == "connection_ack", ack
    await socket.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )
    return socket


async def receive(socket: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        message: dict[str, Any] = json.loads(await socket.recv())
    return message


async def quiet_for(socket: ClientConnection, seconds: float) -> bool:
    try:
        await receive(socket, seconds)
    except TimeoutError:
        return True
    return False


async def streams_open(app: Starlette, count: int) -> None:
    """Wait until this many streams are registered with the process's watch (subscribed)."""
    async with asyncio.timeout(5):
        while watch_of(app).open_streams != count:  # noqa: ASYNC110 - polls the app's state
            await asyncio.sleep(0.02)


async def account_gid(sessions: SessionFactory, subject: str) -> str:
    async with sessions() as session:
        account_id = await session.scalar(select(Account.id).where(Account.subject == subject))
    assert account_id is not None
    return encode_global_id("Account", account_id)


@pytest.mark.parametrize("withdrawal", ["switched off", "role changed"])
async def test_a_quiet_feed_ends_within_a_second_of_the_withdrawal(
    app: Starlette,
    live_url: str,
    live_http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    council: Council,
    sockets: list[ClientConnection],
    withdrawal: str,
) -> None:
    leaver = await identities.register(Role.COMMISSIONER, organisation_id=council.organisation)
    stays = await identities.register(Role.COMMISSIONER, organisation_id=council.organisation)
    variables = {"c": council.contract_gid}
    leaving = await subscribe(live_url, identities.mint(leaver), QUIET_FEED, variables, sockets)
    staying = await subscribe(live_url, identities.mint(stays), QUIET_FEED, variables, sockets)
    await streams_open(app, 2)
    assert await quiet_for(leaving, 1.2), "the stream must be quiet: no event is written"

    admin = GraphQLClient(live_http, token=await identities.token(Role.ADMIN))
    document = SWITCH_OFF if withdrawal == "switched off" else CHANGE_ROLE
    started = time.monotonic()
    answer = (await admin.execute(document, {"id": await account_gid(sessions, leaver)})).ok()
    assert next(iter(answer.values())) == {"__typename": "Account"}
    message = await receive(leaving, timeout=5)
    elapsed = time.monotonic() - started

    assert message["type"] == "next", message
    assert message["payload"]["data"] is None
    assert message["payload"]["errors"][0]["extensions"]["code"] == "AUTHORISATION_LOST"
    assert (await receive(leaving))["type"] == "complete"
    assert elapsed < WITHIN_SECONDS, f"ended {elapsed:.2f}s after the {withdrawal}"
    print(f"quiet feed ended {elapsed:.3f}s after the account was {withdrawal}")

    # The other account's stream on the same process is untouched: still registered, and
    # nothing (no AUTHORISATION_LOST) arrives on it over more than one further re-check.
    await streams_open(app, 1)
    assert await quiet_for(staying, 2.2)
    assert watch_of(app).open_streams == 1


async def test_a_quiet_heartbeat_ends_too(
    app: Starlette,
    live_url: str,
    live_http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    council: Council,
    sockets: list[ClientConnection],
) -> None:
    leaver = await identities.register(Role.COMMISSIONER, organisation_id=council.organisation)
    socket = await subscribe(live_url, identities.mint(leaver), HEARTBEAT, {}, sockets)
    first = await receive(socket)
    assert first["type"] == "next", first
    assert first["payload"]["data"]["heartbeat"], first
    await streams_open(app, 1)  # the next tick is a minute away

    admin = GraphQLClient(live_http, token=await identities.token(Role.ADMIN))
    started = time.monotonic()
    (await admin.execute(SWITCH_OFF, {"id": await account_gid(sessions, leaver)})).ok()
    message = await receive(socket, timeout=5)
    elapsed = time.monotonic() - started
    assert message["payload"]["errors"][0]["extensions"]["code"] == "AUTHORISATION_LOST"
    assert elapsed < WITHIN_SECONDS, elapsed


async def test_the_recheck_is_one_query_a_second_whatever_the_number_of_subscribers(
    app: Starlette,
    live_url: str,
    identities: Identities,
    council: Council,
    sockets: list[ClientConnection],
) -> None:
    watch = watch_of(app)
    for _ in range(12):
        subject = await identities.register(Role.COMMISSIONER, organisation_id=council.organisation)
        await subscribe(
            live_url, identities.mint(subject), QUIET_FEED, {"c": council.contract_gid}, sockets
        )
    await streams_open(app, 12)
    before = watch.checks
    await asyncio.sleep(3.0)
    ran = watch.checks - before
    # Once a second for all twelve streams (two to four checks in three seconds), not twelve
    # queries a second.
    assert 2 <= ran <= 4, ran

    for socket in sockets:
        await socket.close()
    await streams_open(app, 0)
    stopped_at = watch.checks
    await asyncio.sleep(1.5)
    assert watch.checks == stopped_at, "no query runs while no stream is open"
