"""The integrations jobs on a real arq worker and Redis: a poll run and a webhook delivery
enqueued as the office and the webhook route do, the scheduler's due polls, and payloads whose
job was lost."""

from __future__ import annotations

from datetime import timedelta

from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlalchemy import func, select

from connectors.supplier_rest.reference_server import DEFAULT_WEBHOOK_SECRET
from connectors.webhooks import sign
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.schema import schema
from hub.integrations import archive, tasks
from hub.integrations.inbound import receive_webhook
from hub.integrations.models import ConnectorRun, InboundPayload, InboundStatus, RunStatus
from hub.kit.time import FixedClock
from hub.metrics import HubMetrics
from hub.runtime import Runtime
from hub.visits.models import Visit
from hub.worker import build_worker
from tests.integrations.conftest import CONNECTOR, Supplied
from tests.integrations.test_supplier_webhooks import delivery


async def test_a_poll_and_a_delivery_run_on_the_worker(
    settings: Settings,
    supplied: Supplied,
    sessions: SessionFactory,
    clock: FixedClock,
    connector_env: dict[str, str],
) -> None:
    assert settings.database_url
    assert settings.redis_url
    runtime = await Runtime.open(
        settings,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        schema=schema,
        metrics=HubMetrics(),
        clock=clock,
    )
    try:
        assert await tasks.enqueue_poll(
            runtime.redis, supplied.instance_id, trigger="office", slot="t1"
        )
        await build_worker(runtime, burst=True).async_run()
        async with sessions() as session:
            visits = await session.scalar(
                select(func.count())
                .select_from(Visit)
                .where(Visit.package_id.in_(supplied.package_ids.values()))
            )
            runs = (
                await session.scalars(
                    select(ConnectorRun).where(ConnectorRun.instance_id == supplied.instance_id)
                )
            ).all()
        assert visits == 24
        assert {run.status for run in runs} == {RunStatus.SUCCEEDED}

        body = delivery("dlv-worker")
        answer = await receive_webhook(
            sessions,
            connector=CONNECTOR,
            headers={
                "Content-Type": "application/json",
                "Care-Hub-Signature": sign(
                    body, DEFAULT_WEBHOOK_SECRET, timestamp=int(clock.now().timestamp())
                ),
            },
            body=body,
            clock=clock,
            tolerance=timedelta(seconds=300),
        )
        assert answer.status_code == 202
        assert answer.payload_id is not None
        await tasks.enqueue_process(runtime.redis, answer.payload_id)
        worker = build_worker(runtime, burst=True)
        await worker.async_run()
        assert worker.jobs_failed == 0
        async with sessions() as session:
            kept = await session.get(InboundPayload, answer.payload_id)
            assert kept is not None
            assert kept.status is InboundStatus.APPLIED
    finally:
        await runtime.close()


async def test_poll_due_enqueues_once_per_slot_and_requeues_lost_deliveries(
    supplied: Supplied, sessions: SessionFactory, clock: FixedClock, redis_url: str
) -> None:
    async with unit_of_work(sessions) as session:
        stuck, _ = await archive.keep(
            session,
            connector=CONNECTOR,
            channel="webhook",
            body=delivery("dlv-lost"),
            content_type="application/json",
            delivery_key="webhook:dlv-lost",
            organisation_id=supplied.provider_id,
            clock=clock,
        )
    pool: ArqRedis = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        ctx = {"sessions": sessions, "clock": clock, "redis": pool}
        assert await tasks.poll_due(ctx) == 1
        assert await tasks.poll_due(ctx) == 0  # same interval slot: not enqueued twice
        queued = {job.function: job for job in await pool.queued_jobs()}
        assert queued[tasks.POLL_INSTANCE].args == (str(supplied.instance_id), "schedule")
        assert tasks.PROCESS_INBOUND not in queued  # received moments ago: its job is pending

        clock.advance(timedelta(minutes=6))
        await tasks.poll_due(ctx)
        lost = [job for job in await pool.queued_jobs() if job.function == tasks.PROCESS_INBOUND]
        assert [job.args for job in lost] == [(str(stuck.id),)]
    finally:
        await pool.aclose()
