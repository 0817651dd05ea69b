"""Staff competencies and the rule that gates who may be assigned to a visit.

A competency is a carer's standing in one area of practice (medication, moving and handling, …)
with a status and an expiry date. Seed 001 (example 2, a TUPE transfer with incomplete training
records) sets the "no-assumption" rule this module enforces: a carer may do a task needing a
competence only where that competence is *evidenced* or *revalidated*. *Restricted* (under
supervision, or limited to some tasks) and *expired* are refused, and so is a competence with no
record at all — missing training evidence is a risk to control, not paperwork to finish later.

Time does the expiring: `effective_status` reads a record as expired from the day after its
expiry date whatever status is stored, so a lapsed competence stops gating assignments without
anyone updating it.

    AssignmentRefused(Conflict)   one or more carers may not be assigned; carries every refusal
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from hub.errors import Conflict, InvalidInput


class KnownCompetence(StrEnum):
    """Competences the hub knows by name (seed 001's TUPE compliance check).

    Competence codes are plain strings so a contract can add its own (e.g. `catheter_care`);
    these members are strings too and can be used wherever a code is expected.
    """

    SAFEGUARDING = "safeguarding"
    MEDICATION = "medication"
    MOVING_AND_HANDLING = "moving_and_handling"
    DEMENTIA = "dementia"
    MCA_DOLS = "mca_dols"
    INFECTION_PREVENTION = "infection_prevention"


COMPETENCE_LABELS: Mapping[str, str] = MappingProxyType(
    {
        KnownCompetence.SAFEGUARDING: "safeguarding",
        KnownCompetence.MEDICATION: "medication",
        KnownCompetence.MOVING_AND_HANDLING: "moving and handling",
        KnownCompetence.DEMENTIA: "dementia",
        KnownCompetence.MCA_DOLS: "MCA/DoLS awareness",
        KnownCompetence.INFECTION_PREVENTION: "infection prevention",
    }
)

# Lower snake case, so codes from different suppliers compare equal once mapped.
_COMPETENCE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


def validate_competence_code(code: str) -> str:
    """Accept a known or contract-specific competence code; refuse anything not snake_case."""
    if not _COMPETENCE_CODE.match(code):
        raise InvalidInput(
            "competence",
            f"{code!r} is not a competence code (lower case letters, digits and underscores, "
            "e.g. medication, moving_and_handling)",
            code="INVALID_COMPETENCE_CODE",
        )
    return code


def competence_label(code: str) -> str:
    """How a competence reads in a sentence: the known label, else the code with spaces."""
    return COMPETENCE_LABELS.get(code, code.replace("_", " "))


class CompetencyStatus(StrEnum):
    """A carer's standing in one competence (seed 001's medication mobilisation tracker)."""

    EVIDENCED = "evidenced"
    REVALIDATED = "revalidated"
    RESTRICTED = "restricted"
    EXPIRED = "expired"


ASSIGNABLE_STATUSES: frozenset[CompetencyStatus] = frozenset(
    {CompetencyStatus.EVIDENCED, CompetencyStatus.REVALIDATED}
)
"""The only statuses that let a carer do a task needing that competence."""


@dataclass(frozen=True, slots=True)
class CompetencyRecord:
    """One competence of one carer. `expires_on` is the last day the competence is valid.

    The expiry date is required: a competence with no expiry recorded is a data gap, and reading
    it as "never expires" would turn that gap into a permanent pass.
    """

    code: str
    status: CompetencyStatus
    expires_on: date

    def __post_init__(self) -> None:
        validate_competence_code(self.code)


def effective_status(record: CompetencyRecord, today: date) -> CompetencyStatus:
    """The status that counts on `today`: expired once past the expiry date, else as stored.

    On the expiry date itself the competence still holds; from the next day it is expired.
    """
    if today > record.expires_on:
        return CompetencyStatus.EXPIRED
    return record.status


@dataclass(frozen=True, slots=True)
class Carer:
    """A carer as assignment sees them: who, a name for messages, and their competencies."""

    staff_id: uuid.UUID
    display_name: str
    competencies: tuple[CompetencyRecord, ...] = ()

    def __post_init__(self) -> None:
        codes = [record.code for record in self.competencies]
        duplicated = sorted({code for code in codes if codes.count(code) > 1})
        if duplicated:
            # Two records for one competence would make the gate depend on which is read first.
            raise InvalidInput(
                "competencies",
                f"{self.display_name} has more than one record for {', '.join(duplicated)}",
                code="DUPLICATE_COMPETENCY",
            )

    def competency(self, code: str) -> CompetencyRecord | None:
        """The record for `code`, or None when the carer has none."""
        return next((record for record in self.competencies if record.code == code), None)


@dataclass(frozen=True, slots=True)
class TaskRequirement:
    """A planned task (e.g. "administer medication") and the competence it needs, if any."""

    description: str
    required_competence: str | None = None

    def __post_init__(self) -> None:
        if self.required_competence is not None:
            validate_competence_code(self.required_competence)


@dataclass(frozen=True, slots=True)
class VisitRequirements:
    """What a visit asks of its carers.

    `visit_date` is the visit's local date: competence is judged on the day the care is given,
    so a carer whose medication competence lapses before a visit booked weeks ahead is refused
    now rather than discovered on the day.
    """

    visit_date: date
    double_handed: bool = False
    tasks: tuple[TaskRequirement, ...] = ()

    @property
    def carers_needed(self) -> int:
        return 2 if self.double_handed else 1


class RefusalCode(StrEnum):
    """Why an assignment is refused; stable for clients and exception rules."""

    WRONG_NUMBER_OF_CARERS = "WRONG_NUMBER_OF_CARERS"
    CARER_GIVEN_TWICE = "CARER_GIVEN_TWICE"
    COMPETENCE_MISSING = "COMPETENCE_MISSING"
    COMPETENCE_RESTRICTED = "COMPETENCE_RESTRICTED"
    COMPETENCE_EXPIRED = "COMPETENCE_EXPIRED"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason an assignment cannot stand, with the carer and competence it concerns."""

    code: RefusalCode
    message: str
    staff_id: uuid.UUID | None = None
    competence: str | None = None
    tasks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AssignmentCheck:
    """The outcome of `check_assignment`: OK when there are no refusals."""

    refusals: tuple[Refusal, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.refusals

    def raise_if_refused(self) -> None:
        """For services: turn refusals into an `AssignmentRefused` carrying all of them."""
        if self.refusals:
            raise AssignmentRefused(self.refusals)


class AssignmentRefused(Conflict):
    """The carers given cannot be assigned to the visit; `refusals` says every reason why.

    All reasons are reported at once so a coordinator fixes the assignment in one go.
    """

    code = "ASSIGNMENT_REFUSED"

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        self.refusals = tuple(refusals)
        super().__init__("; ".join(refusal.message for refusal in self.refusals))


def check_assignment(requirements: VisitRequirements, carers: Sequence[Carer]) -> AssignmentCheck:
    """Check that `carers` may together be assigned to a visit with these `requirements`.

    - A double-handed visit needs exactly two different carers, any other visit exactly one: a
      second carer on a single-handed visit is not an assignment the contract pays for, and an
      empty assignment is no assignment.
    - Every carer given must hold every competence the visit's tasks need, effective on the
      visit date, in an assignable status (evidenced or revalidated). On a double-handed visit
      both carers are checked: the hub does not know which of the two will do which task.

    Refusals come in a stable order: the carer count, then each carer in the order given, each
    competence in the order its first task appears.
    """
    refusals: list[Refusal] = []
    needed = requirements.carers_needed
    if len(carers) != needed:
        handed = "double-handed" if requirements.double_handed else "single-handed"
        refusals.append(
            Refusal(
                RefusalCode.WRONG_NUMBER_OF_CARERS,
                f"this visit is {handed} and needs {needed} carer{'s' if needed > 1 else ''}; "
                f"{len(carers)} given",
            )
        )
    seen: set[uuid.UUID] = set()
    for carer in carers:
        if carer.staff_id in seen:
            refusals.append(
                Refusal(
                    RefusalCode.CARER_GIVEN_TWICE,
                    f"{carer.display_name} is given twice; each carer can fill one place",
                    staff_id=carer.staff_id,
                )
            )
            continue
        seen.add(carer.staff_id)
        refusals.extend(_competence_refusals(carer, requirements))
    return AssignmentCheck(tuple(refusals))


def _tasks_by_competence(tasks: Iterable[TaskRequirement]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for task in tasks:
        if task.required_competence is not None:
            grouped.setdefault(task.required_competence, []).append(task.description)
    return grouped


def _competence_refusals(carer: Carer, requirements: VisitRequirements) -> list[Refusal]:
    refusals: list[Refusal] = []
    for code, tasks in _tasks_by_competence(requirements.tasks).items():
        record = carer.competency(code)
        label = competence_label(code)
        if record is None:
            refusal_code = RefusalCode.COMPETENCE_MISSING
            why = f"no {label} competence on record"
        else:
            status = effective_status(record, requirements.visit_date)
            if status in ASSIGNABLE_STATUSES:
                continue
            if status is CompetencyStatus.EXPIRED:
                refusal_code = RefusalCode.COMPETENCE_EXPIRED
                why = (
                    f"{label} competence is expired"
                    if record.status is CompetencyStatus.EXPIRED
                    # Lapsed by date while still stored as valid: say when, so it can be renewed.
                    else f"{label} competence expired on {record.expires_on.isoformat()}"
                )
            else:
                refusal_code = RefusalCode.COMPETENCE_RESTRICTED
                why = f"{label} competence is {status}"
        task_list = f"task{'s' if len(tasks) > 1 else ''}: {', '.join(tasks)}"
        refusals.append(
            Refusal(
                refusal_code,
                f"{carer.display_name} cannot be assigned: {why} ({task_list})",
                staff_id=carer.staff_id,
                competence=code,
                tasks=tuple(tasks),
            )
        )
    return refusals
