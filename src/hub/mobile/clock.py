"""Server time is the authority; the device's clock is evidence.

Every upload (and every outbox ping) carries `sentAt`: the device's wall time, its timezone
offset, a boot id and the milliseconds since that boot (a monotonic clock no user can change).
The hub measures the device's offset (`receivedAt - sentAt.wall`) and keeps, per device, an
*anchor*: this server instant corresponds to that monotonic reading in that boot.

A command's corrected time (`occurred_at`) is, in order of preference:

1. **monotonic** — the command was recorded in the boot that is sending it now:
   `receivedAt - (sentAt.monotonicMs - occurredAt.monotonicMs)`. Immune to a wall clock that was
   wrong, changed, or moved to another timezone in between (F23, F24).
2. **anchor** — recorded in the boot the hub measured at an earlier contact:
   `anchor.serverAt + (occurredAt.monotonicMs - anchor.monotonicMs)`.
3. **trusted** — the device had a trusted network time for the event (`occurredAt.trusted`).
4. **wall_offset** — nothing better: the device's wall time plus the offset measured now.

The device's wall time is kept beside the corrected time. A command whose wall time differs from
its corrected time by more than `SKEW_THRESHOLD` (2 minutes) is `CLOCK_SKEW_SUSPECT`; it is never
refused for it (hard rejects lock carers out). Future and late arrivals are judged against the
corrected time by `hub.visits.facts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.errors import InvalidInput

SKEW_THRESHOLD = timedelta(minutes=2)
MAX_BOOT_ID_LENGTH = 100
MAX_MONOTONIC_MS = 2**53


@dataclass(frozen=True, slots=True)
class DeviceTime:
    """A reading of the device's clocks (`DeviceTimeInput`)."""

    wall: datetime
    tz_offset_min: int
    boot_id: str
    monotonic_ms: int
    trusted: datetime | None = None
    trusted_err_ms: int | None = None

    def __post_init__(self) -> None:
        if self.wall.tzinfo is None or self.wall.utcoffset() is None:
            raise InvalidInput("wall", "must carry a timezone offset", code="NAIVE_DATETIME")
        if self.trusted is not None and (
            self.trusted.tzinfo is None or self.trusted.utcoffset() is None
        ):
            raise InvalidInput("trusted", "must carry a timezone offset", code="NAIVE_DATETIME")
        if not -14 * 60 <= self.tz_offset_min <= 14 * 60:
            raise InvalidInput("tzOffsetMin", "must be between -840 and 840 minutes")
        if not self.boot_id.strip() or len(self.boot_id) > MAX_BOOT_ID_LENGTH:
            raise InvalidInput("bootId", f"must be 1 to {MAX_BOOT_ID_LENGTH} characters")
        if not 0 <= self.monotonic_ms <= MAX_MONOTONIC_MS:
            raise InvalidInput("monotonicMs", "must be a whole number of milliseconds, >= 0")


@dataclass(frozen=True, slots=True)
class ClockAnchor:
    """A server instant and the device's monotonic reading at it, valid for one boot."""

    boot_id: str
    server_at: datetime
    monotonic_ms: int


@dataclass(frozen=True, slots=True)
class Measurement:
    """The device's clock as measured at one contact."""

    received_at: datetime
    sent: DeviceTime

    @property
    def offset_ms(self) -> int:
        """Server receive time minus device wall time: add it to a device time to correct it."""
        return round((self.received_at - self.sent.wall).total_seconds() * 1000)

    @property
    def anchor(self) -> ClockAnchor:
        return ClockAnchor(self.sent.boot_id, self.received_at, self.sent.monotonic_ms)


@dataclass(frozen=True, slots=True)
class CorrectedTime:
    at: datetime
    basis: str
    skew_suspect: bool


def correct(
    occurred: DeviceTime, measurement: Measurement, previous: ClockAnchor | None
) -> CorrectedTime:
    """The server-authoritative time of an event the device timed as `occurred`."""
    sent = measurement.sent
    if occurred.boot_id == sent.boot_id:
        at = measurement.received_at - timedelta(
            milliseconds=sent.monotonic_ms - occurred.monotonic_ms
        )
        basis = "monotonic"
    elif previous is not None and occurred.boot_id == previous.boot_id:
        at = previous.server_at + timedelta(
            milliseconds=occurred.monotonic_ms - previous.monotonic_ms
        )
        basis = "anchor"
    elif occurred.trusted is not None:
        at = occurred.trusted
        basis = "trusted"
    else:
        at = occurred.wall + timedelta(milliseconds=measurement.offset_ms)
        basis = "wall_offset"
    # On the wall_offset basis the difference is the measured offset itself.
    return CorrectedTime(at=at, basis=basis, skew_suspect=abs(occurred.wall - at) > SKEW_THRESHOLD)
