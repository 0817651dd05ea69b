"""Synthetic demo data for `hub serve --demo`: realistic, invented, idempotent.

No real people: names are made up, NHS numbers come only from the 999 test range (each passing
the modulus-11 check) and telephone numbers from Ofcom's drama range (07700 900xxx).

The dataset is a Northvale homecare contract in its first weeks after mobilisation (seeds 001
and 003):

- the seven organisations below (commissioner, ICB, provider, incumbent, supplier, referrers);
- the contract "Northvale Homecare Framework — Lot 1" between the council and Riverside, with
  its tolerances, resolution outcomes and KPI evidence chains;
- 15 Riverside carers (some TUPE-transferred from Hillside, one transferring next fortnight)
  with a realistic spread of competencies: most medication-competent, some restricted, one
  lapsed by date, one expired; and two office staff;
- 40 people and their care packages, 10 transferred from Hillside, triaged Red/Amber/Green
  (reds held out of rota conversion, two validated and released);
- a week of visits for every live package that is not held, with carers assigned through the
  competency gate (no medication call goes to a carer who may not administer);
- three referrals (one incomplete) and a supplier software update awaiting approval.

Everything is written through the domain services, so the event log tells the same story the
rows do. Loading is idempotent: the organisations are `ensure`d by stable id, and the rest is
created once, in the same unit of work, when the demo contract does not exist yet. A later load
only tops up the rolling week of visits (today to today + 6) for live packages and assigns the
visits it created, so a demo started again next week still has a rota; on the same day it
creates nothing at all.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.standards.nhs_number import nhs_number_check_digit
from hub.accounts.models import Role
from hub.change_requests import service as change_requests
from hub.change_requests.lifecycle import ChangeRequestKind
from hub.change_requests.models import ChangeRequest
from hub.config import Settings
from hub.contracts import service as contracts
from hub.contracts.models import Contract, ServiceType
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import LONDON, Clock
from hub.organisations import service as organisations
from hub.organisations.models import OrganisationKind
from hub.packages import service as packages
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage
from hub.packages.service import ScheduleEntrySpec, TaskSpec
from hub.packages.triage import InformationGap
from hub.people import service as people
from hub.people.sealing import Sealer, sealer_for
from hub.people.vocabulary import MedicationSupport
from hub.referrals import service as referrals
from hub.referrals.models import Referral, ReferralSource, RiskTier
from hub.staff import service as staff
from hub.staff.competency import (
    Carer,
    CompetencyStatus,
    KnownCompetence,
    VisitRequirements,
    check_assignment,
)
from hub.staff.models import Competency, StaffMember, StaffRole
from hub.tenancy import AccessScope
from hub.visits import service as visits
from hub.visits.models import Visit, VisitAssignment

DEMO_ACTOR = "system:demo"
_NAMESPACE = uuid.UUID("6f1c4d2e-8a51-4c1b-9a55-0d3c2f6b7e10")


def demo_id(name: str) -> uuid.UUID:
    """Stable ids, so loading the demo twice finds what the first load made."""
    return uuid.uuid5(_NAMESPACE, name)


@dataclass(frozen=True)
class DemoOrganisation:
    key: str
    kind: OrganisationKind
    name: str
    ods_code: str | None


DEMO_ORGANISATIONS = (
    DemoOrganisation("council", OrganisationKind.LOCAL_AUTHORITY, "Northvale City Council", None),
    DemoOrganisation("icb", OrganisationKind.ICB, "NHS Northvale Integrated Care Board", "QX9"),
    DemoOrganisation("provider", OrganisationKind.PROVIDER, "Riverside Homecare Ltd", "AX123"),
    DemoOrganisation("incumbent", OrganisationKind.PROVIDER, "Hillside Care Services", "AX456"),
    DemoOrganisation("supplier", OrganisationKind.SUPPLIER, "CareRoster Systems Ltd", None),
    DemoOrganisation("gp", OrganisationKind.REFERRER, "Northvale Medical Practice", "Y99901"),
    DemoOrganisation("hospital", OrganisationKind.REFERRER, "Northvale General Hospital", "RX9"),
)

DEMO_CONTRACT_REFERENCE = "NV-HC-2026-01"
DEMO_CONTRACT_NAME = "Northvale Homecare Framework — Lot 1"
DEMO_STAFF_SOURCE = "careroster"
DEMO_REFERRAL_SYSTEM = "northvale-demo"
WEEK_DAYS = 7
# Minutes a carer needs between visits (travel within a Northvale zone).
TRAVEL_MINUTES = 10
# The town centre the demo addresses are scattered around (and the check-in geofences).
NORTHVALE_CENTRE = (53.7456, -1.6021)


def _organisation_id(key: str) -> uuid.UUID:
    return demo_id(f"organisation:{key}")


# ---------------------------------------------------------------------------------------------
# The contract's terms (seed 003: outcome codes and KPI evidence chains)

DEMO_TOLERANCES = contracts.Tolerances(
    late_after_minutes=15,
    time_critical_late_after_minutes=5,
    missed_after_minutes=60,
    minimum_stay_percent=80,
)

DEMO_OUTCOMES = (
    contracts.OutcomeSpec(
        "covered_by_alternative_worker",
        "Covered by an alternative worker",
        ("alternativeWorker", "coveredWithinMinutes"),
    ),
    contracts.OutcomeSpec("family_supported", "Family supported the person", ("familyMember",)),
    contracts.OutcomeSpec(
        "person_declined_visit", "The person declined the visit", ("declinedBy",)
    ),
    contracts.OutcomeSpec("escalated_to_on_call", "Escalated to on-call", ("onCallManager",)),
    contracts.OutcomeSpec(
        "welfare_confirmed_not_at_home",
        "Not at home; welfare confirmed with a contact",
        ("confirmedWith",),
    ),
)

DEMO_KPIS = (
    contracts.KpiSpec(
        code="visits_on_time",
        name="Visits started on time",
        source_event_types=("visit.generated", "visit.checked_in", "visit.late"),
        quality_rule=(
            "Check-in recorded at the door (inside the geofence) within 15 minutes of the planned "
            "start, or 5 minutes for a time-critical call"
        ),
        exception_rule=(
            "A visit not started within tolerance opens an exception case with mandatory contact "
            "attempts and a welfare check"
        ),
        governance_action=(
            "Coordinator closes each case with a contract resolution outcome the same shift; the "
            "Registered Manager reviews repeat exceptions for one person weekly (rota stability, "
            "travel, unrealistic visit windows)"
        ),
        target_percent=95,
    ),
    contracts.KpiSpec(
        code="missed_visits",
        name="Missed visits (no more than 0.5% of planned visits)",
        source_event_types=(
            "visit.generated",
            "visit.missed",
            "visit.checked_in",
            "visit.cancelled",
        ),
        quality_rule=(
            "A visit counts as delivered when checked in before 60 minutes past its planned start; "
            "cancellations need a recorded reason"
        ),
        exception_rule=(
            "No check-in 60 minutes after the planned start is a missed visit: escalate to on-call "
            "and notify the commissioner within 24 hours"
        ),
        governance_action=(
            "Registered Manager signs off every missed-visit case and its learning action; the "
            "monthly pack lists them with root causes"
        ),
        target_percent=0.5,
    ),
    contracts.KpiSpec(
        code="visit_verification",
        name="Visits verified by check-in and check-out",
        source_event_types=("visit.checked_in", "visit.checked_out"),
        quality_rule=(
            "Both check-in and check-out recorded on the carer's device at the person's home, "
            "and the stay at least 80% of the planned length"
        ),
        exception_rule="A manual or out-of-geofence check-in, or a short stay, is flagged",
        governance_action=(
            "Field supervisor samples flagged visits weekly and records the outcome in supervision"
        ),
        target_percent=98,
    ),
    contracts.KpiSpec(
        code="medication_tasks_completed",
        name="Medication tasks completed and recorded on the MAR",
        source_event_types=("visit.assigned", "visit.checked_out", "competency.recorded"),
        quality_rule=(
            "Every medication task done by a carer whose medication competence is evidenced or "
            "revalidated on the day, and recorded at the visit"
        ),
        exception_rule=(
            "An unrecorded medication task, or a medication call staffed by a restricted or "
            "expired carer, is a medication incident"
        ),
        governance_action=(
            "Medication lead reviews incidents within 72 hours, with a spot check and coaching; "
            "the MAR error rate is compared week 1 against week 4 of mobilisation"
        ),
        target_percent=99,
    ),
)


# ---------------------------------------------------------------------------------------------
# Staff

MED = KnownCompetence.MEDICATION.value
MH = KnownCompetence.MOVING_AND_HANDLING.value
SG = KnownCompetence.SAFEGUARDING.value
DEM = KnownCompetence.DEMENTIA.value
IPC = KnownCompetence.INFECTION_PREVENTION.value
MCA = KnownCompetence.MCA_DOLS.value

# How a carer stands in one competence (seed 001's medication mobilisation tracker):
# E evidenced, R revalidated, X restricted, L lapsed by date (stored evidenced, expiry past),
# D expired (stored expired, expiry past).
_STANDING = {
    "E": CompetencyStatus.EVIDENCED,
    "R": CompetencyStatus.REVALIDATED,
    "X": CompetencyStatus.RESTRICTED,
    "L": CompetencyStatus.EVIDENCED,
    "D": CompetencyStatus.EXPIRED,
}


@dataclass(frozen=True)
class DemoStaff:
    number: int
    given_name: str
    family_name: str
    role: StaffRole
    # None: always Riverside; a number of days relative to today: transferred from Hillside.
    tupe_offset_days: int | None = None
    competencies: dict[str, str] = field(default_factory=dict)

    @property
    def external_id(self) -> str:
        return f"RS-{self.number:04d}"


_ALL_GOOD = {MED: "E", MH: "E", SG: "E", IPC: "E"}

DEMO_CARERS = (
    DemoStaff(
        1, "Amara", "Okafor", StaffRole.SENIOR_CARER, None,
        {MED: "R", MH: "R", SG: "E", DEM: "E", IPC: "E", MCA: "E"},
    ),
    DemoStaff(2, "Daniel", "Whitcombe", StaffRole.CARER, None, {**_ALL_GOOD, DEM: "E"}),
    DemoStaff(3, "Priya", "Raman", StaffRole.CARER, None, dict(_ALL_GOOD)),
    DemoStaff(4, "Tomasz", "Nowicki", StaffRole.CARER, None, {**_ALL_GOOD, MED: "X"}),
    DemoStaff(5, "Grace", "Fairbairn", StaffRole.CARER, None, {**_ALL_GOOD, SG: "R", DEM: "E"}),
    DemoStaff(6, "Liam", "Hartigan", StaffRole.CARER, None, {**_ALL_GOOD, MED: "L"}),
    DemoStaff(7, "Sofia", "Marchetti", StaffRole.CARER, None, {**_ALL_GOOD, MH: "X", DEM: "E"}),
    DemoStaff(
        8, "Kwame", "Asante", StaffRole.SENIOR_CARER, None,
        {MED: "R", MH: "R", SG: "E", DEM: "E", IPC: "E", MCA: "E"},
    ),
    DemoStaff(9, "Ellie", "Brannigan", StaffRole.CARER, None, dict(_ALL_GOOD)),
    DemoStaff(10, "Hollie", "Tranter", StaffRole.CARER, -21, {MED: "X", MH: "E", SG: "E"}),
    DemoStaff(11, "Marek", "Zielinski", StaffRole.CARER, -21, {**_ALL_GOOD, MED: "R"}),
    DemoStaff(
        12, "Joanne", "Pettifer", StaffRole.SENIOR_CARER, -21,
        {MED: "E", MH: "D", SG: "E", DEM: "E", IPC: "E"},
    ),
    DemoStaff(13, "Ruth", "Ogunbiyi", StaffRole.CARER, 14, {MED: "E", MH: "E", SG: "E"}),
    DemoStaff(14, "Callum", "Dewhurst", StaffRole.CARER, None, {**_ALL_GOOD, DEM: "E"}),
    DemoStaff(15, "Nadia", "Haddad", StaffRole.CARER, None, {**_ALL_GOOD, MED: "X", DEM: "E"}),
)  # fmt: skip

DEMO_OFFICE = (
    DemoStaff(90, "Beatrice", "Lomax", StaffRole.COORDINATOR),
    DemoStaff(91, "Stephen", "Adeyemi", StaffRole.REGISTERED_MANAGER),
)

CARER_ROLES = (StaffRole.CARER, StaffRole.SENIOR_CARER)

_EVIDENCE = {
    MED: "Observed medication round and MAR audit",
    MH: "Practical hoist and transfer assessment",
    SG: "Safeguarding adults level 2 certificate",
    DEM: "Dementia awareness tier 2",
    IPC: "Infection prevention e-learning and hand hygiene audit",
    MCA: "MCA/DoLS awareness workshop",
}


def _competency_dates(standing: str, today: date, seed: int) -> tuple[date, date]:
    """(assessed on, expires on) for a standing, spread so expiries do not all fall together."""
    if standing == "L":
        return today - timedelta(days=400 + seed), today - timedelta(days=12 + seed % 20)
    if standing == "D":
        return today - timedelta(days=430 + seed), today - timedelta(days=45 + seed % 30)
    if standing == "X":
        return today - timedelta(days=10 + seed % 9), today + timedelta(days=60 + seed % 30)
    assessed = today - timedelta(days=20 + (seed * 37) % 300)
    return assessed, assessed + timedelta(days=365)


# ---------------------------------------------------------------------------------------------
# Care packages: archetypes, each giving a known triage rating


PERSONAL_CARE = TaskSpec("personal_care", "Personal care: wash and dress")
BREAKFAST = TaskSpec("breakfast", "Prepare breakfast and a hot drink")
LUNCH = TaskSpec("lunch", "Prepare lunch and leave a drink in reach")
TEA = TaskSpec("tea", "Prepare tea and a flask for the evening")
BED = TaskSpec("bed_routine", "Help to bed and night-time routine")
WELFARE = TaskSpec("welfare_check", "Welfare check: hydration, falls sensor and pendant alarm")
PROMPT_MEDS = TaskSpec("prompt_medication", "Prompt medication from the blister pack")
INSULIN_PROMPT = TaskSpec(
    "prompt_insulin", "Prompt self-administered insulin and check the blood sugar diary"
)
ASSIST_MEDS = TaskSpec(
    "assist_medication", "Assist with medication (open packs, pour liquids) and record", MED
)
ADMIN_MEDS = TaskSpec("administer_medication", "Administer medication and record on the MAR", MED)
CREAMS = TaskSpec("apply_creams", "Apply prescribed topical creams and record on the TMAR", MED)
HOIST_UP = TaskSpec("hoist_transfer", "Hoist transfer bed to chair (two carers)", MH)
HOIST_DOWN = TaskSpec("hoist_transfer", "Hoist transfer chair to bed (two carers)", MH)
REPOSITION = TaskSpec("reposition", "Reposition and check pressure areas", MH)
ORIENTATION = TaskSpec("orientation", "Orientation and reassurance; update the memory board", DEM)

DAILY = (1, 2, 3, 4, 5, 6, 7)
WEEKDAYS = (1, 2, 3, 4, 5)


def _clock_time(base: time, offset_minutes: int) -> time:
    minutes = base.hour * 60 + base.minute + offset_minutes - offset_minutes % 5
    return time(minutes // 60, minutes % 60)


def _slots(k: int) -> dict[str, time]:
    """Staggered start times for package `k`, so a run is not forty 8 o'clock calls."""
    return {
        "morning": _clock_time(time(7, 0), (k * 13) % 165),
        "lunch": _clock_time(time(12, 0), (k * 11) % 90),
        "tea": _clock_time(time(16, 30), (k * 7) % 90),
        "bed": _clock_time(time(19, 30), (k * 9) % 120),
    }


