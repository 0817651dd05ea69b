"""Run `hub` as a real process, the way an operator does."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hub.embedded import running_pids_under


def hub_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_LOG_LEVEL": "warning", **overrides})
    return env


def run_hub(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class HubProcess:
    def __init__(self, *args: str, env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve", "--port", str(port), *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"hub exited early ({self.process.returncode}):\n{self.log_path.read_text()}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"hub not ready in {timeout}s:\n{self.log_path.read_text()}")

    def stop(self, sig: signal.Signals, timeout: float = 30) -> int:
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        finally:
            self._log.close()
        return code

    def kill_hard(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._log.close()

    def close(self) -> None:
        """Clean-up for a test that failed half-way: stop the process, close the log."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


def wait_no_servers(data_dir: Path, timeout: float = 15) -> list[int]:
    """Wait until no postgres/redis process mentions `data_dir`; return any left."""
    deadline = time.monotonic() + timeout
    left = running_pids_under(data_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = running_pids_under(data_dir)
    return left


def kill_servers(data_dir: Path) -> None:
    """Last-resort clean-up so a failing test leaves nothing running."""
    for pid in running_pids_under(data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
