"""Mobilisation triage: a RAG rating for each care package, with the reasons that produced it.

Seed 001 (example 1) triages packages transferring to a provider into Red/Amber/Green "based on
time-critical visits, medication support, falls risk and safeguarding history", gives Red cases a
same-week verification call, and holds them out of bulk rota conversion until visit times and
staffing needs are confirmed. These rules make that triage repeatable and explainable: every
rating comes with the list of rules that fired, each a stable code and a sentence for the triage
log.

The rules, read top to bottom (`TRIAGE_RULES` is the executable copy of this table):

RED — a gap or a late call could harm the person before anyone notices; held out of rota
conversion until validated:

    TIME_CRITICAL_MEDICATION_ADMINISTRATION  time-critical visits and medication administered
    MEDICATION_WITHOUT_RECORD                medication assisted/administered, MAR missing
    TIME_CRITICAL_TIMES_UNCONFIRMED          time-critical visits, actual visit times missing
    FALLS_RISK_UNASSESSED                    falls risk, risk assessment missing
    DOUBLE_HANDED_WITHOUT_HANDLING_PLAN      double-handed visits, moving and handling plan missing
    LIVES_ALONE_WITHOUT_ACCESS_DETAILS       lives alone, access details missing
    SAFEGUARDING_WITH_INFORMATION_GAPS       safeguarding history and any information gap
    TRANSFER_WITH_INFORMATION_GAPS           transferred from an incumbent with any information gap

AMBER — a known risk that needs a named control in the rota, but not a hold:

    TIME_CRITICAL_VISITS, MEDICATION_ASSIST_OR_ADMINISTER, FALLS_RISK, FALLS_RISK_LIVING_ALONE,
    SAFEGUARDING_HISTORY, DOUBLE_HANDED, INFORMATION_GAPS

GREEN — none of the above (reason NO_RISK_FACTORS, so the log says why it is green).

Why these lines:

- Medication *prompting* alone is green: the person takes their own medicines. Assisting or
  administering needs a carer whose medication competence is evidenced or revalidated (seed 001,
  example 2), so it is amber; administering at a time-critical call (insulin, Parkinson's
  medicines) is red, because a late call is a late dose.
- A missing item is red where it removes the control for the very risk the package carries (no
  MAR for administered medicines, no risk assessment for a falls risk); otherwise any gap is
  amber. Seed 001: "do not fill the gap with assumptions — record it, set an interim control,
  escalate".
- A transferred package with any gap is red: care continues from the transfer date, so unlike a
  new referral there is no pre-start window in which the referrer can fill the gap — this is the
  "mobilisation data gap" exception of DESIGN.md §5. Transfer with complete information adds no
  risk by itself, so a clean transfer can still be green.
- Safeguarding history is amber on its own, red with any gap: the information we lack may be the
  information that protects the person.
- Living alone matters where nobody else would notice a failure: no access details means a failed
  access is a missed call (red); a falls risk means a fall between calls may lie undetected
  (amber, with interim welfare calls as in seed 001).

Every rule is evaluated and every one that fires is reported, red first, so the triage log shows
the amber work still to do on a red package; `deciding_reasons` are those at the rating's level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from hub.errors import InvalidInput
from hub.people.vocabulary import MedicationSupport


class Rag(StrEnum):
    """Red / Amber / Green, the triage rating used in mobilisation logs and dashboards."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"


_SEVERITY = {Rag.GREEN: 0, Rag.AMBER: 1, Rag.RED: 2}


class InformationGap(StrEnum):
    """Key information missing from a referral or an incumbent's records (seed 001's list)."""

    RISK_ASSESSMENT = "risk_assessment"
    MEDICATION_RECORD = "medication_record"
    ACCESS_DETAILS = "access_details"
    VISIT_TIMES = "visit_times"
    MOVING_AND_HANDLING_PLAN = "moving_and_handling_plan"
    EMERGENCY_CONTACTS = "emergency_contacts"
    ESCALATION_PLAN = "escalation_plan"


INFORMATION_GAP_LABELS: Mapping[InformationGap, str] = MappingProxyType(
    {
        InformationGap.RISK_ASSESSMENT: "risk assessment",
        InformationGap.MEDICATION_RECORD: "medication administration record (MAR)",
        InformationGap.ACCESS_DETAILS: "access details (address, key safe)",
        InformationGap.VISIT_TIMES: "actual visit times",
        InformationGap.MOVING_AND_HANDLING_PLAN: "moving and handling plan",
        InformationGap.EMERGENCY_CONTACTS: "primary and emergency contacts",
        InformationGap.ESCALATION_PLAN: "escalation preferences and DNAR status",
    }
)


