"""`hub serve` with the embedded servers, as a real process: the Done-when of the foundation.
Ctrl-C and SIGTERM leave no PostgreSQL or Redis behind; a restart reuses the data; after a
`kill -9` a new `hub serve` starts cleanly and stops cleanly."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from hub.embedded import free_port, running_pids_under
from tests.support.processes import HubProcess, hub_env, kill_servers, wait_no_servers

pytestmark = pytest.mark.slow

COUNT_QUERY = {"query": "{ organisations(first: 100) { nodes { id } } }"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "hub-data"
    try:
        yield path
    finally:
        kill_servers(path)


def _organisation_ids(hub: HubProcess) -> list[str]:
    response = httpx.post(f"{hub.url}/graphql", json=COUNT_QUERY, timeout=10)
    assert response.status_code == 200, response.text
    return [n["id"] for n in response.json()["data"]["organisations"]["nodes"]]


def test_serve_stops_cleanly_reuses_data_and_survives_kill_9(
    data_dir: Path, tmp_path: Path
) -> None:
    env = hub_env(HUB_DATA_DIR=str(data_dir))
    log = tmp_path / "hub.log"

    first = HubProcess("--demo", env=env, port=free_port(), log_path=log)
    first.wait_ready()
    assert len(running_pids_under(data_dir)) >= 2  # postgres and redis
    demo_ids = _organisation_ids(first)
    assert len(demo_ids) == 7
    assert first.stop(signal.SIGINT) in (0, 130)
    assert wait_no_servers(data_dir) == [], log.read_text()

    second = HubProcess("--demo", env=env, port=free_port(), log_path=log)
    second.wait_ready()
    assert _organisation_ids(second) == demo_ids  # same data, nothing doubled
    second.kill_hard()
    orphans = running_pids_under(data_dir)
    assert len(orphans) >= 2, "kill -9 leaves postgres and redis orphaned"

    third = HubProcess(env=env, port=free_port(), log_path=log)
    third.wait_ready()
    assert _organisation_ids(third) == demo_ids
    assert third.stop(signal.SIGTERM) == 128 + signal.SIGTERM
    assert wait_no_servers(data_dir) == [], log.read_text()
    # The orphans of the killed run were stopped too, not just forgotten.
    assert [
        pid
        for pid in orphans
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ] == []
    assert "Traceback" not in log.read_text()
