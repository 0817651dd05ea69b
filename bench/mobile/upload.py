"""Command upload benchmark (issue 5): batches of 50 mixed commands over HTTP on loopback.

    .venv/bin/python -m bench.mobile.upload [--devices 4] [--batches 6] [--repetitions 3]

What runs:

- **hub**: a real `hub serve` process (pinned to CPU 0 with `taskset` when available) on its own
  database; each simulated phone (one carer, one registered device) uploads its outbox in
  batches of 50 commands through the trusted `SubmitCommands` document, one batch after the
  other; `--devices` phones upload at the same time. A batch holds five visits' worth of work:
  check-in, three task confirmations, hydration, nutrition, pain score, mood, a concern on one
  visit in five, check-out.
- **baseline**: the same rows — per command one `command_log` row, one `visit_facts` row, one
  `events` row, the device cursor advanced and, for check-in/out, the visit stamped — written
  by a minimal asyncpg script, one transaction per command (the hub's durability unit), on the
  same database with the same unique constraints, with as many concurrent connections as phones.

Both are measured in the same run, interleaved (hub, baseline, hub, baseline, …), and the
median of the repetitions is reported with min-max; commands per second and p50/p99 of each
batch's wall time. Results are appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from hub.accounts.models import Role
from hub.db.engine import create_engine, create_session_factory
from hub.db.uow import unit_of_work
from hub.embedded import free_port
from hub.graphql.ids import encode_global_id, expect_global_id
from hub.kit.ids import uuid7
from hub.kit.time import SystemClock
from hub.mobile import devices
from hub.mobile.canonical import GENESIS_HASH, canonical_time, command_hash
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from tests import builders
from tests.mobile.app_client import document_id
from tests.support.databases import (
    DatabaseFactory,
    postgres_admin_url,
    redis_base_url,
    to_asyncpg_dsn,
)
from tests.support.processes import HubProcess, hub_env, run_hub

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "RESULTS.md"
BATCH = 50
VISITS_PER_BATCH = 5
TASKS = [
    {"code": "personal_care", "description": "Washing and dressing", "requires": None},
    {"code": "meal", "description": "Prepare breakfast", "requires": None},
    {"code": "drink", "description": "Leave a drink in reach", "requires": None},
]


@dataclass
class Carer:
    staff: StaffMember
    token: str
    visits: list[uuid.UUID] = field(default_factory=list)


def gps() -> dict[str, Any]:
    return {"method": "GPS", "latitude": 53.4810, "longitude": -2.2426, "accuracyM": 8}


def visit_commands(visit_gid: str, index: int) -> list[tuple[str, dict[str, Any]]]:
    """Ten commands of one visit (eleven when it carries a concern)."""
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("checkInV1", {"visitId": visit_gid, "verification": gps()}),
        *(
            ("taskConfirmationV1", {"visitId": visit_gid, "taskIndex": t, "outcome": "DONE"})
            for t in range(3)
        ),
        ("hydrationV1", {"visitId": visit_gid, "fluidMl": 200}),
        ("nutritionV1", {"visitId": visit_gid, "portionEaten": "MOST"}),
        ("painScoreV1", {"visitId": visit_gid, "score": 2}),
        ("moodV1", {"visitId": visit_gid, "mood": "GOOD"}),
        ("skinV1", {"visitId": visit_gid, "concern": False}),
        ("checkOutV1", {"visitId": visit_gid, "verification": gps()}),
    ]
    if index % 5 == 4:
        bodies.insert(
            -1,
            (
                "concernV1",
                {
                    "visitId": visit_gid,
                    "category": "HEALTH",
                    "safeguarding": False,
                    "description": "Seemed more breathless than usual",
                },
            ),
        )
    return bodies


class Phone:
    """An outbox with a gap-free sequence and the hash chain, as the app keeps it."""

    def __init__(self, booted_at: datetime) -> None:
        self.device_id = uuid.uuid4()
        self.booted_at = booted_at
        self.seq = 0
        self.head = GENESIS_HASH

    def reading(self, at: datetime) -> dict[str, Any]:
        return {
            "wall": canonical_time(at),
            "tzOffsetMin": 0,
            "bootId": "boot-1",
            "monotonicMs": int((at - self.booted_at).total_seconds() * 1000),
        }

    def command(self, member: str, body: dict[str, Any], at: datetime) -> dict[str, Any]:
        self.seq += 1
        value = {
            "seq": self.seq,
            "commandId": str(uuid7()),
            "occurredAt": self.reading(at),
            "body": {member: body},
            "prevHash": self.head,
        }
        self.head = command_hash(value)
        return value

    def batch(self, visits: list[uuid.UUID], now: datetime) -> dict[str, Any]:
        planned = [
            step
            for index, visit in enumerate(visits)
            for step in visit_commands(encode_global_id("Visit", visit), index)
        ][:BATCH]
        commands = [self.command(member, body, now) for member, body in planned]
        return {
            "protocolVersion": 2,
            "appVersion": "1.0.0",
            "deviceId": str(self.device_id),
            "sentAt": self.reading(now),
            "outboxDepth": len(commands),
            "commands": commands,
        }


# --- set-up ---------------------------------------------------------------------------------


async def seed(database_url: str, carers: int, visits_each: int, now: datetime) -> list[Carer]:
    engine = create_engine(database_url, pool_size=2)
    sessions = create_session_factory(engine)
    found: list[Carer] = []
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Bench Homecare")
        contract = await builders.create_contract(session, provider=provider)
        for _ in range(carers):
            staff = await builders.create_staff(session, organisation=provider)
            carer = Carer(staff=staff, token="")
            person = await builders.create_person(session, latitude=53.4810, longitude=-2.2426)
            package = await builders.create_package(session, contract=contract, person=person)
            for n in range(visits_each):
                visit = await builders.create_visit(
                    session,
                    package=package,
                    carers=(staff,),
                    planned_start=now - timedelta(minutes=10) + timedelta(seconds=n),
                    tasks=TASKS,
                )
                carer.visits.append(visit.id)
            found.append(carer)
    await engine.dispose()
    return found


async def register(database_url: str, carer: Carer, phone: Phone) -> None:
    engine = create_engine(database_url, pool_size=1)
    sessions = create_session_factory(engine)
    async with unit_of_work(sessions) as session:
        await devices.register_device(
            session,
            scope=AccessScope(Role.CARER, carer.staff.organisation_id, carer.staff.id),
            actor="bench",
            clock=SystemClock(),
            device_id=phone.device_id,
            platform="android",
            model=None,
            app_version="1.0.0",
            protocol_version=2,
        )
    await engine.dispose()


# --- the two contenders ---------------------------------------------------------------------


async def run_hub_round(
    url: str, database_url: str, carers: list[Carer], batches: int, cursor: int
) -> tuple[float, list[float], int]:
    """All phones upload `batches` batches each; returns (seconds, batch times, commands)."""
    now = datetime.now(UTC)
    phones = [Phone(now - timedelta(hours=1)) for _ in carers]
    for carer, phone in zip(carers, phones, strict=True):
        await register(database_url, carer, phone)
    submit = document_id("SubmitCommands")
    times: list[float] = []

    async def upload(client: httpx.AsyncClient, carer: Carer, phone: Phone) -> int:
        sent = 0
        for b in range(batches):
            first = cursor + b * VISITS_PER_BATCH
            batch = phone.batch(carer.visits[first : first + VISITS_PER_BATCH], now)
            started = time.perf_counter()
            response = await client.post(
                "/graphql",
                json={"documentId": submit, "variables": {"input": batch}},
                headers={"authorization": f"Bearer {carer.token}"},
            )
            times.append(time.perf_counter() - started)
            answer = response.json()["data"]["submitCommands"]
            statuses = {r["status"] for r in answer["results"]}
            if answer.get("ackedThroughSeq") != batch["commands"][-1]["seq"] or statuses != {
                "APPLIED"
            }:
                raise SystemExit(f"upload not fully applied: {json.dumps(answer)[:500]}")
            sent += len(batch["commands"])
        return sent

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(upload(client, c, p) for c, p in zip(carers, phones, strict=True))
        )
        elapsed = time.perf_counter() - started
    return elapsed, times, sum(counts)


BASELINE_SQL = {
    "log": """INSERT INTO command_log (id, device_id, seq, command_id, original, body_type,
        payload, payload_sha256, prev_hash, status, code, flags, result, staff_id,
        organisation_id, person_id, visit_id, occurred_at, device_occurred_at, received_at,
        actor, app_version, protocol_version, document_id)
        VALUES ($1, $2, $3, $4, true, $5, $6::jsonb, $7, $8, 'applied', NULL, '{}', $9::jsonb,
        $10, $11, $12, $13, $14, $14, $14, $15, '1.0.0', 2, $16)""",
    "fact": """INSERT INTO visit_facts (id, visit_id, kind, staff_id, source, actor, device_id,
        occurred_at, device_occurred_at, time_basis, received_at, verification_method,
        latitude, longitude, accuracy_m, details)
        VALUES ($1, $2, $3, $4, 'mobile', $5, $6, $7, $7, 'monotonic', $7, $8, $9, $10, $11,
        $12::jsonb)""",
    "event": """INSERT INTO events (type, subject_type, subject_id, organisation_id, contract_id,
        person_id, actor, occurred_at, payload)
        VALUES ($1, 'visit', $2, $3, $4, $5, $6, $7, $8::jsonb)""",
    "device": "UPDATE devices SET last_seq = $2, last_command_hash = $3 WHERE id = $1",
    "check_in": "UPDATE visits SET checked_in_at = $2 WHERE id = $1 AND checked_in_at IS NULL",
    "check_out": "UPDATE visits SET checked_out_at = $2 WHERE id = $1 AND checked_out_at IS NULL",
}
KINDS = {
    "checkInV1": ("check_in", "visit.checked_in"),
    "checkOutV1": ("check_out", "visit.checked_out"),
    "taskConfirmationV1": ("task_confirmation", "visit.task_confirmed"),
    "concernV1": ("concern", "visit.concern_raised"),
}


async def run_baseline_round(
    dsn: str,
    database_url: str,
    carers: list[Carer],
    batches: int,
    cursor: int,
    context: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
) -> tuple[float, list[float], int]:
    """The same rows by plain asyncpg: one transaction per command, a connection per phone."""
    now = datetime.now(UTC)
    phones = [Phone(now - timedelta(hours=1)) for _ in carers]
    for carer, phone in zip(carers, phones, strict=True):
        await register(database_url, carer, phone)
    times: list[float] = []

    async def upload(connection: asyncpg.Connection, carer: Carer, phone: Phone) -> int:
        sent = 0
        staff = carer.staff
        for b in range(batches):
            first = cursor + b * VISITS_PER_BATCH
            visits = carer.visits[first : first + VISITS_PER_BATCH]
            batch = phone.batch(visits, now)
            started = time.perf_counter()
            for command in batch["commands"]:
                member, body = next(iter(command["body"].items()))
                visit_id = expect_global_id(body["visitId"], "Visit")
                person_id, contract_id, provider_id = context[visit_id]
                kind, event_type = KINDS.get(member, ("observation", "visit.observation_recorded"))
                fact_id = uuid.UUID(command["commandId"])
                payload = json.dumps(command)
                gps_fix = body.get("verification") or {}
                async with connection.transaction():
                    await connection.execute(
                        BASELINE_SQL["log"],
                        uuid7(),
                        phone.device_id,
                        command["seq"],
                        fact_id,
                        member,
                        payload,
                        command_hash(command),
                        command["prevHash"],
                        json.dumps({"status": "APPLIED", "entityIds": [str(fact_id)]}),
                        staff.id,
                        provider_id,
                        person_id,
                        visit_id,
                        now,
                        f"staff:{staff.id}",
                        "sha256:bench",
                    )
                    await connection.execute(
                        BASELINE_SQL["fact"],
                        fact_id,
                        visit_id,
                        kind,
                        staff.id,
                        f"staff:{staff.id}",
                        phone.device_id,
                        now,
                        gps_fix.get("method", "").lower() or None,
                        gps_fix.get("latitude"),
                        gps_fix.get("longitude"),
                        gps_fix.get("accuracyM"),
                        json.dumps(body),
                    )
                    await connection.execute(
                        BASELINE_SQL["event"],
                        event_type,
                        visit_id,
                        provider_id,
                        contract_id,
                        person_id,
                        f"staff:{staff.id}",
                        now,
                        json.dumps({"fact_id": str(fact_id), "flags": []}),
                    )
                    await connection.execute(
                        BASELINE_SQL["device"],
                        phone.device_id,
                        command["seq"],
                        command_hash(command),
                    )
                    if kind in ("check_in", "check_out"):
                        await connection.execute(BASELINE_SQL[kind], visit_id, now)
            times.append(time.perf_counter() - started)
            sent += len(batch["commands"])
        return sent

    connections = [await asyncpg.connect(dsn) for _ in carers]
    try:
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(
                upload(connection, carer, phone)
                for connection, carer, phone in zip(connections, carers, phones, strict=True)
            )
        )
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    return elapsed, times, sum(counts)


# --- reporting ------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Round:
    rate: float
    p50_ms: float
    p99_ms: float


def summarise(elapsed: float, times: list[float], commands: int) -> Round:
    return Round(
        rate=commands / elapsed,
        p50_ms=percentile(times, 0.5) * 1000,
        p99_ms=percentile(times, 0.99) * 1000,
    )


def describe(rounds: list[Round]) -> str:
    rates = [r.rate for r in rounds]
    return (
        f"{statistics.median(rates):,.0f} commands/s "
        f"(min-max {min(rates):,.0f}-{max(rates):,.0f}); "
        f"per batch p50 {statistics.median(r.p50_ms for r in rounds):.0f} ms, "
        f"p99 {statistics.median(r.p99_ms for r in rounds):.0f} ms"
    )


def machine() -> str:
    cores = os.cpu_count()
    return f"{platform.node() or 'python-svc'}, {cores} cores, Python {platform.python_version()}"


def main(args: argparse.Namespace) -> None:
    """Start the servers (synchronously: the embedded ones run their own event loops), then
    measure."""
    with tempfile.TemporaryDirectory(prefix="care-hub-bench-") as tmp:
        root = Path(tmp)
        with postgres_admin_url(root) as admin, redis_base_url(root) as redis_url:
            factory = DatabaseFactory(admin)
            factory.create_template()
            try:
                hub_rounds, base_rounds = asyncio.run(measure(args, root, factory, redis_url))
            finally:
                factory.drop_template()
    hub_rate = statistics.median(r.rate for r in hub_rounds)
    base_rate = statistics.median(r.rate for r in base_rounds)
    ratio = hub_rate / base_rate
    report = "\n".join(
        [
            f"## Command upload — {datetime.now(UTC):%Y-%m-%d}",
            "",
            f"Machine: {machine()}. Command: `.venv/bin/python -m bench.mobile.upload "
            f"--devices {args.devices} --batches {args.batches} "
            f"--repetitions {args.repetitions}`.",
            f"{args.devices} phones at once, {args.batches} batches of {BATCH} mixed commands "
            f"each per repetition, {args.repetitions} interleaved repetitions (median, "
            "min-max); hub = `hub serve` over HTTP on loopback"
            f"{' pinned to CPU 0' if shutil.which('taskset') else ''}; baseline = the same "
            "rows by a minimal asyncpg script, one transaction per command, same database and "
            "constraints.",
            "",
            f"- hub: {describe(hub_rounds)}",
            f"- baseline: {describe(base_rounds)}",
            f"- **ratio hub / baseline: {ratio:.2f}** (target >= 0.30)",
            "",
        ]
    )
    print(report)
    if args.write:
        with RESULTS.open("a") as results:
            results.write("\n" + report)


async def measure(
    args: argparse.Namespace, root: Path, factory: DatabaseFactory, redis_url: str
) -> tuple[list[Round], list[Round]]:
    visits_each = VISITS_PER_BATCH * args.batches * args.repetitions * 2 + VISITS_PER_BATCH
    name = await factory.clone()
    database_url = factory.url(name)
    now = datetime.now(UTC)
    print(f"seeding {args.devices} carers x {visits_each} visits ...", flush=True)
    carers = await seed(database_url, args.devices, visits_each, now)
    context = await visit_context(to_asyncpg_dsn(database_url))
    env = hub_env(
        HUB_DATA_DIR=str(root / "hub"),
        HUB_DATABASE_URL=database_url,
        HUB_REDIS_URL=redis_url,
        HUB_INPROCESS_WORKER="false",
        HUB_LOG_LEVEL="warning",
    )
    for carer in carers:
        carer.token = issue_token(env, carer)
    server = start_server(env, free_port(), root)
    hub_rounds: list[Round] = []
    base_rounds: list[Round] = []
    try:
        server.wait_ready()
        # Warm-up: one batch per phone, not measured.
        await run_hub_round(server.url, database_url, carers, 1, 0)
        cursor = VISITS_PER_BATCH
        dsn = to_asyncpg_dsn(database_url)
        for repetition in range(args.repetitions):
            hub_run = await run_hub_round(server.url, database_url, carers, args.batches, cursor)
            hub_rounds.append(summarise(*hub_run))
            cursor += VISITS_PER_BATCH * args.batches
            base_run = await run_baseline_round(
                dsn, database_url, carers, args.batches, cursor, context
            )
            base_rounds.append(summarise(*base_run))
            cursor += VISITS_PER_BATCH * args.batches
            print(
                f"repetition {repetition + 1}/{args.repetitions}: hub "
                f"{hub_rounds[-1].rate:,.0f}/s, baseline {base_rounds[-1].rate:,.0f}/s",
                flush=True,
            )
    finally:
        server.close()
    return hub_rounds, base_rounds


def issue_token(env: dict[str, str], carer: Carer) -> str:
    issued = run_hub(
        "token",
        "--role",
        "carer",
        "--organisation",
        str(carer.staff.organisation_id),
        "--staff",
        str(carer.staff.id),
        "--ttl-minutes",
        "120",
        env=env,
    )
    if issued.returncode != 0:
        raise SystemExit(issued.stderr)
    return issued.stdout.strip()


async def visit_context(dsn: str) -> dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT v.id, p.person_id, p.contract_id, p.provider_id FROM visits v "
            "JOIN care_packages p ON p.id = v.package_id"
        )
    finally:
        await connection.close()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def start_server(env: dict[str, str], port: int, root: Path) -> HubProcess:
    server = HubProcess(env=env, port=port, log_path=root / "hub.log")
    if shutil.which("taskset"):
        subprocess.run(
            ["taskset", "-a", "-p", "-c", "0", str(server.process.pid)],
            check=False,
            capture_output=True,
        )
        os.sched_setaffinity(0, {1} if (os.cpu_count() or 1) > 1 else {0})
    return server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4, help="phones uploading at once")
    parser.add_argument("--batches", type=int, default=6, help="batches per phone per round")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--no-write", dest="write", action="store_false", help="print, do not append to RESULTS"
    )
    main(parser.parse_args())
    sys.exit(0)