def _entry(
    start: time,
    minutes: int,
    *tasks: TaskSpec,
    days: tuple[int, ...] = DAILY,
    time_critical: bool = False,
    double_handed: bool = False,
) -> ScheduleEntrySpec:
    return ScheduleEntrySpec(
        weekdays=days,
        start_time=start,
        duration_minutes=minutes,
        time_critical=time_critical,
        double_handed=double_handed,
        tasks=tasks,
    )


@dataclass(frozen=True)
class Archetype:
    key: str
    rag: str
    medication_support: MedicationSupport
    falls: bool = False
    safeguarding: bool = False
    lives_alone: bool = False
    gaps: tuple[InformationGap, ...] = ()
    note: str = ""

    def schedule(self, k: int) -> list[ScheduleEntrySpec]:
        s = _slots(k)
        offset = (k % 3) * 15
        if self.key == "prompt_light":
            return [
                _entry(s["morning"], 30, BREAKFAST, PROMPT_MEDS),
                _entry(s["tea"], 30, TEA, PROMPT_MEDS),
            ]
        if self.key == "personal_care":
            return [_entry(s["morning"], 45, PERSONAL_CARE, BREAKFAST), _entry(s["bed"], 30, BED)]
        if self.key == "four_calls_dementia":
            return [
                _entry(s["morning"], 45, PERSONAL_CARE, PROMPT_MEDS, ORIENTATION),
                _entry(s["lunch"], 30, LUNCH),
                _entry(s["tea"], 30, TEA, PROMPT_MEDS),
                _entry(s["bed"], 30, BED),
            ]
        if self.key == "lunch_only":
            return [_entry(s["lunch"], 30, LUNCH, WELFARE, days=WEEKDAYS)]
        if self.key == "assist_medication":
            return [
                _entry(s["morning"], 30, BREAKFAST, ASSIST_MEDS),
                _entry(s["tea"], 30, TEA, ASSIST_MEDS),
            ]
        if self.key == "administer_medication":
            return [
                _entry(s["morning"], 45, PERSONAL_CARE, ADMIN_MEDS),
                _entry(s["lunch"], 30, LUNCH, ADMIN_MEDS),
                _entry(s["bed"], 30, BED, ADMIN_MEDS, CREAMS),
            ]
        if self.key == "falls_living_alone":
            return [
                _entry(s["morning"], 45, PERSONAL_CARE, BREAKFAST, PROMPT_MEDS),
                _entry(s["lunch"], 30, LUNCH, WELFARE),
                _entry(s["tea"], 30, TEA, WELFARE),
            ]
        if self.key == "double_handed":
            return [
                _entry(s["morning"], 60, PERSONAL_CARE, HOIST_UP, double_handed=True),
                _entry(s["lunch"], 30, LUNCH, REPOSITION),
                _entry(s["bed"], 45, HOIST_DOWN, REPOSITION, double_handed=True),
            ]
        if self.key == "safeguarding":
            return [_entry(s["morning"], 30, PERSONAL_CARE, BREAKFAST), _entry(s["tea"], 30, TEA)]
        if self.key == "insulin_time_critical":
            return [
                _entry(_clock_time(time(7, 45), offset), 30, BREAKFAST, INSULIN_PROMPT,
                       time_critical=True),
                _entry(_clock_time(time(17, 0), offset), 30, TEA, INSULIN_PROMPT,
                       time_critical=True),
            ]  # fmt: skip
        if self.key == "parkinsons_time_critical":
            return [
                _entry(_clock_time(time(8, 0), offset), 45, PERSONAL_CARE, ADMIN_MEDS,
                       time_critical=True),
                _entry(_clock_time(time(12, 0), offset), 30, LUNCH, ADMIN_MEDS,
                       time_critical=True),
                _entry(_clock_time(time(16, 0), offset), 30, TEA, ADMIN_MEDS,
                       time_critical=True),
                _entry(_clock_time(time(20, 0), offset), 30, BED, ADMIN_MEDS,
                       time_critical=True),
            ]  # fmt: skip
        if self.key == "transfer_with_gaps":
            return [
                _entry(s["morning"], 45, PERSONAL_CARE, ASSIST_MEDS),
                _entry(s["tea"], 30, TEA, ASSIST_MEDS),
            ]
        if self.key == "falls_unassessed":
            return [_entry(s["morning"], 45, PERSONAL_CARE, BREAKFAST), _entry(s["bed"], 30, BED)]
        if self.key == "alone_no_access":
            return [
                _entry(s["morning"], 30, BREAKFAST, PROMPT_MEDS),
                _entry(s["tea"], 30, TEA),
            ]
        raise ValueError(f"no schedule for archetype {self.key}")


