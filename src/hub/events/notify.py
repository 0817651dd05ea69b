"""Wake-ups for feed readers on every replica when events commit, and the live reader itself.

Every INSERT statement on `events` sends `NOTIFY hub_events, '<highest id>:<contracts>'`
(migration 0006; `<contracts>` lists the distinct contract ids inserted, or is `*` when there
are more than a hundred). PostgreSQL delivers it when the inserting transaction commits —
never before, never for a rollback — to every listening connection of every hub process
sharing the database. Process memory is never the channel: a write through one replica wakes
subscribers on all of them.

    EventNotifier: ONE asyncpg connection per process, LISTEN hub_events,
        │          reconnects with jittered backoff, pings to notice a dead socket
        │ wake(contracts): sets the Waiter of every subscription watching one of them
        │                  (or everything: `*`, a reconnect, a payload it cannot read)
        ▼
    follow(): per subscription — arm → read_feed() → yield a batch → wait → …

Naming the contracts keeps a busy hub cheap: a commissioner's feed is not re-read for every
check-in on every other contract in the country.

A notification is a hint, the log is the truth: after every wake-up `follow()` reads the log
through `hub.events.feed.read_feed`. So a lost notification (listener reconnecting, connection
dropped, NOTIFY queue trouble) only delays a feed, never loses an event: every wait also ends on
a fallback timer, and a reader that finds a wanted event committed but held back by an older
transaction re-reads after a short backoff on its own (that transaction may write no event, so
no notification would come when it ends)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncGenerator, Collection, Iterator, Sequence

import asyncpg
from sqlalchemy.engine import make_url

from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.events import feed
from hub.events.models import Event
from hub.logging import get_logger

log = get_logger(__name__)

CHANNEL = "hub_events"
# Every waiter re-reads at least this often, notification or not.
FALLBACK_SECONDS = 5.0
# First re-read delay when a wanted event is held back by an older transaction; doubles up to
# the fallback.
HELD_BACK_RETRY_SECONDS = 0.05
# How often an idle listening connection is pinged (a half-open TCP connection never errors).
KEEPALIVE_SECONDS = 30.0
RECONNECT_FIRST_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 10.0


def listener_dsn(database_url: str) -> str:
    """The asyncpg DSN for a SQLAlchemy URL (`postgresql+asyncpg://…` → `postgresql://…`)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Waiter:
    """One subscription's wake-up flag. `arm()` it before reading the log, `wait()` after: a
    wake-up that lands while the read is in flight leaves the flag set, so it is never lost."""

    __slots__ = ("_flag",)

    def __init__(self) -> None:
        self._flag = asyncio.Event()

    def arm(self) -> None:
        self._flag.clear()

    def wake(self) -> None:
        self._flag.set()

    @property
    def woken(self) -> bool:
        return self._flag.is_set()

    async def wait(self, at_most: float) -> bool:
        """True if woken, False if `at_most` seconds passed first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._flag.wait()
        return self._flag.is_set()


def parse_payload(payload: str | None) -> tuple[int | None, frozenset[uuid.UUID] | None]:
    """`'<id>:<contract>,<contract>'` → (id, contracts); contracts None means "anything may
    have changed" (`*`, or a payload this version cannot read)."""
    text = (payload or "").strip()
    head, colon, tail = text.partition(":")
    event_id = int(head) if head.isdigit() else None
    if not colon or tail.strip() == "*":
        return event_id, None
    try:
        return event_id, frozenset(uuid.UUID(part) for part in tail.split(",") if part)
    except ValueError:
        return event_id, None


