"""A second hub never harms the first: two real `hub serve` processes on one data directory.

The first owns `.hub` (an flock naming its pid). A second one, with no URLs or with only
`HUB_DATABASE_URL` set (so it would start its own embedded Redis), refuses in one line naming
the first's pid, and the first's Redis and PostgreSQL keep running and the first stays ready.
Once the first is killed with `kill -9`, the lock is gone with it, and the next hub cleans up
the dead hub's servers and starts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from hub.embedded import free_port, running_pids_under
from tests.support.processes import HubProcess, hub_env, kill_servers, wait_no_servers

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: a pytest session starting elsewhere on the machine resets
    # /tmp/pytest-of-<user> to 0700, which the embedded PostgreSQL's own user (when run as
    # root) then cannot traverse.
    with tempfile.TemporaryDirectory(prefix="care-hub-lock-") as root:
        path = Path(root) / "hub-data"
        try:
            yield path
        finally:
            kill_servers(path)


def _redis_pid(data_dir: Path) -> int:
    return int(json.loads((data_dir / "redis" / "redis.pid").read_text())["pid"])


def _refusal(result_stderr: str) -> str:
    lines = [line for line in result_stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result_stderr
    assert "Traceback" not in result_stderr
    return lines[0]


def test_a_second_hub_on_the_same_data_dir_refuses_and_leaves_the_first_alone(
    data_dir: Path, tmp_path: Path, database_url: str
) -> None:
    env = hub_env(HUB_DATA_DIR=str(data_dir))
    first = HubProcess(env=env, port=free_port(), log_path=tmp_path / "first.log")
    try:
        first.wait_ready()
        redis_pid = _redis_pid(data_dir)
        servers = running_pids_under(data_dir)
        expected = (
            f"hub: error: another hub, pid {first.process.pid}, is using {data_dir.resolve()}: "
            "stop it or set HUB_DATA_DIR"
        )

        # The same checkout twice, and once with only the database given (its Redis would
        # still be embedded, in the same directory); both at once.
        seconds = [
            subprocess.Popen(
                [sys.executable, "-m", "hub", "serve", "--port", str(free_port())],
                env=second_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for second_env in (env, {**env, "HUB_DATABASE_URL": database_url})
        ]
        for second in seconds:
            _, stderr = second.communicate(timeout=60)
            assert second.returncode == 2
            assert _refusal(stderr) == expected

        assert _redis_pid(data_dir) == redis_pid
        assert psutil.pid_exists(redis_pid)
        assert running_pids_under(data_dir) == servers
        ready = httpx.get(f"{first.url}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text

        # The owner dies without cleaning up: its lock dies with it, the next hub stops the
        # orphaned Redis and takes over.
        first.kill_hard()
        assert psutil.pid_exists(redis_pid)
        third = HubProcess(env=env, port=free_port(), log_path=tmp_path / "third.log")
        try:
            third.wait_ready()
            assert _redis_pid(data_dir) != redis_pid
            assert not psutil.pid_exists(redis_pid) or (
                psutil.Process(redis_pid).status() == psutil.STATUS_ZOMBIE
            )
            assert third.stop(signal.SIGTERM) == 128 + signal.SIGTERM
        finally:
            third.close()
        assert wait_no_servers(data_dir) == []
    finally:
        first.close()