_MS = MedicationSupport
ARCHETYPES = {
    a.key: a
    for a in (
        Archetype("prompt_light", "green", _MS.PROMPT),
        Archetype("personal_care", "green", _MS.NONE),
        Archetype("four_calls_dementia", "green", _MS.PROMPT),
        Archetype("lunch_only", "green", _MS.NONE, lives_alone=True),
        Archetype("assist_medication", "amber", _MS.ASSIST),
        Archetype("administer_medication", "amber", _MS.ADMINISTER),
        Archetype("falls_living_alone", "amber", _MS.PROMPT, falls=True, lives_alone=True),
        Archetype("double_handed", "amber", _MS.NONE),
        Archetype("safeguarding", "amber", _MS.NONE, safeguarding=True),
        Archetype("insulin_time_critical", "amber", _MS.PROMPT),
        Archetype("parkinsons_time_critical", "red", _MS.ADMINISTER),
        Archetype(
            "transfer_with_gaps",
            "red",
            _MS.ASSIST,
            gaps=(InformationGap.MEDICATION_RECORD, InformationGap.VISIT_TIMES),
        ),
        Archetype(
            "falls_unassessed", "red", _MS.NONE, falls=True, gaps=(InformationGap.RISK_ASSESSMENT,)
        ),
        Archetype(
            "alone_no_access",
            "red",
            _MS.PROMPT,
            lives_alone=True,
            gaps=(InformationGap.ACCESS_DETAILS,),
        ),
    )
}


