"""Ends live streams whose account lost its authorisation, even when no event flows.

Every event a stream delivers is checked (`Authenticator.still_valid`), but a quiet stream
delivers nothing, so a switched-off account could keep a subscription open for hours. Each
process therefore keeps one registry of its open streams and, once a second while any is open,
reads the authorisation state of all their accounts in ONE query (whatever the number of
subscribers). A stream whose account was switched off, moved to another organisation or given
another role is interrupted; `hub.graphql.subscriptions` turns that into AUTHORISATION_LOST.

The interruption cancels the stream's task, but only while it is waiting inside the stream's
source (for the next event or tick), never while the message is being sent; the stream
un-cancels itself and raises the error. A database error leaves streams open until the next
check (each delivered event is still checked on its own)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator

from hub.accounts import repository as accounts
from hub.auth.principal import Principal
from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.logging import get_logger

log = get_logger(__name__)

CHECK_INTERVAL_SECONDS = 1.0


class WatchedStream:
    """One open stream: whose it is, and the task to interrupt when that account loses its
    authorisation while the stream waits."""

    __slots__ = ("_task", "_waiting", "interrupted", "principal", "revoked")

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.revoked = False
        # True once `revoke` cancelled the task: the stream owes the task one `uncancel()`.
        self.interrupted = False
        self._task: asyncio.Task[object] | None = None
        self._waiting = False

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """While inside, a revocation cancels the current task (the stream's wait)."""
        self._task = asyncio.current_task()
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False

    def revoke(self) -> None:
        if self.revoked:
            return
        self.revoked = True
        if self._waiting and self._task is not None:
            self.interrupted = True
            self._task.cancel("authorisation lost")

    def settle_interruption(self) -> bool:
        """Take back this watch's cancellation of the task. True when no other cancellation
        is pending (the stream may end with its own error instead of being cancelled)."""
        if not self.interrupted or self._task is None:
            return True
        self.interrupted = False
        return self._task.uncancel() == 0


class AuthorisationWatch:
    """The per-process registry of open streams and its once-a-second check."""

    def __init__(
        self, sessions: SessionFactory, *, interval_seconds: float = CHECK_INTERVAL_SECONDS
    ) -> None:
        self.sessions = sessions
        self.interval_seconds = interval_seconds
        self._streams: dict[uuid.UUID, set[WatchedStream]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.checks = 0  # queries run (tests and diagnostics)

    @property
    def open_streams(self) -> int:
        return sum(len(streams) for streams in self._streams.values())

    @contextlib.contextmanager
    def watch(self, principal: Principal) -> Iterator[WatchedStream]:
        stream = WatchedStream(principal)
        self._streams.setdefault(principal.account_id, set()).add(stream)
        if (self._task is None or self._task.done()) and not self._closing.is_set():
            self._task = asyncio.create_task(self._run(), name="authorisation-watch")
        try:
            yield stream
        finally:
            streams = self._streams.get(principal.account_id)
            if streams is not None:
                streams.discard(stream)
                if not streams:
                    del self._streams[principal.account_id]

    async def _run(self) -> None:
        # Stops by itself once no stream is open; the next `watch` starts it again.
        while self._streams and not self._closing.is_set():
            started = time.monotonic()
            try:
                await self.check_now()
            except Exception:
                log.warning("authorisation_watch.check_failed", exc_info=True)
            pause = max(self.interval_seconds - (time.monotonic() - started), 0.05)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._closing.wait()

    async def check_now(self) -> None:
        """One query for every account with an open stream; interrupt the streams of those no
        longer authorised as they were when the stream opened."""
        account_ids = list(self._streams)
        if not account_ids:
            return
        async with read_only(self.sessions) as session:
            rows = await accounts.authorisation_states(session, account_ids)
        self.checks += 1
        states = {row.id: row for row in rows}
        for account_id in account_ids:
            state = states.get(account_id)
            for stream in list(self._streams.get(account_id, ())):
                principal = stream.principal
                if (
                    state is None
                    or not state.active
                    or state.role != principal.role
                    or state.organisation_id != principal.organisation_id
                ):
                    stream.revoke()

    async def close(self) -> None:
        """Stop checking. The loop is asked to stop between checks rather than cancelled, so a
        check in flight returns its connection to the pool instead of leaving it to the GC."""
        self._closing.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            async with asyncio.timeout(5):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
