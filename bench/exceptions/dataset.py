"""The day the benchmark replays: one contract with 5,000 visits, laid out around an anchor
instant so that a known set of tolerances expires, on the real clock, during the measured
window.

    anchor - 12 h ............ anchor ......... anchor + window ............ anchor + 12 h
    background visits: attended (checked in and out) before the anchor, not yet due after it
    measured, late:           planned start = anchor - 15 min + U(0, window)   (tolerance 15)
    measured, time-critical:  planned start = anchor -  5 min + U(0, window)   (tolerance 5)
    measured, missed:         planned start = anchor - 60 min + U(0, window)   (tolerance 60)

The measured visits are unattended, so each one's threshold (planned start + tolerance)
passes inside [anchor, anchor + window] and its case must reach the subscribed client. The
missed-set visits went late before the anchor: the catch-up scan opens those late cases
before measuring starts. Rows are bulk-inserted (one statement per table) rather than built
one by one: the benchmark measures detection and delivery, not set-up."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import insert

from hub.contracts.models import Contract, ServiceType
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.ids import uuid7
from hub.organisations.models import Organisation, OrganisationKind
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage
from hub.people.models import NhsNumberStatus, Person
from hub.people.vocabulary import MedicationSupport
from hub.visits.models import Visit

LATE_MINUTES = 15
TIME_CRITICAL_MINUTES = 5
MISSED_MINUTES = 60
# Background visits keep clear of the measured window (and a margin around it) so that the
# only tolerances expiring while we measure are the measured ones.
QUIET_BEFORE = timedelta(minutes=MISSED_MINUTES + 10)
QUIET_AFTER = timedelta(minutes=20)


@dataclass(frozen=True, slots=True)
class Parties:
    commissioner_id: uuid.UUID
    provider_id: uuid.UUID
    contract_id: uuid.UUID
    package_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class DayPlan:
    visits: int
    measured_late: int
    measured_time_critical: int
    measured_missed: int
    anchor: datetime
    window: timedelta


def valid_nhs_number(seed: int) -> str:
    """A 10-digit number in the 999 test range that passes the modulus-11 check."""
    for candidate in range(seed, seed + 100):
        digits = f"999{candidate % 1_000_000:06d}"
        total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return digits + str(check)
    raise AssertionError("unreachable: some candidate in 100 passes")


async def build_parties(sessions: SessionFactory, *, people: int = 1250) -> Parties:
    """A council, a provider, their contract (tolerances 15/5/60 min) and `people` live
    packages, each for one person."""
    commissioner_id, provider_id, contract_id = uuid7(), uuid7(), uuid7()
    person_ids = [uuid7() for _ in range(people)]
    package_ids = [uuid7() for _ in range(people)]
    async with unit_of_work(sessions) as session:
        await session.execute(
            insert(Organisation),
            [
                {
                    "id": commissioner_id,
                    "kind": OrganisationKind.LOCAL_AUTHORITY,
                    "name": f"Bench Council {commissioner_id.hex[:6]}",
                },
                {
                    "id": provider_id,
                    "kind": OrganisationKind.PROVIDER,
                    "name": f"Bench Homecare {provider_id.hex[:6]}",
                },
            ],
        )
        await session.execute(
            insert(Contract).values(
                id=contract_id,
                reference=f"BENCH-{contract_id.hex[:8]}",
                name="Bench homecare contract",
                commissioner_id=commissioner_id,
                provider_id=provider_id,
                service_type=ServiceType.HOMECARE,
                starts_on=date(2026, 4, 1),
                late_after_minutes=LATE_MINUTES,
                time_critical_late_after_minutes=TIME_CRITICAL_MINUTES,
                missed_after_minutes=MISSED_MINUTES,
                minimum_stay_percent=80,
            )
        )
        await session.execute(
            insert(Person),
            [
                {
                    "id": person_id,
                    "nhs_number": valid_nhs_number(index * 7 + 11),
                    "nhs_number_status": NhsNumberStatus.UNVERIFIED,
                    "nhs_number_source": "bench",
                    "given_name": f"Given{index}",
                    "family_name": f"Family{index}",
                    "date_of_birth": date(1940, 1, 1) + timedelta(days=index),
                    "address_line_1": f"{index} Bench Street",
                    "town": "Northvale",
                    "postcode": "NV1 1AA",
                    "latitude": 53.48,
                    "longitude": -2.24,
                    "medication_support": MedicationSupport.NONE,
                }
                for index, person_id in enumerate(person_ids)
            ],
        )
        await session.execute(
            insert(CarePackage),
            [
                {
                    "id": package_id,
                    "reference": f"BPKG-{contract_id.hex[-6:]}-{index:05d}",
                    "person_id": person_id,
                    "contract_id": contract_id,
                    "provider_id": provider_id,
                    "status": PackageStatus.LIVE,
                    "starts_on": date(2026, 10, 1),
                }
                for index, (package_id, person_id) in enumerate(
                    zip(package_ids, person_ids, strict=True)
                )
            ],
        )
    return Parties(commissioner_id, provider_id, contract_id, tuple(package_ids))


def _background_start(anchor: datetime, rng: random.Random) -> datetime:
    """A planned start somewhere in the day around the anchor, outside the quiet span."""
    while True:
        start = anchor + timedelta(seconds=rng.uniform(-12 * 3600, 12 * 3600))
        if not (anchor - QUIET_BEFORE <= start <= anchor + QUIET_AFTER):
            return start


async def insert_day(
    sessions: SessionFactory,
    parties: Parties,
    *,
    anchor: datetime,
    window: timedelta,
    total: int = 5000,
    measured_late: int = 240,
    measured_time_critical: int = 60,
    measured_missed: int = 60,
    seed: int = 2026,
) -> DayPlan:
    """Insert the day's `total` visits in one statement (see the module docstring)."""
    rng = random.Random(seed)  # a reproducible schedule, not a secret
    span = window.total_seconds()
    rows: list[dict[str, object]] = []

    def add(start: datetime, *, time_critical: bool = False, attended: bool = False) -> None:
        package_id = parties.package_ids[len(rows) % len(parties.package_ids)]
        checked_in = start + timedelta(minutes=rng.uniform(-5, 10)) if attended else None
        rows.append(
            {
                "id": uuid7(),
                "package_id": package_id,
                "idempotency_key": f"bench:{uuid.uuid4()}",
                "planned_start": start,
                "planned_end": start + timedelta(minutes=30),
                "time_critical": time_critical,
                "checked_in_at": checked_in,
                "checked_out_at": checked_in + timedelta(minutes=30) if checked_in else None,
            }
        )

    def in_window(lead_minutes: int) -> datetime:
        # Thresholds fall in (anchor + 1 s, anchor + window]: none before measuring starts.
        return anchor - timedelta(minutes=lead_minutes) + timedelta(seconds=rng.uniform(1, span))

    for _ in range(measured_late):
        add(in_window(LATE_MINUTES))
    for _ in range(measured_time_critical):
        add(in_window(TIME_CRITICAL_MINUTES), time_critical=True)
    for _ in range(measured_missed):
        add(in_window(MISSED_MINUTES))
    while len(rows) < total:
        start = _background_start(anchor, rng)
        add(start, attended=start < anchor)
    async with unit_of_work(sessions) as session:
        await session.execute(insert(Visit), rows)
    return DayPlan(
        visits=len(rows),
        measured_late=measured_late,
        measured_time_critical=measured_time_critical,
        measured_missed=measured_missed,
        anchor=anchor,
        window=window,
    )