@dataclass(frozen=True)
class PackagePlan:
    """One of the 40 packages: its archetype and how far it has got."""

    archetype: str
    transferred: bool = False
    # Validated after a verification call: the red hold is released and it goes live.
    release_hold: bool = False
    # A new package starting next week: accepted, scheduled, not yet planned.
    starting_next_week: bool = False


PACKAGE_PLANS: tuple[PackagePlan, ...] = (
    # Green (20): 6 of them transferred cleanly from Hillside.
    *(PackagePlan("prompt_light", transferred=i < 2) for i in range(6)),
    *(PackagePlan("personal_care", transferred=i < 2) for i in range(6)),
    *(PackagePlan("four_calls_dementia", transferred=i < 1) for i in range(4)),
    *(PackagePlan("lunch_only", starting_next_week=i >= 2) for i in range(4)),
    # Amber (13)
    *(PackagePlan("assist_medication", transferred=i < 1) for i in range(3)),
    *(PackagePlan("administer_medication") for _ in range(3)),
    *(PackagePlan("falls_living_alone") for _ in range(2)),
    *(PackagePlan("double_handed", transferred=i < 1) for i in range(2)),
    PackagePlan("safeguarding"),
    *(PackagePlan("insulin_time_critical") for _ in range(2)),
    # Red (7): two validated and released, five held out of rota conversion.
    PackagePlan("parkinsons_time_critical", release_hold=True),
    PackagePlan("parkinsons_time_critical", release_hold=True),
    PackagePlan("parkinsons_time_critical", transferred=True),
    *(PackagePlan("transfer_with_gaps", transferred=True) for _ in range(2)),
    PackagePlan("falls_unassessed"),
    PackagePlan("alone_no_access"),
)

RELEASE_REASON = (
    "Same-week verification call with the person's daughter and the GP practice: Parkinson's "
    "medication times confirmed against the MAR; only medication-revalidated carers rostered"
)


# ---------------------------------------------------------------------------------------------
# People: invented names and Northvale addresses

