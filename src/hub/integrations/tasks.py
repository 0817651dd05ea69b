"""arq jobs of the integrations domain. Each is idempotent and de-duplicated by `_job_id`.

- `integrations.process_inbound(payload_id)` — apply one received webhook delivery; keyed by
  the archive id, so a delivery is processed by one job however often it is enqueued.
- `integrations.poll_instance(instance_id, trigger)` — one poll run of a connector instance
  (the instance's lease in the database keeps two runs from overlapping).
- `integrations.poll_due` (cron, every 30 s) — enqueue a run for each enabled instance whose
  interval has passed, keyed by the interval slot; and re-enqueue payloads still `received`
  five minutes after they arrived (their job was lost: a Redis flush, a killed worker).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from arq import cron
from arq.connections import ArqRedis
from arq.worker import func

from hub.db.uow import read_only
from hub.integrations import inbound, polling, repository
from hub.logging import get_logger

log = get_logger(__name__)

PROCESS_INBOUND = "integrations.process_inbound"
POLL_INSTANCE = "integrations.poll_instance"
POLL_DUE = "integrations.poll_due"
STALE_AFTER = timedelta(minutes=5)


async def enqueue_process(redis: ArqRedis, payload_id: uuid.UUID, *, suffix: str = "") -> None:
    """Queue processing of one archived payload (a no-op if that job is already known)."""
    await redis.enqueue_job(
        PROCESS_INBOUND, str(payload_id), _job_id=f"{PROCESS_INBOUND}:{payload_id}{suffix}"
    )


async def enqueue_poll(redis: ArqRedis, instance_id: uuid.UUID, *, trigger: str, slot: str) -> bool:
    """Queue a poll run; False when a run for the same slot is already queued or done."""
    job = await redis.enqueue_job(
        POLL_INSTANCE,
        str(instance_id),
        trigger,
        _job_id=f"{POLL_INSTANCE}:{instance_id}:{slot}",
    )
    return job is not None


async def process_inbound(ctx: dict[str, Any], payload_id: str) -> str:
    return await inbound.process_inbound(ctx["sessions"], uuid.UUID(payload_id), clock=ctx["clock"])


async def poll_instance(ctx: dict[str, Any], instance_id: str, trigger: str) -> dict[str, Any]:
    runtime = ctx["runtime"]
    async with httpx.AsyncClient() as client:
        report = await polling.poll_instance(
            ctx["sessions"],
            instance_id=uuid.UUID(instance_id),
            settings=polling.PollSettings.of(runtime.settings),
            clock=ctx["clock"],
            http=client,
            trigger=trigger,
        )
    summary = {
        "run_id": str(report.run_id) if report.run_id else None,
        "status": report.status.value if report.status else None,
        "skipped": report.skipped,
        "pages": report.pages,
        "applied": report.applied,
        "rejected": report.rejected,
        "error_code": report.error_code,
    }
    log.info("integrations.poll_finished", instance_id=instance_id, **summary)
    return summary


async def poll_due(ctx: dict[str, Any]) -> int:
    """Enqueue what is due; returns how many poll runs were enqueued."""
    clock = ctx["clock"]
    now = clock.now()
    async with read_only(ctx["sessions"]) as session:
        due = await repository.due_instances(session, now)
        stale = await repository.stale_received(session, now - STALE_AFTER)
    enqueued = 0
    for instance in due:
        slot = str(int(now.timestamp()) // instance.poll_interval_seconds)
        enqueued += await enqueue_poll(ctx["redis"], instance.id, trigger="schedule", slot=slot)
    for payload_id in stale:
        await enqueue_process(
            ctx["redis"], payload_id, suffix=f":again:{int(now.timestamp()) // 300}"
        )
    return enqueued


FUNCTIONS = [
    func(process_inbound, name=PROCESS_INBOUND),
    func(poll_instance, name=POLL_INSTANCE, timeout=600),
]


def cron_jobs() -> list[Any]:
    return [cron(poll_due, name=POLL_DUE, second={0, 30}, unique=True, run_at_startup=True)]
