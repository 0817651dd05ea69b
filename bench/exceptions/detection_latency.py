"""Exception detection-to-delivery latency: how long after a visit's tolerance expires does
its case reach a commissioner's subscribed client? And what does each scan cost?

    .venv/bin/python -m bench.exceptions.detection_latency                 # 3 repetitions
    .venv/bin/python -m bench.exceptions.detection_latency --repeat 1 --no-write

Each repetition, on fresh embedded PostgreSQL and Redis servers:

1. one contract, 1,250 people and packages, 5,000 visits in the day (`dataset`): 360 of them
   unattended with thresholds spread over the measured window, on the real clock;
2. a real `hub serve` process (pinned to CPU 0, worker off) holding the exception feed, and a
   subscribed graphql-transport-ws client in its own process (pinned to CPU 1) stamping each
   message on arrival;
3. this process plays the worker: G1's `run_due_visit_scan` every `--scan-seconds`, on the
   cron's cadence (anchor + k x interval), each run timed;
4. then, on the same servers: 60 events committed directly (the feed's own delivery,
   without the scan), the raw asyncpg LISTEN/NOTIFY round trip, and EXPLAIN ANALYZE of the
   scan's SQL and of a hand-written query for the same visits.

For each case: expiry (planned start + tolerance) → scan start (waiting for the next scan) →
scan commit → arrival at the client. The target is p99 of expiry → arrival under the scan
interval + 2 s. Results go to bench/RESULTS.md (between this benchmark's markers)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text

from bench.exceptions import baselines, report
from bench.exceptions.dataset import (
    LATE_MINUTES,
    MISSED_MINUTES,
    TIME_CRITICAL_MINUTES,
    DayPlan,
    Parties,
    build_parties,
    insert_day,
)
from hub.accounts import service as accounts
from hub.accounts.models import Role
from hub.auth.setup import development_issuer
from hub.config import Settings
from hub.db.engine import SessionFactory, create_engine, create_session_factory
from hub.db.migrate import upgrade
from hub.db.uow import unit_of_work
from hub.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from hub.events.log import NewEvent, record
from hub.events.notify import listener_dsn
from hub.governance import repository as governance_repository
from hub.governance.rules import CaseRule
from hub.governance.runner import run_due_visit_scan
from hub.graphql.ids import decode_global_id, encode_global_id
from hub.kit.time import SystemClock

ROOT = Path(__file__).resolve().parents[2]
PROBES = 60


@dataclass(frozen=True, slots=True)
class ScanRun:
    started: float  # wall clock, seconds since the epoch
    finished: float
    late_opened: int
    missed_opened: int

    @property
    def ms(self) -> float:
        return (self.finished - self.started) * 1000

    @property
    def opened(self) -> int:
        return self.late_opened + self.missed_opened


@dataclass(frozen=True, slots=True)
class CaseSample:
    rule: str
    expiry: float
    scan_started: float
    scan_finished: float
    received: float

    @property
    def total(self) -> float:
        return self.received - self.expiry

    @property
    def waiting(self) -> float:
        return self.scan_started - self.expiry

    @property
    def delivery(self) -> float:
        return self.received - self.scan_finished


@dataclass(frozen=True, slots=True)
class ScanSql:
    """EXPLAIN ANALYZE of the scan's two queries and of the hand-written baseline, at one
    instant."""

    late: baselines.Explained
    missed: baselines.Explained
    raw: baselines.Explained


@dataclass
class Repetition:
    plan: DayPlan
    interval: float
    catch_up: ScanRun
    scans: list[ScanRun]
    samples: list[CaseSample]
    expected: int
    duplicates: int
    probes: list[float]
    notify: list[float]
    busy_sql: ScanSql  # just before the scan in the middle of the window
    idle_sql: ScanSql  # after the window: nothing left to open
    server: str
    late_start_seconds: float
    notes: list[str] = field(default_factory=list)


# --- processes -------------------------------------------------------------------------------


def _pinned(cpu: int, command: list[str]) -> list[str]:
    """Pinned with taskset (server on CPU 0, load on CPU 1) where there are two CPUs."""
    if (os.cpu_count() or 1) > 1 and Path("/usr/bin/taskset").exists():
        return ["taskset", "-c", str(cpu), *command]
    return command


@contextlib.contextmanager
def services(workdir: Path) -> Iterator[tuple[str, str]]:
    postgres = EmbeddedPostgres(workdir / "pg", delete_on_stop=True)
    redis = EmbeddedRedis(workdir / "redis")
    database_url = postgres.start()
    try:
        redis_url = redis.start()
        try:
            yield database_url, redis_url
        finally:
            redis.stop()
    finally:
        postgres.stop()


def _hub_env(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_REDIS_URL=redis_url,
        HUB_DATA_DIR=str(data_dir),
        HUB_INPROCESS_WORKER="false",
        HUB_LOG_LEVEL="warning",
        PYTHONPATH=str(ROOT),
    )
    return env


async def _wait_ready(url: str, process: subprocess.Popen[bytes], *, within: float = 90) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"hub serve exited early with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit(f"hub serve not ready in {within} s")


def _spawn_hub(
    database_url: str, redis_url: str, data_dir: Path, port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            _pinned(0, [sys.executable, "-m", "hub", "serve", "--port", str(port)]),
            env=_hub_env(database_url, redis_url, data_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def _spawn_client(
    port: int, token: str, parties: Parties, messages: Path
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.exceptions.feed_client"]
    command += ["--url", f"ws://127.0.0.1:{port}/graphql", "--token", token]
    command += ["--contract", encode_global_id("Contract", parties.contract_id)]
    command += ["--out", str(messages), "--seconds", "3600"]
    return subprocess.Popen(
        _pinned(1, command), cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# --- the run ---------------------------------------------------------------------------------


async def _token(sessions: SessionFactory, parties: Parties, data_dir: Path) -> str:
    settings = Settings(data_dir=data_dir)
    subject = f"bench-commissioner-{uuid.uuid4().hex[:8]}"
    async with unit_of_work(sessions) as session:
        await accounts.register(
            session,
            issuer=settings.auth_issuer,
            subject=subject,
            role=Role.COMMISSIONER,
            display_name=subject,
            organisation_id=parties.commissioner_id,
            actor="bench",
            clock=SystemClock(),
        )
    return development_issuer(settings, SystemClock()).mint(subject, ttl=timedelta(hours=2))


async def _probe(sessions: SessionFactory, parties: Parties, kind: str, level: int) -> float:
    """Commit one case-shaped event (`case.<kind>`, numbered by `level`) straight to the log;
    return the wall time of the commit."""
    async with unit_of_work(sessions) as session:
        await record(
            session,
            NewEvent(
                type=f"case.{kind}",
                subject_type="exception_case",
                subject_id=uuid.uuid4(),
                contract_id=parties.contract_id,
                actor="bench",
                occurred_at=datetime.now(UTC),
                payload={"level": level},
            ),
        )
    return time.time()


def _messages(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def _wait_live(sessions: SessionFactory, parties: Parties, messages: Path) -> None:
    """The client subscribed "from now": probe until one arrives, so the feed is live."""
    deadline = time.monotonic() + 60
    level = 0
    while time.monotonic() < deadline:
        await _probe(sessions, parties, "bench_ready", level)
        level += 1
        await asyncio.sleep(0.3)
        if any(m.get("type") == "case.bench_ready" for m in _messages(messages)):
            return
    raise SystemExit("the feed client never received a probe")


async def _scan(sessions: SessionFactory) -> ScanRun:
    started = time.time()
    result = await run_due_visit_scan(sessions, SystemClock())
    finished = time.time()
    return ScanRun(started, finished, result.late_opened, result.missed_opened)


async def _explain_scan_sql(
    database_url: str, dialect: Any, now: datetime, interval: float
) -> ScanSql:
    """The scan's SQL as the runner would issue it at `now` (it reads the visits not yet judged
    through the partial index; one query serves both thresholds, so it is explained in both
    slots), and the hand-written baseline over the old window (the previous scan, one interval
    ago, less the longest tolerance and an hour's overlap), in a transaction rolled back."""
    since = now - timedelta(seconds=interval, minutes=MISSED_MINUTES) - timedelta(hours=1)
    connection = await asyncpg.connect(listener_dsn(database_url))
    try:
        sql, values = baselines.positional(
            governance_repository.awaiting_judgement_query(now=now, limit=1000), dialect
        )
        judged = await baselines.explain(connection, sql, *values)
        explained = [judged, judged]
        raw = await baselines.explain_raw_scan(connection, now, since)
    finally:
        await connection.close()
    return ScanSql(explained[0], explained[1], raw)


async def _scans_on_cadence(
    sessions: SessionFactory,
    anchor: datetime,
    interval: float,
    window: timedelta,
    explain: Callable[[datetime], Awaitable[ScanSql]],
) -> tuple[list[ScanRun], ScanSql]:
    """Scans at anchor + k x interval (the cron's cadence) until one interval past the window;
    the scan SQL is explained once, just before the scan in the middle of the window."""
    runs: list[ScanRun] = []
    end = anchor.timestamp() + window.total_seconds() + interval
    middle = int(window.total_seconds() / interval / 2) + 1
    busy: ScanSql | None = None
    k = 0
    while (slot := anchor.timestamp() + k * interval) <= end:
        if k == middle:
            busy = await explain(datetime.fromtimestamp(slot, UTC))
        delay = slot - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        runs.append(await _scan(sessions))
        k += 1
    if busy is None:
        busy = await explain(datetime.now(UTC))
    return runs, busy


async def _feed_probes(sessions: SessionFactory, parties: Parties, messages: Path) -> list[float]:
    """Delivery of events committed straight to the log: the feed without the scan."""
    committed: dict[int, float] = {}
    for level in range(PROBES):
        committed[level] = await _probe(sessions, parties, "bench_probe", level)
        await asyncio.sleep(0.1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        received = {
            m["level"]: m["t"] for m in _messages(messages) if m.get("type") == "case.bench_probe"
        }
        if len(received) == PROBES:
            return [received[level] - committed[level] for level in range(PROBES)]
        await asyncio.sleep(0.2)
    raise SystemExit("not every probe reached the client")


def _expiry(rule: str, planned_start: datetime, time_critical: bool) -> datetime:
    if rule == CaseRule.VISIT_MISSED.value:
        return planned_start + timedelta(minutes=MISSED_MINUTES)
    minutes = TIME_CRITICAL_MINUTES if time_critical else LATE_MINUTES
    return planned_start + timedelta(minutes=minutes)


async def _samples(
    sessions: SessionFactory,
    parties: Parties,
    plan: DayPlan,
    scans: list[ScanRun],
    messages: list[dict[str, Any]],
) -> tuple[list[CaseSample], int, int]:
    """Join each delivered `case.opened` to its case and visit; (samples, expected, repeats)."""
    window_start = plan.anchor.timestamp()
    window_end = window_start + plan.window.total_seconds()
    async with sessions() as session:
        cases = (
            await session.execute(
                text(
                    "SELECT c.id, c.rule, v.planned_start, v.time_critical, c.opened_at "
                    "FROM exception_cases c "
                    "JOIN visits v ON v.id = c.visit_id WHERE c.contract_id = :contract"
                ),
                {"contract": parties.contract_id},
            )
        ).all()
        unattended = (
            await session.execute(
                text(
                    "SELECT v.planned_start, v.time_critical FROM visits v "
                    "JOIN care_packages p ON p.id = v.package_id "
                    "WHERE p.contract_id = :contract AND v.checked_in_at IS NULL"
                ),
                {"contract": parties.contract_id},
            )
        ).all()
    expected = 0
    for planned_start, time_critical in unattended:
        for rule in (CaseRule.VISIT_LATE.value, CaseRule.VISIT_MISSED.value):
            if window_start < _expiry(rule, planned_start, time_critical).timestamp() <= window_end:
                expected += 1
    by_id = {row[0]: row for row in cases}
    opened = [m for m in messages if m.get("type") == "case.opened" and m.get("caseId")]
    case_ids = [decode_global_id(m["caseId"])[1] for m in opened]
    repeats = len(case_ids) - len(set(case_ids))
    samples: list[CaseSample] = []
    for message, case_id in zip(opened, case_ids, strict=True):
        row = by_id.get(case_id)
        if row is None:
            continue
        expiry = _expiry(row[1], row[2], row[3]).timestamp()
        if not window_start < expiry <= window_end:
            continue  # opened by the catch-up scan, before measuring began
        opened_at = row[4].timestamp()
        scan = next((s for s in scans if s.started <= opened_at <= s.finished), None)
        if scan is None:
            continue
        samples.append(CaseSample(row[1], expiry, scan.started, scan.finished, message["t"]))
    return samples, expected, repeats


async def run_once(
    database_url: str, redis_url: str, workdir: Path, args: argparse.Namespace
) -> Repetition:
    engine = create_engine(database_url, pool_size=5)
    sessions = create_session_factory(engine)
    data_dir = workdir / "hub"
    hub: subprocess.Popen[bytes] | None = None
    client: subprocess.Popen[bytes] | None = None
    notes: list[str] = []
    try:
        await upgrade(engine)
        parties = await build_parties(sessions)
        token = await _token(sessions, parties, data_dir)  # also makes the signing key
        port = free_port()
        hub = _spawn_hub(database_url, redis_url, data_dir, port, workdir / "hub.log")
        await _wait_ready(f"http://127.0.0.1:{port}", hub)
        messages = workdir / "messages.jsonl"
        client = _spawn_client(port, token, parties, messages)
        await _wait_live(sessions, parties, messages)

        window = timedelta(seconds=args.window_seconds)
        anchor = datetime.now(UTC) + timedelta(seconds=args.lead_seconds)
        plan = await insert_day(sessions, parties, anchor=anchor, window=window)
        async with engine.connect() as connection:  # fresh tables: give the planner statistics
            await connection.execute(text("ANALYZE"))
        catch_up = await _scan(sessions)
        async with engine.connect() as connection:  # as autovacuum would, now cases exist
            await connection.execute(text("ANALYZE"))
        late_start = max(0.0, time.time() - anchor.timestamp())
        if late_start:
            notes.append(f"set-up overran the anchor by {late_start:.2f} s")
        scans, busy_sql = await _scans_on_cadence(
            sessions,
            anchor,
            args.scan_seconds,
            window,
            lambda at: _explain_scan_sql(database_url, engine.dialect, at, args.scan_seconds),
        )
        await asyncio.sleep(3)  # the last scan's cases are on their way
        probes = await _feed_probes(sessions, parties, messages)
        _stop(client)
        samples, expected, repeats = await _samples(
            sessions, parties, plan, scans, _messages(messages)
        )

        idle_sql = await _explain_scan_sql(
            database_url, engine.dialect, datetime.now(UTC), args.scan_seconds
        )
        dsn = listener_dsn(database_url)
        connection = await asyncpg.connect(dsn)
        try:
            server = str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()
        notify = await baselines.notify_round_trips(dsn)
        return Repetition(
            plan=plan,
            interval=args.scan_seconds,
            catch_up=catch_up,
            scans=scans,
            samples=samples,
            expected=expected,
            duplicates=repeats,
            probes=probes,
            notify=notify,
            busy_sql=busy_sql,
            idle_sql=idle_sql,
            server=server,
            late_start_seconds=late_start,
            notes=notes,
        )
    finally:
        if client is not None:
            _stop(client)
        if hub is not None:
            _stop(hub)
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    default_interval = float(Settings.model_fields["governance_scan_seconds"].default)
    parser.add_argument(
        "--scan-seconds",
        type=float,
        default=default_interval,
        help=f"scan interval (default HUB_GOVERNANCE_SCAN_SECONDS' default, {default_interval:g})",
    )
    parser.add_argument(
        "--window-seconds", type=float, default=120.0, help="measured window (default 120)"
    )
    parser.add_argument(
        "--lead-seconds", type=float, default=8.0, help="set-up time before the window (default 8)"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    results: list[Repetition] = []
    for index in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="care-hub-bench-") as tmp:
            workdir = Path(tmp)
            with services(workdir) as (database_url, redis_url):
                print(f"repetition {index + 1}/{args.repeat} …", file=sys.stderr)
                results.append(asyncio.run(run_once(database_url, redis_url, workdir, args)))
        print(report.repetition_line(results[-1]), file=sys.stderr)
    section = report.markdown(results, args)
    print(section)
    if not args.no_write:
        report.write_section(ROOT / "bench" / "RESULTS.md", section)
        print("wrote bench/RESULTS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
