"""Time for connectors: wall time, a monotonic timer and sleeping, behind one seam.

Retries, Retry-After, circuit-breaker cool-downs and webhook timestamp windows all depend on
time. Passing a `Clock` lets tests step over a 30-second cool-down or sit exactly 300 seconds
from a webhook's timestamp without sleeping, while the real network traffic stays real.
(`connectors` never imports `hub`, so this is its own small clock, shaped like the hub's.)
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where connectors read the time and wait."""

    def now(self) -> datetime:
        """Wall time, timezone-aware UTC: for status timestamps, Retry-After dates, webhooks."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: for cool-downs and retry budgets."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait; the only way connector code waits between attempts."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to, or when code sleeps on it.

    `sleep` advances the clock at once and records the requested delay in `sleeps`, so a test
    can assert the exact backoff a retry loop chose. It still yields to the event loop once, so
    other tasks run as they would across a real sleep.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._start = start.astimezone(UTC)
        self._elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._elapsed += max(seconds, 0.0)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move time forward without anyone sleeping (e.g. past a breaker's cool-down)."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._elapsed += seconds