@dataclass(frozen=True, slots=True)
class TriageInput:
    """What triage looks at for one package; counts are per week of the planned schedule."""

    time_critical_visits_per_week: int = 0
    medication_support: MedicationSupport = MedicationSupport.NONE
    falls_risk: bool = False
    safeguarding_history: bool = False
    double_handed_visits_per_week: int = 0
    lives_alone: bool = False
    information_gaps: frozenset[InformationGap] = frozenset()
    transferred_from_incumbent: bool = False

    def __post_init__(self) -> None:
        for name, value in (
            ("timeCriticalVisitsPerWeek", self.time_critical_visits_per_week),
            ("doubleHandedVisitsPerWeek", self.double_handed_visits_per_week),
        ):
            if value < 0:
                raise InvalidInput(name, "must not be negative", code="NEGATIVE_COUNT")

    def missing(self, *gaps: InformationGap) -> bool:
        """Whether any of `gaps` is recorded as missing."""
        return any(gap in self.information_gaps for gap in gaps)

    @property
    def medication_handled_by_carers(self) -> bool:
        """Carers assist with or administer medicines (prompting leaves them with the person)."""
        return self.medication_support in (MedicationSupport.ASSIST, MedicationSupport.ADMINISTER)

    @property
    def gap_labels(self) -> str:
        """The missing items in a stable order (the enum's), for reason sentences."""
        return ", ".join(
            INFORMATION_GAP_LABELS[gap] for gap in InformationGap if gap in self.information_gaps
        )


@dataclass(frozen=True, slots=True)
class TriageReason:
    """One rule that fired: a stable `code`, the rating it demands, and a sentence for the log."""

    code: str
    rating: Rag
    sentence: str


@dataclass(frozen=True, slots=True)
class TriageRule:
    """A row of the triage table: when it `applies`, the rating it demands and how it `explains`."""

    code: str
    rating: Rag
    applies: Callable[[TriageInput], bool]
    explains: Callable[[TriageInput], str]


def _visits_are(count: int) -> str:
    return "1 visit a week is" if count == 1 else f"{count} visits a week are"


def _carers_handle_medication(p: TriageInput) -> str:
    if p.medication_support is MedicationSupport.ADMINISTER:
        return "carers administer medication"
    return "carers assist with medication"


