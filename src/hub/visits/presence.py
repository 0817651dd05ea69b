"""Evidence of presence: was the carer at the person's home when they checked in or out?

A check-in or check-out carries how it was verified (`Verification`):

- **gps** — a location fix with its accuracy. Judged against the person's home (the address's
  latitude/longitude) and a radius (`PresencePolicy.geofence_metres`, setting
  `HUB_MOBILE_GEOFENCE_METRES`, default 150 m). No fix, a fix without accuracy or worse than
  `max_accuracy_metres` (100 m), a fix older than `max_fix_age` (2 min), or a home without
  coordinates → `LOCATION_UNVERIFIED`; a good fix farther than the radius → `OUTSIDE_GEOFENCE`.
- **nfc** / **qr** — the UID of an NFC tag or a QR token fixed in the home, registered to the
  person (`register_presence_tag`). A value not registered to *this* person (another person's
  home, an unknown or deactivated tag) → `TAG_MISMATCH`.
- **manual** — the carer could not verify (no signal, tag missing, three failed scans) and says
  why; always `MANUAL_VERIFICATION`, and the reason is required.
- **supplier** — an upstream rostering system's own verification; judged against the geofence
  only when it sends coordinates.

Whatever the method, a fix the phone reports as mocked → `MOCK_LOCATION`. The distance from the
home is kept whenever both locations are known. None of this refuses a fact: it is recorded and
flagged, and the flags become events the exception rules use.

Tag values are stored only as SHA-256 hashes: the table cannot be used to print a forged token.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Conflict, Forbidden, InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.time import Clock
from hub.people import service as people
from hub.tenancy import AccessScope
from hub.visits import repository
from hub.visits.models import PresenceTag, PresenceTagKind

EARTH_RADIUS_M = 6_371_008.8
MAX_REASON_LENGTH = 500
MAX_TAG_LENGTH = 512


class VerificationMethod(StrEnum):
    GPS = "gps"
    NFC = "nfc"
    QR = "qr"
    MANUAL = "manual"
    SUPPLIER = "supplier"


class Flag(StrEnum):
    """The flags a fact can carry (events contract B); each becomes part of `visit.fact_flagged`."""

    CLOCK_SKEW_SUSPECT = "CLOCK_SKEW_SUSPECT"
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
    LATE_SYNC = "LATE_SYNC"
    LOCATION_UNVERIFIED = "LOCATION_UNVERIFIED"
    OUTSIDE_GEOFENCE = "OUTSIDE_GEOFENCE"
    MOCK_LOCATION = "MOCK_LOCATION"
    MANUAL_VERIFICATION = "MANUAL_VERIFICATION"
    TAG_MISMATCH = "TAG_MISMATCH"
    VISIT_REASSIGNED = "VISIT_REASSIGNED"
    OUTSIDE_VISIT_WINDOW = "OUTSIDE_VISIT_WINDOW"
    COMPETENCE_MISSING = "COMPETENCE_MISSING"
    DUPLICATE_ACTION = "DUPLICATE_ACTION"
    CHAIN_BREAK = "CHAIN_BREAK"
    CHECK_OUT_BEFORE_CHECK_IN = "CHECK_OUT_BEFORE_CHECK_IN"


@dataclass(frozen=True, slots=True)
class Verification:
    """How a check-in or check-out was verified, as the device (or supplier) reported it."""

    method: VerificationMethod
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    is_mock: bool = False
    provider: str | None = None
    fix_age_ms: int | None = None
    # The NFC tag UID or QR token as scanned.
    tag: str | None = None
    manual_reason: str | None = None

    def __post_init__(self) -> None:
        if (self.latitude is None) != (self.longitude is None):
            raise InvalidInput(
                "verification.latitude", "give both latitude and longitude, or neither"
            )
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            raise InvalidInput("verification.latitude", "must be between -90 and 90")
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            raise InvalidInput("verification.longitude", "must be between -180 and 180")
        if self.accuracy_m is not None and not 0 <= self.accuracy_m < 1e7:
            raise InvalidInput("verification.accuracyM", "must be a distance in metres")
        if self.fix_age_ms is not None and self.fix_age_ms < 0:
            raise InvalidInput("verification.fixAgeMs", "must not be negative")
        if self.method in (VerificationMethod.NFC, VerificationMethod.QR):
            if not (self.tag or "").strip():
                raise InvalidInput(
                    "verification.tag",
                    f"a {self.method.value} check needs the scanned tag or token",
                    code="TAG_REQUIRED",
                )
            if len(self.tag or "") > MAX_TAG_LENGTH:
                raise InvalidInput("verification.tag", f"at most {MAX_TAG_LENGTH} characters")
        if self.method is VerificationMethod.MANUAL:
            reason = (self.manual_reason or "").strip()
            if not reason:
                raise InvalidInput(
                    "verification.manualReason",
                    "say why the visit could not be verified (e.g. no signal, tag missing)",
                    code="REQUIRED",
                )
            if len(reason) > MAX_REASON_LENGTH:
                raise InvalidInput(
                    "verification.manualReason", f"at most {MAX_REASON_LENGTH} characters"
                )

    @property
    def has_fix(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True, slots=True)
class PresencePolicy:
    """How strictly presence is judged (the geofence radius comes from the settings)."""

    geofence_metres: float = 150.0
    max_accuracy_metres: float = 100.0
    max_fix_age: timedelta = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class PresenceAssessment:
    flags: tuple[Flag, ...]
    distance_m: float | None
    # For nfc/qr: whether the tag is registered to this person's home.
    tag_matched: bool | None


def distance_metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine); well under a metre off at geofence scales."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def tag_hash(kind: PresenceTagKind, value: str) -> str:
    """The stored form of a tag value: NFC UIDs compare without separators or case."""
    normalised = value.strip()
    if kind is PresenceTagKind.NFC:
        normalised = normalised.replace(":", "").replace("-", "").replace(" ", "").upper()
    return hashlib.sha256(f"{kind.value}:{normalised}".encode()).hexdigest()


async def assess(
    session: AsyncSession,
    verification: Verification,
    *,
    person_id: uuid.UUID,
    home: tuple[float, float] | None,
    policy: PresencePolicy,
) -> PresenceAssessment:
    """The presence flags of one check-in or check-out, and its distance from the home."""
    flags: list[Flag] = []
    distance = (
        distance_metres(verification.latitude, verification.longitude, home[0], home[1])
        if home is not None
        and verification.latitude is not None
        and verification.longitude is not None
        else None
    )
    if verification.is_mock:
        flags.append(Flag.MOCK_LOCATION)
    tag_matched: bool | None = None
    method = verification.method
    if method is VerificationMethod.GPS:
        fix_trusted = (
            verification.has_fix
            and verification.accuracy_m is not None
            and verification.accuracy_m <= policy.max_accuracy_metres
            and (
                verification.fix_age_ms is None
                or verification.fix_age_ms <= policy.max_fix_age.total_seconds() * 1000
            )
        )
        if not fix_trusted or home is None:
            flags.append(Flag.LOCATION_UNVERIFIED)
        elif distance is not None and distance > policy.geofence_metres:
            flags.append(Flag.OUTSIDE_GEOFENCE)
    elif method in (VerificationMethod.NFC, VerificationMethod.QR):
        kind = PresenceTagKind.NFC if method is VerificationMethod.NFC else PresenceTagKind.QR
        tag = await repository.presence_tag(session, kind, tag_hash(kind, verification.tag or ""))
        tag_matched = tag is not None and tag.active and tag.person_id == person_id
        if not tag_matched:
            flags.append(Flag.TAG_MISMATCH)
    elif method is VerificationMethod.MANUAL:
        flags.append(Flag.MANUAL_VERIFICATION)
    elif distance is not None and distance > policy.geofence_metres:
        flags.append(Flag.OUTSIDE_GEOFENCE)
    return PresenceAssessment(tuple(flags), distance, tag_matched)


class PresenceTagTaken(Conflict):
    code = "PRESENCE_TAG_TAKEN"


async def register_presence_tag(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    person_id: uuid.UUID,
    kind: PresenceTagKind,
    value: str,
    label: str | None = None,
) -> PresenceTag:
    """Register an NFC tag or QR token placed in a person's home (office staff of a provider
    that can see the person, or an admin). A value already registered — to anyone — is refused:
    one tag proves one home."""
    if not (scope.is_office or scope.is_admin):
        raise Forbidden("only the provider's office or an admin registers presence tags")
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInput("value", "give the tag UID or QR token", code="REQUIRED")
    if len(cleaned) > MAX_TAG_LENGTH:
        raise InvalidInput("value", f"at most {MAX_TAG_LENGTH} characters", code="TOO_LONG")
    person = await people.get(session, scope, person_id)
    tag = PresenceTag(
        person_id=person.id,
        kind=kind,
        value_sha256=tag_hash(kind, cleaned),
        label=(label or "").strip()[:200] or None,
        registered_by=actor,
    )
    try:
        async with session.begin_nested():
            await repository.add_presence_tag(session, tag)
    except IntegrityError as exc:
        raise PresenceTagTaken(f"this {kind.value} value is already registered to a home") from exc
    await record(
        session,
        NewEvent(
            type="person.presence_tag_registered",
            subject_type="person",
            subject_id=person.id,
            person_id=person.id,
            organisation_id=scope.organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={"tag_id": str(tag.id), "kind": kind.value, "label": tag.label},
        ),
    )
    return tag