GIVEN_NAMES = (
    "Margaret", "Arthur", "Joan", "Harold", "Irene", "Dennis", "Patricia", "Kenneth", "Sheila",
    "Ronald", "Doreen", "Gordon", "Eileen", "Derek", "Maureen", "Brian", "Jean", "Colin",
    "Pauline", "Trevor", "Valerie", "Malcolm", "Barbara", "Stanley", "Audrey", "Leonard",
    "Gwendolyn", "Clifford", "Beryl", "Norman", "Hilda", "Raymond", "Edna", "Geoffrey", "Winifred",
    "Roy", "Marjorie", "Desmond", "Olive", "Cyril",
)  # fmt: skip
FAMILY_NAMES = (
    "Ashworth", "Blenkinsop", "Cartwright", "Dunmore", "Eastwood", "Fothergill", "Greenhalgh",
    "Hebblethwaite", "Illingworth", "Jowett", "Kershaw", "Lumb", "Mossop", "Nettleton",
    "Oldroyd", "Pickersgill", "Quarmby", "Rushworth", "Sutcliffe", "Thackray", "Uttley",
    "Varley", "Wadsworth", "Yeadon", "Armitage", "Brearley", "Crabtree", "Drabble", "Entwistle",
    "Firth", "Gaukroger", "Holroyd", "Ingham", "Jagger", "Kitching", "Lockwood", "Midgley",
    "Naylor", "Oddy", "Priestley",
)  # fmt: skip
PREFERRED_NAMES = {"Margaret": "Peggy", "Patricia": "Pat", "Winifred": "Winnie", "Leonard": "Len"}
STREETS = (
    "Mill Lane", "Church Street", "Beck Side", "Victoria Road", "Canal Walk", "Moor View",
    "Station Road", "Weavers Court", "Ravensknowle Road", "Oak Avenue", "Hollin Lane",
    "Chapel Fold", "Riverside Terrace", "Low Green", "Bank Top", "Fern Bank Close",
)  # fmt: skip
RELATIONSHIPS = ("daughter", "son", "niece", "husband", "wife", "neighbour", "friend", "nephew")
CONTACT_NAMES = (
    "Susan", "Michael", "Karen", "David", "Julie", "Paul", "Helen", "Mark", "Tracey", "Andrew",
)  # fmt: skip
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


# ---------------------------------------------------------------------------------------------
# Loading


async def load_demo(
    sessions: SessionFactory, clock: Clock, settings: Settings | None = None
) -> dict[str, int]:
    """Load (or complete) the demo dataset; returns how many of each thing exist.

    `settings` gives the key that seals access details and key-safe codes; without it the demo
    people are loaded without them.
    """
    sealer = sealer_for(settings) if settings is not None else None
    async with unit_of_work(sessions) as session:
        for organisation in DEMO_ORGANISATIONS:
            await organisations.ensure(
                session,
                organisation_id=_organisation_id(organisation.key),
                kind=organisation.kind,
                name=organisation.name,
                ods_code=organisation.ods_code,
                actor=DEMO_ACTOR,
                clock=clock,
            )
        contract = await _demo_contract(session)
        if contract is None:
            contract = await _DemoBuilder(session, clock, sealer).build()
        await _rota_for_the_week(session, clock, contract)
        return await _counts(session, contract)


async def _demo_contract(session: AsyncSession) -> Contract | None:
    result = await session.scalars(
        select(Contract).where(Contract.reference == DEMO_CONTRACT_REFERENCE)
    )
    return result.one_or_none()


