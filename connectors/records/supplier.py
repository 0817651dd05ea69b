"""Canonical records for what supplier care-management and rostering systems bring.

Whatever the supplier (a rostering system, an ECM system, a care-planning app), its payloads
are mapped to these records, and the hub's staff, packages and visits services apply them.
They carry the data points peer systems verify per visit (carer, person, planned and actual
times, method, location: see shared/reference/domain-anchors.md B1/B2) and nothing the hub
would have to guess.

Rules every record keeps, so that applying them is simple and safe:

- **Provenance.** `source_system` and `external_id` identify the record upstream; the hub keys
  its copy on the pair and never mixes two suppliers' ids.
- **Versioning.** `source_updated_at` is the upstream's change time; the hub ignores a record
  older than the one it holds, so re-pulled or out-of-order pages are harmless.
- **Time.** Every instant is timezone-aware UTC (the mapping refuses times without an offset);
  calendar facts that are days, not instants (competency expiry, package start), are `date`s.
- **References are external ids** of the same source (`package_external_id`,
  `carer_external_ids`): the hub resolves them, and a reference it cannot resolve becomes a
  data-quality case rather than a guess.
- Frozen, slotted, no behaviour, no `hub` imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from connectors.standards.nhs_number import NhsNumberCheck


class StaffRole(StrEnum):
    CARE_WORKER = "care_worker"
    SENIOR_CARE_WORKER = "senior_care_worker"
    NURSE = "nurse"
    COORDINATOR = "coordinator"
    REGISTERED_MANAGER = "registered_manager"
    OTHER = "other"


class CompetencyStatus(StrEnum):
    """Same four states as the hub's staff domain: only evidenced and revalidated let a carer
    do a task that needs the competence (NICE NG67 for medication)."""

    EVIDENCED = "evidenced"
    REVALIDATED = "revalidated"
    RESTRICTED = "restricted"
    EXPIRED = "expired"


class PackageStatus(StrEnum):
    REFERRED = "referred"
    ACCEPTED = "accepted"
    PLANNED = "planned"
    LIVE = "live"
    SUSPENDED = "suspended"
    ENDED = "ended"


class MedicationSupport(StrEnum):
    """How much help with medicines the package commissions (none → prompt → assist →
    administer); administering needs an evidenced medication competence."""

    NONE = "none"
    PROMPT = "prompt"
    ASSIST = "assist"
    ADMINISTER = "administer"


class VisitPlanStatus(StrEnum):
    """What the roster says about a visit. Late, missed and completed are the hub's own
    conclusions from check-in/out facts, never taken from the supplier."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class VisitEventKind(StrEnum):
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"


class VerificationMethod(StrEnum):
    """How the carer's presence was evidenced. Manual entries need a reason code in every ECM
    contract (CM2000, Sandata, HHAeXchange), so the hub flags them as unverified."""

    GPS = "gps"
    NFC = "nfc"
    QR = "qr"
    TELEPHONY = "telephony"
    MANUAL = "manual"


class RotaChangeKind(StrEnum):
    CARER_ASSIGNED = "carer_assigned"
    CARER_UNASSIGNED = "carer_unassigned"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class SupplierRecord:
    """What every supplier record carries: where it came from and which version it is."""

    source_system: str
    external_id: str
    source_updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Competency:
    """One area of practice (`medication`, `moving_and_handling`, …: lower snake case)."""

    code: str
    status: CompetencyStatus
    evidenced_on: date | None
    expires_on: date | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffMember(SupplierRecord):
    given_name: str
    family_name: str
    role: StaffRole
    active: bool
    competencies: tuple[Competency, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CarePackageSummary(SupplierRecord):
    """The supplier's view of a package: enough to match it to the hub's package and person.

    `nhs_number` is the normalised ten digits when the shape is right, otherwise exactly as
    given; `nhs_number_check` says which (None when no number was sent). A number that fails
    its check is kept and flagged, not refused: the package's other updates still matter, and
    the same rule holds for referrals and portal imports.
    """

    person_external_id: str
    nhs_number: str | None
    nhs_number_check: NhsNumberCheck | None
    status: PackageStatus
    start_date: date
    end_date: date | None
    weekly_hours: Decimal
    double_handed: bool
    medication_support: MedicationSupport
    commissioner_reference: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class VisitTask:
    code: str
    description: str
    requires_competency: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Visit(SupplierRecord):
    """A planned visit: when, for which package, by whom (0 to 2 carers), doing what."""

    package_external_id: str
    planned_start: datetime
    planned_end: datetime
    status: VisitPlanStatus
    time_critical: bool
    carer_external_ids: tuple[str, ...]
    tasks: tuple[VisitTask, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GeoLocation:
    """WGS84 position and the device's stated accuracy radius in metres."""

    latitude: float
    longitude: float
    accuracy_m: float


@dataclass(frozen=True, slots=True, kw_only=True)
class VisitEvent(SupplierRecord):
    """A check-in or check-out, as recorded in the field.

    `occurred_at` is when it happened by the device (evidence); `recorded_at` is when the
    supplier's server received it. The gap is what an offline carer's late sync looks like,
    and the hub keeps both rather than raising a false missed-visit alert.
    """

    visit_external_id: str
    carer_external_id: str
    kind: VisitEventKind
    occurred_at: datetime
    recorded_at: datetime | None
    method: VerificationMethod
    location: GeoLocation | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RotaChange(SupplierRecord):
    """One change to the roster. `carer_external_id` is set for (un)assignments; the new
    planned times for a reschedule."""

    visit_external_id: str
    kind: RotaChangeKind
    carer_external_id: str | None
    new_planned_start: datetime | None
    new_planned_end: datetime | None
    reason: str | None
    changed_at: datetime
