"""Issue 6 item 5: the exception feed across replicas. Two real `hub serve` processes share one
database; a write through process A reaches subscribers on B (and on A) through PostgreSQL
LISTEN/NOTIFY — never process memory. The fallback timer is set to a minute, so an arrival
within seconds can only have come from the notification."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from hub.accounts import service as accounts
from hub.accounts.models import Role
from hub.auth.setup import development_issuer
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.embedded import free_port
from hub.graphql.ids import encode_global_id
from hub.kit.time import SystemClock
from hub.organisations.models import OrganisationKind
from tests import builders
from tests.governance.test_feed import FEED, case_event, write
from tests.support.processes import HubProcess, hub_env

pytestmark = pytest.mark.slow

FALLBACK_SECONDS = 60
SET_TOLERANCES = """
mutation($c: ID!) {
  setContractTolerances(input: {contractId: $c, tolerances: {
    lateAfterMinutes: 20, timeCriticalLateAfterMinutes: 5, missedAfterMinutes: 90,
    minimumStayPercent: 75}}) { __typename }
}
"""


@pytest.fixture
def replicas(
    database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[HubProcess, HubProcess]]:
    data_dir = tmp_path / "shared-hub"
    env = hub_env(
        HUB_DATABASE_URL=database_url,
        HUB_REDIS_URL=redis_url,
        HUB_DATA_DIR=str(data_dir),
        HUB_INPROCESS_WORKER="false",
        HUB_FIELD_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        HUB_EVENT_FEED_FALLBACK_SECONDS=str(FALLBACK_SECONDS),
    )
    # The development signing key, made once before either process could race to make it.
    development_issuer(Settings(data_dir=data_dir), SystemClock())
    started: list[HubProcess] = []
    try:
        for name in ("a", "b"):
            process = HubProcess(env=env, port=free_port(), log_path=tmp_path / f"hub-{name}.log")
            started.append(process)
        for process in started:
            process.wait_ready()
        yield started[0], started[1]
    finally:
        for process in started:
            if process.process.poll() is None:
                process.stop(signal.SIGTERM)
            process.close()
        for process in started:
            assert "Traceback" not in process.log_path.read_text(), process.log_path.read_text()


async def _commissioner(sessions: SessionFactory, tmp_path: Path) -> tuple[uuid.UUID, str]:
    async with unit_of_work(sessions) as session:
        council = await builders.create_organisation(session, kind=OrganisationKind.LOCAL_AUTHORITY)
        contract = await builders.create_contract(session, commissioner=council)
        settings = Settings(data_dir=tmp_path / "shared-hub")
        subject = f"commissioner-{uuid.uuid4().hex[:8]}"
        await accounts.register(
            session,
            issuer=settings.auth_issuer,
            subject=subject,
            role=Role.COMMISSIONER,
            display_name=subject,
            organisation_id=council.id,
            actor="test",
            clock=SystemClock(),
        )
    token = development_issuer(settings, SystemClock()).mint(subject)
    return contract.id, token


async def _open_feed(hub: HubProcess, token: str, variables: dict[str, Any]) -> ClientConnection:
    socket = await connect(
        f"ws://127.0.0.1:{hub.port}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
    )
    await socket.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await socket.recv())
    assert ack["type"] == "connection_ack", ack
    await socket.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": FEED, "variables": variables}}
        )
    )
    return socket


async def _next_event(socket: ClientConnection, timeout: float = 20) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        message = json.loads(await socket.recv())
    assert message["type"] == "next", message
    assert not message["payload"].get("errors"), message["payload"]
    event: dict[str, Any] = message["payload"]["data"]["exceptionFeed"]
    return event


async def test_a_write_through_one_replica_reaches_subscribers_on_both(
    replicas: tuple[HubProcess, HubProcess], sessions: SessionFactory, tmp_path: Path
) -> None:
    writer, reader = replicas
    contract, token = await _commissioner(sessions, tmp_path)
    contract_gid = encode_global_id("Contract", contract)
    await write(sessions, case_event(contract, "case.opened"))
    variables = {"contracts": [contract_gid], "after": "0.0", "all": True}
    on_reader = await _open_feed(reader, token, variables)
    on_writer = await _open_feed(writer, token, variables)
    try:
        # The replay proves each subscription has read the log and is now waiting.
        assert (await _next_event(on_reader))["type"] == "case.opened"
        assert (await _next_event(on_writer))["type"] == "case.opened"

        started = time.monotonic()
        async with httpx.AsyncClient(base_url=writer.url, timeout=20) as http:
            answer = await http.post(
                "/graphql",
                json={"query": SET_TOLERANCES, "variables": {"c": contract_gid}},
                headers={"authorization": f"Bearer {token}"},
            )
        assert answer.json() == {"data": {"setContractTolerances": {"__typename": "Contract"}}}
        arrived = await asyncio.gather(_next_event(on_reader), _next_event(on_writer))
        elapsed = time.monotonic() - started
    finally:
        await on_reader.close()
        await on_writer.close()

    assert [event["type"] for event in arrived] == ["contract.tolerances_changed"] * 2
    assert arrived[0]["cursor"] == arrived[1]["cursor"]
    # Well under the one-minute fallback: woken by the notification from the other process.
    assert elapsed < FALLBACK_SECONDS / 6, elapsed