class _DemoBuilder:
    """Creates everything but the organisations, once, in the caller's unit of work."""

    def __init__(self, session: AsyncSession, clock: Clock, sealer: Sealer | None) -> None:
        self.session = session
        self.clock = clock
        self.sealer = sealer
        self.scope = AccessScope.system()
        self.today = contracts.today(clock)
        # Seeded, so every load makes the same people (S311: synthetic data, not security).
        self.rng = random.Random(20261123)  # noqa: S311
        self.provider_id = _organisation_id("provider")
        self.incumbent_id = _organisation_id("incumbent")
        # The provider's office registers the people, so it sees them before any package does.
        self.office = AccessScope(Role.COORDINATOR, self.provider_id, None)
        self._nhs_numbers = self._nhs_number_sequence()

    async def build(self) -> Contract:
        contract = await self._contract()
        await self._staff()
        await self._packages(contract)
        await self._referrals(contract)
        await self._change_request(contract)
        return contract

    # --- contract ------------------------------------------------------------------------

    async def _contract(self) -> Contract:
        # Mobilised three weeks ago; the contract began a fortnight before, for three years.
        starts_on = self.today - timedelta(days=35)
        contract = await contracts.create_contract(
            self.session,
            self.scope,
            reference=DEMO_CONTRACT_REFERENCE,
            name=DEMO_CONTRACT_NAME,
            commissioner_id=_organisation_id("council"),
            provider_id=self.provider_id,
            service_type=ServiceType.HOMECARE,
            starts_on=starts_on,
            ends_on=starts_on + timedelta(days=3 * 365),
            tolerances=DEMO_TOLERANCES,
            actor=DEMO_ACTOR,
            clock=self.clock,
        )
        for outcome in DEMO_OUTCOMES:
            await contracts.define_resolution_outcome(
                self.session, self.scope, contract.id, outcome, actor=DEMO_ACTOR, clock=self.clock
            )
        for kpi in DEMO_KPIS:
            await contracts.define_kpi(
                self.session, self.scope, contract.id, kpi, actor=DEMO_ACTOR, clock=self.clock
            )
        return contract

    # --- staff ---------------------------------------------------------------------------

    async def _staff(self) -> None:
        for member in (*DEMO_CARERS, *DEMO_OFFICE):
            transferred_on = (
                self.today + timedelta(days=member.tupe_offset_days)
                if member.tupe_offset_days is not None
                else None
            )
            row = await staff.register_staff(
                self.session,
                self.scope,
                organisation_id=self.provider_id,
                given_name=member.given_name,
                family_name=member.family_name,
                role=member.role,
                tupe_origin_id=self.incumbent_id if transferred_on else None,
                tupe_transferred_on=transferred_on,
                external_source=DEMO_STAFF_SOURCE,
                external_id=member.external_id,
                actor=DEMO_ACTOR,
                clock=self.clock,
            )
            for index, (code, standing) in enumerate(member.competencies.items()):
                assessed_on, expires_on = _competency_dates(
                    standing, self.today, member.number * 7 + index
                )
                restricted = standing == "X"
                await staff.record_competency_evidence(
                    self.session,
                    self.scope,
                    staff_id=row.id,
                    competence=code,
                    status=_STANDING[standing],
                    expires_on=expires_on,
                    evidence_reference=(
                        f"{member.external_id}/{code}: "
                        + (
                            "supervised practice only until observed competence check"
                            if restricted
                            else _EVIDENCE[code]
                        )
                    ),
                    assessed_by="Amara Okafor (senior carer)"
                    if member.number != 1
                    else "Stephen Adeyemi (registered manager)",
                    assessed_on=assessed_on,
                    actor=DEMO_ACTOR,
                    clock=self.clock,
                )

    # --- people and packages -------------------------------------------------------------

    def _nhs_number_sequence(self) -> list[str]:
        """Test-range numbers (999…) that pass the modulus-11 check, in a fixed order."""
        numbers: list[str] = []
        candidate = 4_101_237
        while len(numbers) < 60:
            candidate = (candidate * 48_271) % 999_983
            first_nine = f"999{candidate % 1_000_000:06d}"
            check = nhs_number_check_digit(first_nine)
            number = f"{first_nine}{check}"
            if check is None or number in numbers or len(set(number)) == 1:
                continue
            numbers.append(number)
        return numbers

    def _address(self, k: int) -> people.Address:
        rng = self.rng
        lat_centre, lon_centre = NORTHVALE_CENTRE
        return people.Address(
            line_1=f"{rng.randint(1, 120)} {STREETS[k % len(STREETS)]}",
            town="Northvale",
            postcode=(
                f"NV{1 + k % 4} {rng.randint(1, 9)}"
                f"{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
            ),
            latitude=round(lat_centre + rng.uniform(-0.025, 0.025), 5),
            longitude=round(lon_centre + rng.uniform(-0.04, 0.04), 5),
        )

    def _details(self, k: int, archetype: Archetype) -> people.PersonDetails:
        rng = self.rng
        given = GIVEN_NAMES[k]
        family = FAMILY_NAMES[(k * 17) % len(FAMILY_NAMES)]
        born = date(1929 + rng.randint(0, 29), rng.randint(1, 12), rng.randint(1, 28))
        contact_name = f"{CONTACT_NAMES[k % len(CONTACT_NAMES)]} {family}"
        relationship = RELATIONSHIPS[k % len(RELATIONSHIPS)]
        contacts = [
            people.Contact(
                name=contact_name,
                relationship=relationship,
                phone=f"07700 900{(k * 37) % 1000:03d}",
                next_of_kin=relationship not in ("neighbour", "friend"),
                key_holder=k % 3 == 0,
            )
        ]
        risks = people.RiskFlags(
            falls=archetype.falls,
            safeguarding=archetype.safeguarding,
            dnar=k % 9 == 4,
            escalation_preferences=(
                f"Call {relationship} first, then 111; 999 for chest pain or a fall with injury"
                if k % 4 == 1
                else None
            ),
            lone_working=archetype.safeguarding,
            environmental=(
                "Dog in the house: ask for it to be shut in the kitchen"
                if k % 7 == 3
                else "Steep steps to the front door; use the side entrance in ice"
                if k % 7 == 5
                else None
            ),
            lives_alone=archetype.lives_alone or k % 3 == 1,
        )
        return people.PersonDetails(
            given_name=given,
            family_name=family,
            preferred_name=PREFERRED_NAMES.get(given),
            date_of_birth=born,
            address=self._address(k),
            contacts=contacts,
            risks=risks,
            medication_support=archetype.medication_support,
        )

    async def _packages(self, contract: Contract) -> None:
        order = list(PACKAGE_PLANS)
        self.rng.shuffle(order)
        transfer_date = self.today - timedelta(days=21)
        for k, plan in enumerate(order):
            archetype = ARCHETYPES[plan.archetype]
            details = self._details(k, archetype)
            # Access details are the gap of some packages; the others have them recorded.
            has_access = (
                InformationGap.ACCESS_DETAILS not in archetype.gaps
                and self.sealer is not None
                and (details.risks.lives_alone or k % 2 == 0)
            )
            registration = await people.register_person(
                self.session,
                self.office,
                details=details,
                nhs_number=self._nhs_numbers[k],
                actor=DEMO_ACTOR,
                clock=self.clock,
                access_details=(
                    "Key safe to the left of the front door; knock and call out on entering"
                    if has_access
                    else None
                ),
                key_safe_code=f"{(k * 7919) % 10000:04d}" if has_access else None,
                sealer=self.sealer,
            )
            person = registration.person
            assert person is not None  # demo numbers are fresh: nothing is held
            if plan.starting_next_week:
                starts_on = self.today + timedelta(days=7)
            elif plan.transferred:
                starts_on = transfer_date
            else:
                starts_on = max(contract.starts_on, self.today - timedelta(days=3 + (k * 5) % 30))
            package = await packages.create_package(
                self.session,
                scope=self.scope,
                actor=DEMO_ACTOR,
                clock=self.clock,
                person_id=person.id,
                contract_id=contract.id,
                starts_on=starts_on,
                reference=f"NV-PKG-{k + 1:04d}",
            )
            await packages.set_schedule(
                self.session,
                scope=self.scope,
                actor=DEMO_ACTOR,
                clock=self.clock,
                package_id=package.id,
                entries=archetype.schedule(k),
            )
            await self._move(package, PackageStatus.ACCEPTED)
            if plan.transferred:
                await packages.record_transfer(
                    self.session,
                    scope=self.scope,
                    actor=DEMO_ACTOR,
                    clock=self.clock,
                    package_id=package.id,
                    incumbent_provider_id=self.incumbent_id,
                    transferred_on=transfer_date,
                    note=(
                        "Transferred at mobilisation with the Hillside care plan"
                        + (
                            "; MAR and actual visit times not received"
                            if archetype.gaps
                            else " and MAR"
                        )
                    ),
                )
            await packages.triage(
                self.session,
                scope=self.scope,
                actor=DEMO_ACTOR,
                clock=self.clock,
                package_id=package.id,
                information_gaps=archetype.gaps,
            )
            if plan.starting_next_week:
                continue
            await self._move(package, PackageStatus.PLANNED)
            if plan.release_hold:
                await packages.release_hold(
                    self.session,
                    scope=self.scope,
                    actor=DEMO_ACTOR,
                    clock=self.clock,
                    package_id=package.id,
                    reason=RELEASE_REASON,
                )
            if not package.held_out_of_rota:
                await self._move(package, PackageStatus.LIVE)

    async def _move(self, package: CarePackage, target: PackageStatus) -> None:
        await packages.change_status(
            self.session,
            scope=self.scope,
            actor=DEMO_ACTOR,
            clock=self.clock,
            package_id=package.id,
            target=target,
        )

    # --- referrals and change control ----------------------------------------------------

    async def _referrals(self, contract: Contract) -> None:
        numbers = self._nhs_numbers[len(PACKAGE_PLANS) :]
        gp_referral = {
            "nhsNumber": numbers[0],
            "givenName": "Ivy",
            "familyName": "Ackroyd",
            "dateOfBirth": "1938-02-14",
            "addressLine1": "7 Weavers Court",
            "postcode": "NV2 4HT",
            "contactTelephone": "07700 900811",
            "reasonForReferral": (
                "Increasing difficulty with personal care and meals after a fall at home; "
                "morning and tea-time support requested"
            ),
            "consentToReferral": True,
            "referrerName": "Dr A. Mistry",
            "referrerContact": "01632 960123",
            "knownRisks": "Falls (one in the last month); lives alone",
            "nextOfKin": "Ann Ackroyd (daughter) 07700 900812",
        }
        discharge = {
            "nhsNumber": numbers[1],
            "givenName": "Walter",
            "familyName": "Haigh",
            "dateOfBirth": "1944-09-30",
            "addressLine1": "22 Canal Walk",
            "postcode": "NV3 2BW",
            "contactTelephone": "07700 900833",
            "reasonForReferral": (
                "Discharge after hip replacement: double-handed transfers for two weeks, then "
                "review for reablement"
            ),
            "consentToReferral": True,
            "referrerName": "Discharge coordinator, Ward 12",
            "referrerContact": "01632 960456",
            "registeredGpPractice": "Y99901",
            "knownRisks": "Post-operative falls risk; hoist and stand aid at home",
            "dischargeDate": (self.today + timedelta(days=2)).isoformat(),
            "dischargeWard": "Ward 12 (orthopaedics)",
        }
        incomplete = {
            "nhsNumber": numbers[2],
            "givenName": "Lilian",
            "familyName": "Stott",
            "dateOfBirth": "1935-06-03",
            "addressLine1": "3 Chapel Fold",
            "postcode": "NV1 6QP",
            "reasonForReferral": "Discharge home with medication support; family abroad",
            "consentToReferral": True,
            "referrerName": "Discharge coordinator, Ward 7",
            "referrerContact": "01632 960789",
            "registeredGpPractice": "Y99901",
            "dischargeDate": (self.today + timedelta(days=1)).isoformat(),
        }
        received = []
        for number, (source, referrer, dataset) in enumerate(
            (
                (ReferralSource.GP, "gp", gp_referral),
                (ReferralSource.HOSPITAL_DISCHARGE, "hospital", discharge),
                (ReferralSource.HOSPITAL_DISCHARGE, "hospital", incomplete),
            ),
            start=1,
        ):
            receipt = await referrals.receive_referral(
                self.session,
                scope=self.scope,
                actor=DEMO_ACTOR,
                clock=self.clock,
                source=source,
                provider_id=self.provider_id,
                referrer_organisation_id=_organisation_id(referrer),
                contract_id=contract.id,
                source_system=DEMO_REFERRAL_SYSTEM,
                source_identifier=f"{referrer.upper()}-{number:04d}",
                minimum_dataset=dataset,
            )
            received.append(receipt.referral)
        gp, hospital, _ = received
        await referrals.triage_referral(
            self.session,
            scope=self.scope,
            actor=DEMO_ACTOR,
            clock=self.clock,
            referral_id=gp.id,
            risk_tier=RiskTier.MEDIUM,
            note="Recent fall, lives alone: interim telephone check-in every other day",
        )
        await referrals.decide_referral(
            self.session,
            scope=self.scope,
            actor=DEMO_ACTOR,
            clock=self.clock,
            referral_id=gp.id,
            decision=referrals.ReferralDecision.ACCEPT,
            reason="Within the core zone; morning and tea-time capacity on the Beck Side run",
        )
        await referrals.triage_referral(
            self.session,
            scope=self.scope,
            actor=DEMO_ACTOR,
            clock=self.clock,
            referral_id=hospital.id,
            risk_tier=RiskTier.HIGH,
            note="Discharge in two days; double-handed: confirm equipment and hoist sling size",
        )

    async def _change_request(self, contract: Contract) -> None:
        change = await change_requests.propose(
            self.session,
            scope=self.scope,
            actor=DEMO_ACTOR,
            clock=self.clock,
            kind=ChangeRequestKind.SUPPLIER_SOFTWARE_UPDATE,
            title="CareRoster 5.2: new eMAR recording screen on carers' phones",
            description=(
                "The medication round moves to a single screen with mandatory PRN reasons and "
                "a photo of the blister pack. Changes how carers record every medication task."
            ),
            contract_id=contract.id,
            affected_workflows=("medication recording", "visit check-out"),
            raised_by_organisation_id=_organisation_id("supplier"),
        )
        await change_requests.assess(
            self.session,
            scope=self.scope,
            actor=DEMO_ACTOR,
            clock=self.clock,
            change_request_id=change.id,
            capacity_impact=(
                "About 3 extra minutes per medication call in the first fortnight; 30-minute "
                "briefing for 15 carers"
            ),
            risk_impact=(
                "Recording errors while carers learn the screen; mitigated by spot checks on "
                "medication calls"
            ),
            cost_impact_pence=45_000,
            assurance_plan="Spot checks on one medication call per carer a week for two weeks",
        )


