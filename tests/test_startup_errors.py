"""Start-up failures are one line and a non-zero exit, and nothing is started or migrated
before them; the "is running" banner appears only once the hub answers."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.migrate import current_revision, downgrade
from hub.embedded import free_port
from tests.support.processes import HubProcess, hub_env, run_hub


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("hub: error: "), stderr
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port: int = closed.getsockname()[1]
    return port


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_unreachable_redis_is_one_line(command: str, tmp_path: Path, database_url: str) -> None:
    result = run_hub(
        command,
        env=hub_env(
            HUB_DATABASE_URL=database_url,
            HUB_REDIS_URL=f"redis://:secret@127.0.0.1:{_closed_port()}/0",
            HUB_DATA_DIR=str(tmp_path),
        ),
    )
    assert result.returncode == 3
    line = _one_line(result.stderr)
    assert "redis unreachable at redis://:***@127.0.0.1:" in line
    assert "secret" not in line


async def test_a_malformed_field_key_is_refused_before_anything_is_migrated(
    tmp_path: Path, database_url: str, redis_url: str, engine: AsyncEngine
) -> None:
    await downgrade(engine, "base")
    for key, why in (("not base64!", "must be base64 of 32 random bytes"), ("AAAA", "not 3")):
        result = run_hub(
            "serve",
            "--port",
            str(free_port()),
            env=hub_env(
                HUB_DATABASE_URL=database_url,
                HUB_REDIS_URL=redis_url,
                HUB_DATA_DIR=str(tmp_path / "d"),
                HUB_FIELD_ENCRYPTION_KEY=key,
            ),
        )
        assert result.returncode == 2
        line = _one_line(result.stderr)
        assert "HUB_FIELD_ENCRYPTION_KEY" in line
        assert why in line
    assert await current_revision(engine) is None  # nothing was migrated
    assert not (tmp_path / "d").exists()  # no embedded server, no key file


def test_worker_check_without_a_worker_fails_in_one_line(tmp_path: Path) -> None:
    result = run_hub(
        "worker-check", env=hub_env(HUB_WORKER_ALIVE_FILE=str(tmp_path / "none.alive"))
    )
    assert result.returncode == 1
    assert "no worker pulse" in _one_line(result.stderr)


@pytest.mark.slow
def test_the_banner_is_printed_once_the_hub_answers(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    log = tmp_path / "serve.log"
    hub = HubProcess(
        env=hub_env(
            HUB_DATABASE_URL=database_url,
            HUB_REDIS_URL=redis_url,
            HUB_DATA_DIR=str(tmp_path / "d"),
            HUB_LOG_LEVEL="info",
        ),
        port=free_port(),
        log_path=log,
    )
    try:
        hub.wait_ready()
        text = log.read_text()
        banner = f"is running: open http://localhost:{hub.port}/graphql"
        assert text.count(banner) == 1
        # After everything uvicorn says about starting, including the socket it listens on.
        assert text.index("Application startup complete") < text.index(banner)
        assert text.index(f"Uvicorn running on http://127.0.0.1:{hub.port}") < text.index(banner)
        assert httpx.get(f"{hub.url}/healthz", timeout=5).status_code == 200
        assert hub.stop(signal.SIGTERM) == 128 + signal.SIGTERM
    finally:
        hub.close()