class EventNotifier:
    """One LISTEN connection per hub process, fanning each notification out to any number of
    waiting feeds: a subscription `watch()`es its contracts and is woken only when one of them
    has new events (or when anything may have: `*`, a reconnect). `wait()` on the generation
    counter serves readers that watch everything."""

    def __init__(
        self,
        database_url: str,
        *,
        channel: str = CHANNEL,
        fallback_seconds: float = FALLBACK_SECONDS,
        application_name: str = "care-hub-listener",
    ) -> None:
        self._dsn = listener_dsn(database_url)
        self.channel = channel
        self.fallback_seconds = fallback_seconds
        self._application_name = application_name
        self.generation = 0
        # The highest event id any notification named (diagnostics; readers use positions).
        self.latest_event_id = 0
        self.notifications = 0
        self.connections = 0
        self._changed = asyncio.Event()
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._by_contract: dict[uuid.UUID, set[Waiter]] = {}
        self._watching_everything: set[Waiter] = set()

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self, *, wait_seconds: float = 5.0) -> None:
        """Start listening; wait (bounded) for the first LISTEN so that a process that reports
        ready also hears the next commit. Failing that, it keeps trying in the background and
        feeds run on the fallback timer meanwhile."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name="event-notifier")
        try:
            async with asyncio.timeout(wait_seconds):
                await self._listening.wait()
        except TimeoutError:
            log.warning("event_notifier.not_listening", waited_seconds=wait_seconds)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._listening.clear()

    @contextlib.contextmanager
    def watch(self, contract_ids: Collection[uuid.UUID] | None) -> Iterator[Waiter]:
        """A `Waiter` woken by new events on these contracts (None: on any event)."""
        waiter = Waiter()
        if contract_ids is None:
            self._watching_everything.add(waiter)
        for contract in contract_ids or ():
            self._by_contract.setdefault(contract, set()).add(waiter)
        try:
            yield waiter
        finally:
            self._watching_everything.discard(waiter)
            for contract in contract_ids or ():
                waiters = self._by_contract.get(contract)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._by_contract[contract]

    @property
    def watchers(self) -> int:
        return len(self._watching_everything) + len(
            {id(w) for waiters in self._by_contract.values() for w in waiters}
        )

    def wake(
        self, event_id: int | None = None, contract_ids: Collection[uuid.UUID] | None = None
    ) -> None:
        """Tell the waiters of these contracts (None: every waiter) to re-read the log."""
        if event_id is not None and event_id > self.latest_event_id:
            self.latest_event_id = event_id
        self.generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for waiter in self._watching_everything:
            waiter.wake()
        if contract_ids is None:
            for waiters in self._by_contract.values():
                for waiter in waiters:
                    waiter.wake()
            return
        for contract in contract_ids:
            for waiter in self._by_contract.get(contract, ()):
                waiter.wake()

    async def wait(self, seen_generation: int, *, at_most: float | None = None) -> int:
        """Return once the generation differs from `seen_generation`, or after `at_most`
        seconds (default: the fallback); the current generation is returned either way."""
        if self.generation == seen_generation:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.fallback_seconds if at_most is None else at_most):
                    await changed.wait()
        return self.generation

    # --- the listening connection -------------------------------------------------------------

    def _on_notification(
        self, connection: object, pid: int, channel: str, payload: str | None
    ) -> None:
        self.notifications += 1
        event_id, contracts = parse_payload(payload)
        self.wake(event_id, contracts)

    async def _listen_forever(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while True:
            try:
                await self._listen_once()
                delay = RECONNECT_FIRST_SECONDS  # it was up: the next attempt starts afresh
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Any failure (server gone, auth, DNS, timeout) is retried: feeds fall back to
                # their timer meanwhile, so nothing is lost, only slower.
                log.warning(
                    "event_notifier.unavailable",
                    error=f"{type(exc).__name__}: {exc}",
                    retry_seconds=round(delay, 2),
                )
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 (jitter, not crypto)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen_once(self) -> None:
        connection: asyncpg.Connection = await asyncpg.connect(
            self._dsn, timeout=10, server_settings={"application_name": self._application_name}
        )
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        try:
            await connection.add_listener(self.channel, self._on_notification)
            self.connections += 1
            self._listening.set()
            # While nobody listened anything may have committed: every feed re-reads now.
            self.wake()
            log.info("event_notifier.listening", channel=self.channel, connection=self.connections)
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(KEEPALIVE_SECONDS):
                        await lost.wait()
                if not lost.is_set():
                    async with asyncio.timeout(10):
                        await connection.fetchval("SELECT 1")
            log.warning("event_notifier.connection_lost")
        finally:
            self._listening.clear()
            connection.terminate()


async def follow(
    sessions: SessionFactory,
    notifier: EventNotifier,
    after: feed.FeedPosition,
    where: feed.FeedFilter,
    *,
    batch_size: int = 100,
) -> AsyncGenerator[Sequence[Event], None]:
    """Every wanted event past `after`, in feed order, in batches, for as long as the caller
    iterates: first whatever has settled already (the replay), then each new event as it
    settles (live). The position only ever moves past delivered events, so a caller that
    stops and later resumes from the last event's position misses nothing and repeats
    nothing."""
    position = after
    retry = HELD_BACK_RETRY_SECONDS
    with notifier.watch(where.contract_ids) as waiter:
        while True:
            # Armed before reading: a notification arriving during the read ends the wait.
            waiter.arm()
            async with read_only(sessions) as session:
                read = await feed.read_feed(session, position, where, limit=batch_size)
            if read.events:
                position = feed.FeedPosition.after(read.events[-1])
                yield read.events
            if read.more:
                continue
            if read.held_back:
                await waiter.wait(retry)
                retry = min(retry * 2, notifier.fallback_seconds)
            else:
                retry = HELD_BACK_RETRY_SECONDS
                await waiter.wait(notifier.fallback_seconds)
