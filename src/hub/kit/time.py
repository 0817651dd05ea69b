"""Time: stored in UTC, shown and scheduled in Europe/London. Never a naive datetime.

Services take a `Clock` so rules can be tested at the edge minutes of a tolerance and across
the clock changes without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def utc_now() -> datetime:
    return datetime.now(UTC)


def require_aware(value: datetime, name: str = "datetime") -> datetime:
    """Refuse naive datetimes at the edges: a naive time is ambiguous twice a year."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must carry a timezone offset")
    return value.astimezone(UTC)


def to_london(value: datetime) -> datetime:
    return require_aware(value).astimezone(LONDON)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utc_now()


@dataclass
class FixedClock:
    """A clock for tests: starts where it is told and moves only when advanced."""

    current: datetime = field(default_factory=utc_now)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current = self.current + delta
        return self.current
