from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import psutil
from arq.connections import ArqRedis, RedisSettings, create_pool

from hub.config import Settings
from hub.embedded import prune_dead_handle_pids
from hub.graphql.schema import schema
from hub.metrics import HubMetrics
from hub.runtime import Runtime
from hub.worker import HEARTBEAT_KEY, build_worker


async def test_the_worker_runs_jobs_on_real_redis_and_reports_a_heartbeat(
    settings: Settings,
) -> None:
    assert settings.database_url
    assert settings.redis_url
    runtime = await Runtime.open(
        settings,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        schema=schema,
        metrics=HubMetrics(),
    )
    try:
        pool: ArqRedis = await create_pool(RedisSettings.from_dsn(settings.redis_url))
        job = await pool.enqueue_job("heartbeat", _job_id="heartbeat:test")
        duplicate = await pool.enqueue_job("heartbeat", _job_id="heartbeat:test")
        assert job is not None
        assert duplicate is None
        worker = build_worker(runtime, burst=True)
        await worker.async_run()
        assert worker.jobs_complete >= 1
        assert worker.jobs_failed == 0
        beat = await pool.get(HEARTBEAT_KEY)
        assert beat is not None
        assert datetime.fromisoformat(beat.decode()).tzinfo is not None
        await pool.aclose()
    finally:
        await runtime.close()


def test_dead_pids_are_pruned_from_the_embedded_ref_count(tmp_path: Path) -> None:
    dead = psutil.Popen(["true"])
    dead.wait()
    handle_file = tmp_path / ".handle_pids.json"
    handle_file.write_text(json.dumps([os.getpid(), dead.pid]))
    assert prune_dead_handle_pids(tmp_path) == [dead.pid]
    assert json.loads(handle_file.read_text()) == [os.getpid()]
    assert prune_dead_handle_pids(tmp_path) == []
