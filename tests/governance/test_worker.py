"""The governance jobs on the real arq worker and Redis: registered with their cron names at
`HUB_GOVERNANCE_SCAN_SECONDS`, run at start-up, and safe to run twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.governance.models import ExceptionCase
from hub.governance.runner import cron_jobs
from hub.graphql.schema import schema
from hub.kit.time import FixedClock
from hub.metrics import HubMetrics
from hub.runtime import Runtime
from hub.worker import FUNCTIONS, build_worker
from tests.governance.conftest import World, add_visit

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_the_jobs_run_every_scan_interval_within_the_minute() -> None:
    jobs = {job.name: job for job in cron_jobs(15)}
    assert set(jobs) == {
        "governance.apply_event_rules",
        "governance.scan_due_visits",
        "governance.escalate_due_cases",
    }
    assert all(job.second == {0, 15, 30, 45} for job in jobs.values())
    assert all(job.unique and job.run_at_startup for job in jobs.values())
    assert all(job.coroutine in FUNCTIONS for job in jobs.values())
    assert Settings().governance_scan_seconds == 15


async def test_a_burst_worker_opens_the_late_case_once(
    settings: Settings, sessions: SessionFactory, clock: FixedClock, world: World
) -> None:
    assert settings.database_url
    assert settings.redis_url
    visit = await add_visit(sessions, world, START)
    clock.current = START + timedelta(minutes=20)
    runtime = await Runtime.open(
        settings,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        schema=schema,
        metrics=HubMetrics(),
        clock=clock,
    )
    try:
        for _ in range(2):
            worker = build_worker(runtime, burst=True)
            await worker.async_run()
            assert worker.jobs_failed == 0
    finally:
        await runtime.close()
    async with read_only(sessions) as session:
        cases = (
            await session.scalars(select(ExceptionCase).where(ExceptionCase.visit_id == visit.id))
        ).all()
    assert [case.rule for case in cases] == ["visit_late"]