# ---------------------------------------------------------------------------------------------
# The rota: a week of visits, carers assigned through the competency gate


@dataclass
class _RotaCarer:
    carer: Carer
    transferred_on: date | None
    busy: list[tuple[datetime, datetime]] = field(default_factory=list)
    minutes: dict[date, int] = field(default_factory=dict)

    def can_work_on(self, day: date) -> bool:
        return self.transferred_on is None or self.transferred_on <= day

    def free(self, start: datetime, end: datetime) -> bool:
        gap = timedelta(minutes=TRAVEL_MINUTES)
        return all(
            end + gap <= taken_start or start >= taken_end + gap
            for taken_start, taken_end in self.busy
        )

    def book(self, start: datetime, end: datetime, day: date) -> None:
        self.busy.append((start, end))
        self.minutes[day] = self.minutes.get(day, 0) + int((end - start).total_seconds() // 60)


async def _rota_for_the_week(session: AsyncSession, clock: Clock, contract: Contract) -> None:
    """Generate today..today+6 for every live package not held, and staff what was created."""
    scope = AccessScope.system()
    today = contracts.today(clock)
    last = today + timedelta(days=WEEK_DAYS - 1)
    live = await session.scalars(
        select(CarePackage.id)
        .where(
            CarePackage.contract_id == contract.id,
            CarePackage.status == PackageStatus.LIVE,
            CarePackage.held_out_of_rota.is_(False),
        )
        .order_by(CarePackage.reference)
    )
    created: list[Visit] = []
    for package_id in live.all():
        result = await visits.generate_visits(
            session,
            scope=scope,
            actor=DEMO_ACTOR,
            clock=clock,
            package_id=package_id,
            date_from=today,
            date_to=last,
        )
        created.extend(record.visit for record in result.created)
    if not created:
        return
    rota = await _carers(session, contract, today, last)
    created.sort(key=lambda visit: (visit.planned_start, not visit.time_critical, visit.id))
    for visit in created:
        chosen = _choose_carers(visit, rota)
        if not chosen:
            continue  # nobody eligible and free: left for the coordinator, as in real life
        await visits.assign_carers(
            session,
            scope=scope,
            actor=DEMO_ACTOR,
            clock=clock,
            visit_id=visit.id,
            staff_ids=[member.carer.staff_id for member in chosen],
        )


async def _carers(
    session: AsyncSession, contract: Contract, first: date, last: date
) -> list[_RotaCarer]:
    """The provider's active carers with their competencies and what they already work."""
    members = (
        await session.scalars(
            select(StaffMember)
            .where(
                StaffMember.organisation_id == contract.provider_id,
                StaffMember.active.is_(True),
                StaffMember.role.in_(CARER_ROLES),
            )
            .order_by(StaffMember.external_id, StaffMember.id)
        )
    ).all()
    ids = [member.id for member in members]
    records: dict[uuid.UUID, list[Competency]] = {staff_id: [] for staff_id in ids}
    for row in await session.scalars(select(Competency).where(Competency.staff_id.in_(ids))):
        records[row.staff_id].append(row)
    rota = {
        member.id: _RotaCarer(
            carer=Carer(
                staff_id=member.id,
                display_name=staff.display_name(member),
                competencies=tuple(staff.competency_record(row) for row in records[member.id]),
            ),
            transferred_on=member.tupe_transferred_on,
        )
        for member in members
    }
    window_start = datetime.combine(first, time(0, 0), tzinfo=LONDON)
    window_end = datetime.combine(last + timedelta(days=1), time(0, 0), tzinfo=LONDON)
    booked = await session.execute(
        select(VisitAssignment.staff_id, Visit.planned_start, Visit.planned_end)
        .join(Visit, Visit.id == VisitAssignment.visit_id)
        .where(
            VisitAssignment.staff_id.in_(ids),
            Visit.planned_start >= window_start,
            Visit.planned_start < window_end,
            Visit.cancelled_at.is_(None),
        )
    )
    for staff_id, start, end in booked.all():
        rota[staff_id].book(start, end, start.astimezone(LONDON).date())
    return list(rota.values())


def _choose_carers(visit: Visit, rota: Sequence[_RotaCarer]) -> list[_RotaCarer]:
    """The carers for a visit: competent for every task on the day (the same gate
    `assign_carers` applies), not already booked then, the least-worked that day first."""
    requirements = visits.requirements_of(visit)
    day = requirements.visit_date
    alone = VisitRequirements(visit_date=day, double_handed=False, tasks=requirements.tasks)
    eligible = [
        member
        for member in rota
        if member.can_work_on(day)
        and member.free(visit.planned_start, visit.planned_end)
        and check_assignment(alone, [member.carer]).ok
    ]
    eligible.sort(key=lambda member: member.minutes.get(day, 0))
    chosen = eligible[: requirements.carers_needed]
    if len(chosen) < requirements.carers_needed:
        return []
    for member in chosen:
        member.book(visit.planned_start, visit.planned_end, day)
    return chosen


# ---------------------------------------------------------------------------------------------


async def _count(session: AsyncSession, query: Select[int]) -> int:
    return (await session.scalar(query)) or 0


async def _counts(session: AsyncSession, contract: Contract) -> dict[str, int]:
    package_ids = select(CarePackage.id).where(CarePackage.contract_id == contract.id)
    visit_ids = select(Visit.id).where(Visit.package_id.in_(package_ids))
    carers = select(func.count()).where(
        StaffMember.organisation_id == contract.provider_id, StaffMember.role.in_(CARER_ROLES)
    )
    return {
        "organisations": len(DEMO_ORGANISATIONS),
        "contracts": 1,
        "carers": await _count(session, carers),
        "people": await _count(
            session,
            select(func.count(distinct(CarePackage.person_id))).where(
                CarePackage.contract_id == contract.id
            ),
        ),
        "packages": await _count(
            session, select(func.count()).where(CarePackage.contract_id == contract.id)
        ),
        "visits": await _count(session, select(func.count()).where(Visit.id.in_(visit_ids))),
        "assignments": await _count(
            session, select(func.count()).where(VisitAssignment.visit_id.in_(visit_ids))
        ),
        "referrals": await _count(
            session, select(func.count()).where(Referral.source_system == DEMO_REFERRAL_SYSTEM)
        ),
        "change_requests": await _count(
            session, select(func.count()).where(ChangeRequest.contract_id == contract.id)
        ),
    }
