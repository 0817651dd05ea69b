"""Visit errors: each says what was refused and why, with a stable code.

    VisitNotFound(NotFound)               no such visit, or not the caller's to see
    PackageNotSchedulable(Conflict)       visits are generated for planned or live packages only
    PackageHeldOutOfRota(Conflict)        a red package waits for validation before rota runs
    NoSchedule(Conflict)                  the package has no weekly schedule to generate from
    VisitCancelled(Conflict)              a cancelled visit takes no assignment or second cancel
    VisitAlreadyAttended(Conflict)        a visit with a check-in keeps its carers and its status
    StaffOfAnotherProvider(Conflict)      a staff member works for another provider
    AssignmentRefused(Conflict)           (hub.staff.competency) competence or carer-count refusals
    TaskNotFound(InvalidInput)            a task confirmation names a task the visit does not plan
    SupersededFactNotFound(InvalidInput)  a correction names no fact of the same kind on the visit

Unknown, foreign, inactive or not-yet-transferred staff are refused by
`hub.staff.service.carers_for_assignment` with the staff domain's own errors.
"""

from __future__ import annotations

from hub.errors import Conflict, InvalidInput, NotFound


class VisitNotFound(NotFound):
    code = "VISIT_NOT_FOUND"


class PackageNotSchedulable(Conflict):
    code = "PACKAGE_NOT_SCHEDULABLE"


class PackageHeldOutOfRota(Conflict):
    """Seed 001: red packages are held out of bulk rota conversion until visit times and
    staffing needs are confirmed; `releaseTriageHold` records that validation."""

    code = "PACKAGE_HELD_OUT_OF_ROTA"


class NoSchedule(Conflict):
    code = "NO_SCHEDULE"


class VisitCancelled(Conflict):
    code = "VISIT_CANCELLED"


class VisitAlreadyAttended(Conflict):
    code = "VISIT_ALREADY_ATTENDED"


class StaffOfAnotherProvider(Conflict):
    code = "STAFF_OF_ANOTHER_PROVIDER"


class TaskNotFound(InvalidInput):
    code = "TASK_NOT_FOUND"

    def __init__(self, reason: str) -> None:
        super().__init__("taskIndex", reason)


class SupersededFactNotFound(InvalidInput):
    """A correction must name a fact of the same kind on the same visit."""

    code = "SUPERSEDED_FACT_NOT_FOUND"

    def __init__(self, reason: str) -> None:
        super().__init__("supersedes", reason)
