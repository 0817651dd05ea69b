"""What the benchmark compares against, measured in the same run on the same servers:

- the raw asyncpg LISTEN/NOTIFY round trip (one connection notifies, another listens): the
  floor under any delivery through PostgreSQL notifications;
- the scan's SQL, as G1's rule runner builds it, and a hand-written SQL of the same due-visit
  predicate: EXPLAIN (ANALYZE, BUFFERS) of each, with the rows of `visits` examined."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.sql import ClauseElement

RAW_DUE_VISITS = """
SELECT v.id
FROM visits v
JOIN care_packages p ON p.id = v.package_id
JOIN contracts c ON c.id = p.contract_id
WHERE v.planned_start > $2 AND v.planned_start <= $1
  AND v.cancelled_at IS NULL AND v.checked_in_at IS NULL AND v.checked_out_at IS NULL
  AND $1 > v.planned_start + make_interval(mins => CASE WHEN v.time_critical
        THEN c.time_critical_late_after_minutes ELSE c.late_after_minutes END)
  AND NOT EXISTS (SELECT 1 FROM exception_cases e
                  WHERE e.rule = 'visit_late' AND e.subject_type = 'visit' AND e.subject_id = v.id)
ORDER BY v.planned_start, v.id
LIMIT 1000
"""


@dataclass(frozen=True, slots=True)
class Explained:
    execution_ms: float
    planning_ms: float
    visits_rows_examined: int
    rows_returned: int
    plan_text: str


async def notify_round_trips(dsn: str, count: int = 200) -> list[float]:
    """Seconds from `SELECT pg_notify(...)` (autocommit) on one connection to the listener
    callback on another, `count` times, one at a time."""
    listener = await asyncpg.connect(dsn)
    notifier = await asyncpg.connect(dsn)
    arrived: asyncio.Queue[float] = asyncio.Queue()
    try:
        await listener.add_listener(
            "bench_ping", lambda *_args: arrived.put_nowait(time.perf_counter())
        )
        samples: list[float] = []
        for index in range(count):
            started = time.perf_counter()
            await notifier.execute("SELECT pg_notify('bench_ping', $1)", str(index))
            async with asyncio.timeout(5):
                samples.append(await arrived.get() - started)
        return samples
    finally:
        await listener.close()
        await notifier.close()


def _visits_rows_examined(node: dict[str, Any]) -> int:
    loops = int(node.get("Actual Loops", 1))
    here = 0
    if node.get("Relation Name") == "visits":
        here = (
            int(node.get("Actual Rows", 0))
            + int(node.get("Rows Removed by Filter", 0))
            + int(node.get("Rows Removed by Index Recheck", 0))
        ) * loops
    return here + sum(_visits_rows_examined(child) for child in node.get("Plans", []))


async def explain(connection: asyncpg.Connection, sql: str, *args: object) -> Explained:
    """EXPLAIN ANALYZE inside a transaction that is rolled back (the scan's SELECT … FOR
    UPDATE takes row locks; they must not outlive the measurement)."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        document = await connection.fetchval(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args
        )
        lines = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *args)
    finally:
        await transaction.rollback()
    top = json.loads(document)[0] if isinstance(document, str) else document[0]
    return Explained(
        execution_ms=float(top["Execution Time"]),
        planning_ms=float(top["Planning Time"]),
        visits_rows_examined=_visits_rows_examined(top["Plan"]),
        rows_returned=int(top["Plan"].get("Actual Rows", 0)),
        plan_text="\n".join(str(row[0]) for row in lines),
    )


def positional(statement: ClauseElement, dialect: Any) -> tuple[str, list[object]]:
    """A SQLAlchemy statement as asyncpg SQL (`$1`, `$2`, …) and its arguments in order."""
    compiled = statement.compile(dialect=dialect)
    order: list[str] = getattr(compiled, "positiontup", None) or []
    return str(compiled), [compiled.params[name] for name in order]


async def explain_raw_scan(
    connection: asyncpg.Connection, now: datetime, since: datetime
) -> Explained:
    return await explain(connection, RAW_DUE_VISITS, now, since)
