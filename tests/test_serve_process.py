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
from tests.support.processes import HubProcess, hub_env, kill_servers, run_hub, wait_no_servers

pytestmark = pytest.mark.slow

COUNT_QUERY = {"query": "{ organisations(first: 100) { nodes { id } } }"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "hub-data"
    try:
        yield path
    finally:
        kill_servers(path)


@pytest.fixture
def started() -> Iterator[list[HubProcess]]:
    processes: list[HubProcess] = []
    try:
        yield processes
    finally:
        for process in processes:
            process.close()


def _admin_token(env: dict[str, str]) -> str:
    """`hub token` beside a running `hub serve`: it attaches to the same embedded database."""
    result = run_hub("token", "--role", "admin", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _organisation_ids(hub: HubProcess, token: str) -> list[str]:
    response = httpx.post(
        f"{hub.url}/graphql",
        json=COUNT_QUERY,
        timeout=10,
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return [n["id"] for n in response.json()["data"]["organisations"]["nodes"]]


def test_serve_stops_cleanly_reuses_data_and_survives_kill_9(
    data_dir: Path, tmp_path: Path, started: list[HubProcess]
) -> None:
    env = hub_env(HUB_DATA_DIR=str(data_dir))
    log = tmp_path / "hub.log"

    first = HubProcess("--demo", env=env, port=free_port(), log_path=log)
    started.append(first)
    first.wait_ready()
    assert len(running_pids_under(data_dir)) >= 2  # postgres and redis
    token = _admin_token(env)
    demo_ids = _organisation_ids(first, token)
    assert len(demo_ids) == 7
    assert first.stop(signal.SIGINT) in (0, 130)
    assert wait_no_servers(data_dir) == [], log.read_text()

    second = HubProcess("--demo", env=env, port=free_port(), log_path=log)
    started.append(second)
    second.wait_ready()
    assert _organisation_ids(second, token) == demo_ids  # same data and key; nothing doubled
    second.kill_hard()
    orphans = running_pids_under(data_dir)
    assert len(orphans) >= 2, "kill -9 leaves postgres and redis orphaned"

    third = HubProcess(env=env, port=free_port(), log_path=log)
    started.append(third)
    third.wait_ready()
    assert _organisation_ids(third, token) == demo_ids
    assert third.stop(signal.SIGTERM) == 128 + signal.SIGTERM
    assert wait_no_servers(data_dir) == [], log.read_text()
    # The orphans of the killed run were stopped too, not just forgotten.
    assert [
        pid
        for pid in orphans
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ] == []
    assert "Traceback" not in log.read_text()
