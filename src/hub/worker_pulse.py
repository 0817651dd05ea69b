"""How a worker shows it is alive: `WorkerPulse` (written by the worker loop, see
`hub.worker`) and `check_alive` (read by the liveness probe).

`python -m hub.worker_pulse` is the probe of a `hub worker` container (`hub worker-check` does
the same): it imports only the settings, not the hub, so a probe every few seconds stays
cheap. Exit 0 when alive, 1 with one line on stderr when not."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger("hub.worker")

PULSE_WRITE_SECONDS = 1.0


@dataclass
class WorkerPulse:
    """When this process's worker loop last polled Redis, and what it is doing.

    `polled_age()` is what readiness judges (the loop is taking jobs). `alive_file`, when set,
    is rewritten at most once a second with the pid, the state and the wall-clock times of the
    last poll and of the last sign of life (a poll, or a reconnect attempt while Redis is
    away): `hub worker-check` reads it, so a worker waiting out a Redis outage stays alive
    while a stuck one does not."""

    alive_file: Path | None = None
    state: str = "starting"
    error: str | None = None
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)
    polled: float | None = None
    _polled_wall: float | None = None
    _written: float = 0.0

    def record_poll(self) -> None:
        self.polled = time.monotonic()
        self._polled_wall = time.time()
        self.state, self.error = "running", None
        self._write()

    def record_waiting(self, error: str) -> None:
        self.state, self.error = "waiting_for_redis", error
        self._write(force=True)

    def record_crash(self, error: str) -> None:
        self.state, self.error = "restarting", error
        self.restarts += 1
        self._write(force=True)

    def polled_age(self) -> float:
        """Seconds since the loop last polled (since start, before the first poll)."""
        return time.monotonic() - (self.polled if self.polled is not None else self.started)

    def _write(self, *, force: bool = False) -> None:
        if self.alive_file is None:
            return
        now = time.monotonic()
        if not force and now - self._written < PULSE_WRITE_SECONDS:
            return
        self._written = now
        record = {
            "pid": os.getpid(),
            "state": self.state,
            "error": self.error,
            "alive_at": time.time(),
            "polled_at": self._polled_wall,
        }
        temporary = self.alive_file.with_name(self.alive_file.name + f".{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(record))
            temporary.replace(self.alive_file)
        except OSError as exc:
            log.warning("worker.pulse_not_written", path=str(self.alive_file), error=str(exc))


def check_alive(path: Path, limit_seconds: float) -> tuple[bool, str]:
    """Whether the `hub worker` that writes `path` is alive: its process runs and it polled
    Redis, or tried to reach it, within `limit_seconds`. A sentence either way."""
    try:
        record = json.loads(path.read_text())
        pid, state, alive_at = int(record["pid"]), str(record["state"]), float(record["alive_at"])
    except FileNotFoundError:
        return False, f"no worker pulse at {path} (is `hub worker` running here?)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"unreadable worker pulse at {path}: {exc}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, f"the worker (pid {pid}) that wrote {path} is gone"
    except PermissionError:
        pass  # it exists, as another user
    age = time.time() - alive_at
    if age > limit_seconds:
        return False, (
            f"worker pid {pid} ({state}) showed no sign of life for {age:.0f} s "
            f"(limit {limit_seconds:.0f} s)"
        )
    detail = f": {record.get('error')}" if record.get("error") else ""
    return True, f"worker pid {pid} is alive ({state}{detail}), last seen {age:.1f} s ago"


def main() -> None:
    from pydantic import ValidationError

    from hub.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"hub: error: bad configuration: {exc.errors()[0]['msg']}", file=sys.stderr)
        sys.exit(2)
    limit = settings.worker_heartbeat_seconds * settings.worker_stale_after_beats
    alive, message = check_alive(settings.worker_alive_file, limit)
    if not alive:
        print(f"hub: error: {message}", file=sys.stderr)
        sys.exit(1)
    print(message)


if __name__ == "__main__":
    main()
