"""Logs are one format. A real `hub serve` (API, uvicorn and the in-process arq worker, with
its cron jobs every second): under `HUB_LOG_JSON=true` every line it writes is one JSON
object, uvicorn's and arq's included, with the request id on a request's lines; by default
every log line has the same console shape, and routine job runs stay out of INFO."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from hub.embedded import free_port
from tests.support.processes import HubProcess, hub_env

pytestmark = pytest.mark.slow

CONSOLE_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[(debug|info|warning|error|critical)\s*\] \S"
)


def _run_hub(tmp_path: Path, database_url: str, redis_url: str, **env: str) -> list[str]:
    log = tmp_path / "serve.log"
    hub = HubProcess(
        env=hub_env(
            HUB_DATABASE_URL=database_url,
            HUB_REDIS_URL=redis_url,
            HUB_DATA_DIR=str(tmp_path / "d"),
            HUB_WORKER_HEARTBEAT_SECONDS="1",
            HUB_GOVERNANCE_SCAN_SECONDS="1",
            **env,
        ),
        port=free_port(),
        log_path=log,
    )
    try:
        hub.wait_ready()
        response = httpx.get(f"{hub.url}/readyz", headers={"x-request-id": "trace-me-1"}, timeout=5)
        assert response.status_code == 200, response.text
        time.sleep(3)  # three rounds of the cron jobs
        assert hub.stop(signal.SIGTERM) == 128 + signal.SIGTERM
    finally:
        hub.close()
    return [line for line in log.read_text().splitlines() if line.strip()]


def test_json_logs_are_one_json_object_per_line(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    lines = _run_hub(
        tmp_path,
        database_url,
        redis_url,
        HUB_LOG_JSON="true",
        HUB_LOG_LEVEL="debug",
        HUB_WORKER_SLOW_JOB_SECONDS="0.000001",  # every run counts as slow: a warning
    )
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert all({"event", "level", "timestamp"} <= record.keys() for record in records)
    loggers = {record.get("logger") for record in records}
    assert {"uvicorn.error", "arq.worker", "hub.worker", "hub.http"} <= loggers
    # arq's routine per-job lines are debug; a slow run is a warning of ours.
    assert {r["level"] for r in records if r.get("logger") == "arq.worker"} == {"debug"}
    assert any(r["event"] == "job.slow" and r["level"] == "warning" for r in records)
    request = [r for r in records if r.get("logger") == "hub.http" and r["path"] == "/readyz"]
    assert any(r.get("request_id") == "trace-me-1" for r in request)
    assert any(r["event"] == "hub.ready" for r in records)


def test_default_logs_are_one_console_style_with_routine_jobs_below_info(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    lines = _run_hub(tmp_path, database_url, redis_url, HUB_LOG_LEVEL="info")
    banner = [line for line in lines if "is running: open" in line or "stop with Ctrl-C" in line]
    assert len(banner) == 2
    logs = [line for line in lines if line not in banner]
    odd = [line for line in logs if not CONSOLE_LINE.match(line)]
    assert odd == [], "\n".join(odd)
    assert any("[uvicorn.error]" in line for line in logs)  # uvicorn, in our style
    assert any("request_id=trace-me-1" in line for line in logs)
    # Three seconds of cron jobs running every second (heartbeat and three governance jobs)
    # and not one line about them.
    assert not [line for line in logs if "[arq." in line or "job." in line]
