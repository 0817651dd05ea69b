"""Care package errors: each says what was refused and why, with a stable code.

    PackageNotFound(NotFound)             no such package, or not the caller's to see
    PackageContractNotFound(NotFound)     the contract is missing or not the caller's
    PackagePersonNotFound(NotFound)       the person is missing or not the caller's
    IncumbentNotFound(NotFound)           the incumbent provider named in a transfer is unknown
    DuplicatePackageReference(Conflict)   another package already has the reference
    PackageEnded(Conflict)                an ended package is closed for changes
    ScheduleRequired(Conflict)            a package cannot be planned without a weekly schedule
    NotHeldOutOfRota(Conflict)            a hold was released on a package that is not held
    HoldReleaseNotAllowed(Forbidden)      only a coordinator or registered manager validates
    IllegalPackageTransition(Conflict)    (hub.packages.lifecycle) not an arrow of the machine

Input validation failures are plain `InvalidInput`s naming the field (e.g.
`entries[2].tasks[0].requires`), raised by the service.
"""

from __future__ import annotations

from hub.errors import Conflict, Forbidden, NotFound


class PackageNotFound(NotFound):
    code = "PACKAGE_NOT_FOUND"


class PackageContractNotFound(NotFound):
    code = "CONTRACT_NOT_FOUND"


class PackagePersonNotFound(NotFound):
    code = "PERSON_NOT_FOUND"


class IncumbentNotFound(NotFound):
    code = "INCUMBENT_NOT_FOUND"


class DuplicatePackageReference(Conflict):
    code = "DUPLICATE_PACKAGE_REFERENCE"


class PackageEnded(Conflict):
    """An ended package keeps its history closed: no schedule, triage or transfer changes."""

    code = "PACKAGE_ENDED"


class ScheduleRequired(Conflict):
    """Planning (and staying planned or live) needs at least one schedule entry: seed 001's
    mobilisation failure is going live with visit times unconfirmed."""

    code = "SCHEDULE_REQUIRED"


class NotHeldOutOfRota(Conflict):
    code = "NOT_HELD_OUT_OF_ROTA"


class HoldReleaseNotAllowed(Forbidden):
    """Validating a red package is a clinical/operational judgement for the provider's office."""

    code = "HOLD_RELEASE_NOT_ALLOWED"
