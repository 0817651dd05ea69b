"""F6: the server is killed (SIGKILL) in the middle of applying a batch. A real `hub serve`
process works on the test's database; another connection holds the row lock of the visit the
50th command needs, so the kill lands exactly while that command waits, after 49 commands have
committed. A new `hub serve` answers the same batch resent: the committed prefix DUPLICATE,
the rest APPLIED, and the log and the facts have no gap and no double."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.embedded import free_port
from hub.kit.time import SystemClock
from hub.mobile import devices
from hub.mobile.models import CommandLogEntry
from hub.tenancy import AccessScope
from hub.visits.models import VisitFact
from tests import builders
from tests.mobile.app_client import document_id
from tests.mobile.command_builder import Phone
from tests.support.processes import HubProcess, hub_env, run_hub

pytestmark = pytest.mark.slow


@pytest.fixture
def started() -> Iterator[list[HubProcess]]:
    processes: list[HubProcess] = []
    try:
        yield processes
    finally:
        for process in processes:
            process.close()


def _submit(
    hub: HubProcess, token: str, batch: dict[str, object], timeout: float
) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/graphql",
        json={"documentId": document_id("SubmitCommands"), "variables": {"input": batch}},
        headers={"authorization": f"Bearer {token}"},
        timeout=timeout,
    )


async def _wait_for(engine: AsyncEngine, sql: str, expected: int, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with engine.connect() as connection:
            found = await connection.scalar(text(sql))
        if found == expected:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{sql!r} gave {found}, expected {expected}")
        await asyncio.sleep(0.05)


async def test_a_batch_interrupted_by_a_kill_resumes_with_no_gap_and_no_double(
    sessions: SessionFactory,
    engine: AsyncEngine,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    started: list[HubProcess],
) -> None:
    now = datetime.now(UTC)
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        contract = await builders.create_contract(session, provider=provider)
        package = await builders.create_package(session, contract=contract)
        carer = await builders.create_staff(session, organisation=provider)
        first_visit = await builders.create_visit(
            session, package=package, carers=(carer,), planned_start=now - timedelta(minutes=20)
        )
        blocked_visit = await builders.create_visit(
            session, package=package, carers=(carer,), planned_start=now - timedelta(minutes=10)
        )
    phone = Phone(booted_at=now - timedelta(hours=1))
    async with unit_of_work(sessions) as session:
        await devices.register_device(
            session,
            scope=AccessScope(Role.CARER, provider.id, carer.id),
            actor="test",
            clock=SystemClock(),
            device_id=phone.device_id,
            platform="android",
            model=None,
            app_version="1.0.0",
            protocol_version=2,
        )
    for n in range(100):
        visit = first_visit if n < 49 else blocked_visit
        phone.hydration(visit.id, now - timedelta(minutes=5) + timedelta(seconds=n), 50)
    batch = phone.batch(now)

    env = hub_env(
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_DATABASE_URL=database_url,
        HUB_REDIS_URL=redis_url,
        HUB_INPROCESS_WORKER="false",
        HUB_MOBILE_COMMAND_LOCK_TIMEOUT_MS="30000",
    )
    issued = run_hub(
        "token",
        "--role",
        "carer",
        "--organisation",
        str(provider.id),
        "--staff",
        str(carer.id),
        env=env,
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()

    first = HubProcess(env=env, port=free_port(), log_path=tmp_path / "first.log")
    started.append(first)
    first.wait_ready()
    async with engine.connect() as blocker:
        await blocker.execute(
            text("SELECT id FROM visits WHERE id = :id FOR UPDATE"), {"id": blocked_visit.id}
        )
        sending = asyncio.get_running_loop().run_in_executor(
            None, lambda: _submit(first, token, batch, timeout=60)
        )
        # 49 committed, the 50th waiting for the row lock: kill the server now.
        await _wait_for(engine, "SELECT count(*) FROM command_log", 49)
        await _wait_for(engine, "SELECT count(*) FROM pg_locks WHERE NOT granted", 1)
        first.kill_hard()
        with pytest.raises(httpx.HTTPError):
            await sending
        await blocker.rollback()
    # The killed server's session ends: its advisory lock on the device goes with it.
    await _wait_for(engine, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", 0)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CommandLogEntry)) == 49

    second = HubProcess(env=env, port=free_port(), log_path=tmp_path / "second.log")
    started.append(second)
    second.wait_ready()
    response = await asyncio.get_running_loop().run_in_executor(
        None, lambda: _submit(second, token, batch, timeout=60)
    )
    second.kill_hard()

    assert response.status_code == 200, response.text
    answer = response.json()["data"]["submitCommands"]
    assert answer["ackedThroughSeq"] == 100
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == ["DUPLICATE"] * 49 + ["APPLIED"] * 51
    async with sessions() as session:
        seqs = (
            await session.scalars(select(CommandLogEntry.seq).order_by(CommandLogEntry.seq))
        ).all()
        facts = await session.scalar(select(func.count()).select_from(VisitFact))
    assert list(seqs) == list(range(1, 101))
    assert facts == 100
