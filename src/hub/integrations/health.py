"""The circuit breaker of a connector instance, kept in the database so every process agrees.

`connectors.http.ResilientClient` has an in-memory breaker; a hub runs several workers and API
replicas, so the state that matters lives in `connector_health` and each poll run adapts the
client to it through the client's own interfaces:

- `admit` (start of a run, its own short transaction): refuses while the breaker is open or
  another run holds the instance's lease; past the cool-down the run is the half-open probe.
  Otherwise it says how many more consecutive failures the breaker tolerates, and the run
  builds its client with `BreakerPolicy(failure_threshold=remaining)`, so the in-memory breaker
  opens exactly when the shared count reaches the threshold.
- `settle` (end of a run): folds the client's `UpstreamStatus` into the shared row: a run that
  reached the upstream resets the count to the failures since its last success, a run that
  never did adds its failures; reaching the threshold, or a failed probe, opens the breaker for
  the cool-down.

Only transient failures count (timeouts, refused connections, 429, 5xx, truncated bodies): a
401 or an unmappable page proves the upstream is alive, exactly as in `connectors.http`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from connectors.http import UpstreamStatus
from hub.integrations import repository
from hub.integrations.models import ConnectorHealth
from hub.kit.time import Clock

MAX_ERROR_LENGTH = 1000


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failure_threshold: int
    cool_down: timedelta
    # How long one run may hold the instance; a crashed worker's lease lapses after this.
    lease: timedelta


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a run may call the upstream now; `remaining` consecutive failures open the
    breaker. When refused, `reason` says why and `retry_after` (seconds) when to try again."""

    allowed: bool
    probe: bool = False
    remaining: int = 0
    reason: str | None = None
    retry_after: float | None = None


def breaker_state(health: ConnectorHealth | None, now: datetime) -> BreakerState:
    if health is None or health.open_until is None:
        return BreakerState.CLOSED
    return BreakerState.OPEN if health.open_until > now else BreakerState.HALF_OPEN


async def admit(
    session: AsyncSession, instance_id: uuid.UUID, *, now: datetime, settings: BreakerSettings
) -> Admission:
    """Take the instance's lease for one run, unless the breaker or another run says no."""
    health = await repository.health_for_update(session, instance_id)
    if health.poll_lease_until is not None and health.poll_lease_until > now:
        return Admission(
            allowed=False,
            reason="another poll run of this connector is in progress",
            retry_after=(health.poll_lease_until - now).total_seconds(),
        )
    state = breaker_state(health, now)
    if state is BreakerState.OPEN:
        assert health.open_until is not None
        return Admission(
            allowed=False,
            reason="circuit open: the upstream failed repeatedly",
            retry_after=(health.open_until - now).total_seconds(),
        )
    probe = state is BreakerState.HALF_OPEN
    health.poll_lease_until = now + settings.lease
    health.last_poll_started_at = now
    health.probe_started_at = now if probe else None
    await session.flush()
    remaining = 1 if probe else max(1, settings.failure_threshold - health.consecutive_failures)
    return Admission(allowed=True, probe=probe, remaining=remaining)


async def settle(
    session: AsyncSession,
    instance_id: uuid.UUID,
    *,
    now: datetime,
    settings: BreakerSettings,
    probe: bool,
    upstream: UpstreamStatus | None,
    error_code: str | None,
    error: str | None,
) -> ConnectorHealth:
    """Fold one run's outcome into the shared state and release the lease."""
    health = await repository.health_for_update(session, instance_id)
    if upstream is not None:
        reached = upstream.last_success_at is not None
        failures = upstream.consecutive_failures
        if not reached:
            failures += health.consecutive_failures
        failed_probe = probe and not reached and upstream.consecutive_failures > 0
        health.consecutive_failures = failures
        if failed_probe or failures >= settings.failure_threshold:
            health.open_until = now + settings.cool_down
            # The client counts only its own run's failures; say what the shared breaker saw.
            error_code = error_code or "UPSTREAM_CIRCUIT_OPEN"
            error = (
                f"circuit open until {health.open_until.isoformat()} after {failures} "
                f"consecutive transient failures"
                + (" (the half-open probe failed)" if failed_probe else "")
                + (f"; last: {upstream.last_error}" if upstream.last_error else "")
            )
        elif reached:
            health.open_until = None
        if reached:
            health.last_success_at = now
    if error_code is not None:
        health.last_error_at = now
        health.last_error_code = error_code
        health.last_error = (error or error_code)[:MAX_ERROR_LENGTH]
    health.poll_lease_until = None
    health.probe_started_at = None
    await session.flush()
    return health


async def note_error(
    session: AsyncSession, instance_id: uuid.UUID, *, now: datetime, code: str, message: str
) -> None:
    """Record a failure that is not the upstream's health (a missing secret, say)."""
    health = await repository.health_for_update(session, instance_id)
    health.last_error_at = now
    health.last_error_code = code
    health.last_error = message[:MAX_ERROR_LENGTH]
    await session.flush()


class ConnectorClock:
    """`connectors.clock.Clock` over the hub's clock: wall time from the hub (so a test's fixed
    clock governs webhook windows and status times), monotonic time and sleeps from the loop."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