TRIAGE_RULES: tuple[TriageRule, ...] = (
    # RED: held out of rota conversion until validated.
    TriageRule(
        "TIME_CRITICAL_MEDICATION_ADMINISTRATION",
        Rag.RED,
        lambda p: (
            p.time_critical_visits_per_week > 0
            and p.medication_support is MedicationSupport.ADMINISTER
        ),
        lambda p: (
            f"carers administer medication and {_visits_are(p.time_critical_visits_per_week)} "
            "time-critical: a late call is a late dose"
        ),
    ),
    TriageRule(
        "MEDICATION_WITHOUT_RECORD",
        Rag.RED,
        lambda p: p.medication_handled_by_carers and p.missing(InformationGap.MEDICATION_RECORD),
        lambda p: (
            f"{_carers_handle_medication(p)} but the medication administration record (MAR) "
            "is missing"
        ),
    ),
    TriageRule(
        "TIME_CRITICAL_TIMES_UNCONFIRMED",
        Rag.RED,
        lambda p: p.time_critical_visits_per_week > 0 and p.missing(InformationGap.VISIT_TIMES),
        lambda p: (
            f"{_visits_are(p.time_critical_visits_per_week)} time-critical but the actual visit "
            "times are not confirmed"
        ),
    ),
    TriageRule(
        "FALLS_RISK_UNASSESSED",
        Rag.RED,
        lambda p: p.falls_risk and p.missing(InformationGap.RISK_ASSESSMENT),
        lambda p: "the person is at risk of falls and there is no risk assessment",
    ),
    TriageRule(
        "DOUBLE_HANDED_WITHOUT_HANDLING_PLAN",
        Rag.RED,
        lambda p: (
            p.double_handed_visits_per_week > 0
            and p.missing(InformationGap.MOVING_AND_HANDLING_PLAN)
        ),
        lambda p: (
            f"{_visits_are(p.double_handed_visits_per_week)} double-handed but there is no "
            "moving and handling plan to confirm the staffing and equipment needed"
        ),
    ),
    TriageRule(
        "LIVES_ALONE_WITHOUT_ACCESS_DETAILS",
        Rag.RED,
        lambda p: p.lives_alone and p.missing(InformationGap.ACCESS_DETAILS),
        lambda p: (
            "the person lives alone and access details are missing: a failed access is a "
            "missed call nobody else would notice"
        ),
    ),
    TriageRule(
        "SAFEGUARDING_WITH_INFORMATION_GAPS",
        Rag.RED,
        lambda p: p.safeguarding_history and bool(p.information_gaps),
        lambda p: f"there is a safeguarding history and key information is missing: {p.gap_labels}",
    ),
    TriageRule(
        "TRANSFER_WITH_INFORMATION_GAPS",
        Rag.RED,
        lambda p: p.transferred_from_incumbent and bool(p.information_gaps),
        lambda p: (
            "transferred from the incumbent with key information missing "
            f"({p.gap_labels}): care continues from the transfer date, so the gap needs an "
            "interim control and escalation now"
        ),
    ),
    # AMBER: a known risk with a named control in the rota.
    TriageRule(
        "TIME_CRITICAL_VISITS",
        Rag.AMBER,
        lambda p: p.time_critical_visits_per_week > 0,
        lambda p: (
            f"{_visits_are(p.time_critical_visits_per_week)} time-critical and must have "
            "protected slots in the rota"
        ),
    ),
    TriageRule(
        "MEDICATION_ASSIST_OR_ADMINISTER",
        Rag.AMBER,
        lambda p: p.medication_handled_by_carers,
        lambda p: (
            f"{_carers_handle_medication(p)}: only carers with medication competence "
            "evidenced or revalidated may be assigned"
        ),
    ),
    TriageRule(
        "FALLS_RISK",
        Rag.AMBER,
        lambda p: p.falls_risk,
        lambda p: "the person is at risk of falls",
    ),
    TriageRule(
        "FALLS_RISK_LIVING_ALONE",
        Rag.AMBER,
        lambda p: p.falls_risk and p.lives_alone,
        lambda p: (
            "the person lives alone with a falls risk: a fall between calls may go unnoticed, "
            "so consider interim welfare calls and check sensor equipment"
        ),
    ),
    TriageRule(
        "SAFEGUARDING_HISTORY",
        Rag.AMBER,
        lambda p: p.safeguarding_history,
        lambda p: "there is a safeguarding history",
    ),
    TriageRule(
        "DOUBLE_HANDED",
        Rag.AMBER,
        lambda p: p.double_handed_visits_per_week > 0,
        lambda p: (
            f"{_visits_are(p.double_handed_visits_per_week)} double-handed: confirm two carers "
            "are genuinely required"
        ),
    ),
    TriageRule(
        "INFORMATION_GAPS",
        Rag.AMBER,
        lambda p: bool(p.information_gaps),
        lambda p: f"key information is missing: {p.gap_labels}",
    ),
)
"""The triage table, in reporting order: red rules first, then amber."""

NO_RISK_FACTORS = TriageReason(
    "NO_RISK_FACTORS",
    Rag.GREEN,
    "no time-critical visits, carer-handled medication, falls risk, safeguarding history, "
    "double-handed visits or information gaps",
)


@dataclass(frozen=True, slots=True)
class TriageResult:
    """A rating and every reason that fired, red first; green carries NO_RISK_FACTORS."""

    rating: Rag
    reasons: tuple[TriageReason, ...]

    @property
    def held_out_of_rota_conversion(self) -> bool:
        """Red packages wait for validation before becoming rota runs (DESIGN.md §4)."""
        return self.rating is Rag.RED

    @property
    def deciding_reasons(self) -> tuple[TriageReason, ...]:
        """The reasons at the rating's own level: the ones that made it red, amber or green."""
        return tuple(reason for reason in self.reasons if reason.rating is self.rating)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons)


def triage_package(
    facts: TriageInput, rules: tuple[TriageRule, ...] = TRIAGE_RULES
) -> TriageResult:
    """Rate a package: the worst rating among the rules that fire, or green when none does."""
    fired = [
        TriageReason(rule.code, rule.rating, rule.explains(facts))
        for rule in rules
        if rule.applies(facts)
    ]
    if not fired:
        return TriageResult(Rag.GREEN, (NO_RISK_FACTORS,))
    # sorted() is stable, so reasons of one rating keep the table's order.
    fired.sort(key=lambda reason: -_SEVERITY[reason.rating])
    return TriageResult(fired[0].rating, tuple(fired))
