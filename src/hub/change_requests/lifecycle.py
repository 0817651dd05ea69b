"""Change requests: what kind of change, where it is in approval, and whether it may take effect.

Seed 000 describes three kinds of change to a care contract — a supplier's software update, a
contract variation, a commissioner's amendment — and one discipline for all of them: record the
request, assess its capacity, risk and cost impact, decide, implement, then review (e.g. two
weeks of spot checks after a supplier update). Without it a provider "drifts into delivering
additional work without contractual agreement".

    proposed ──► assessed ──► approved ──► implemented ──► reviewed (final)
                     │
                     └──────► rejected (final)

There is no move from proposed straight to a decision: a change is approved or rejected only
after its impact has been assessed. Rejected and reviewed are final; a change asked for again
after rejection is a new request with its own assessment.

    IllegalChangeRequestTransition(Conflict)   the requested move is not an arrow above
    ChangeNotApproved(Conflict)                 the change would take effect without approval
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from hub.errors import Conflict


class ChangeRequestKind(StrEnum):
    """The three kinds of change seed 000 puts under one change-control discipline."""

    SUPPLIER_SOFTWARE_UPDATE = "supplier_software_update"
    CONTRACT_VARIATION = "contract_variation"
    COMMISSIONER_AMENDMENT = "commissioner_amendment"


CHANGE_REQUEST_KIND_LABELS: Mapping[ChangeRequestKind, str] = MappingProxyType(
    {
        ChangeRequestKind.SUPPLIER_SOFTWARE_UPDATE: "supplier software update",
        ChangeRequestKind.CONTRACT_VARIATION: "contract variation",
        ChangeRequestKind.COMMISSIONER_AMENDMENT: "commissioner amendment",
    }
)


class ChangeRequestStatus(StrEnum):
    """Where a change request is in approval; the values are stored and shown in GraphQL."""

    PROPOSED = "proposed"
    ASSESSED = "assessed"
    APPROVED = "approved"
    REJECTED = "rejected"
    IMPLEMENTED = "implemented"
    REVIEWED = "reviewed"


CHANGE_REQUEST_TRANSITIONS: Mapping[ChangeRequestStatus, tuple[ChangeRequestStatus, ...]] = (
    MappingProxyType(
        {
            ChangeRequestStatus.PROPOSED: (ChangeRequestStatus.ASSESSED,),
            ChangeRequestStatus.ASSESSED: (
                ChangeRequestStatus.APPROVED,
                ChangeRequestStatus.REJECTED,
            ),
            ChangeRequestStatus.APPROVED: (ChangeRequestStatus.IMPLEMENTED,),
            ChangeRequestStatus.REJECTED: (),
            ChangeRequestStatus.IMPLEMENTED: (ChangeRequestStatus.REVIEWED,),
            ChangeRequestStatus.REVIEWED: (),
        }
    )
)
"""Every legal move, read-only: status → the statuses it may move to."""

EFFECTIVE_STATUSES: frozenset[ChangeRequestStatus] = frozenset(
    {
        ChangeRequestStatus.APPROVED,
        ChangeRequestStatus.IMPLEMENTED,
        ChangeRequestStatus.REVIEWED,
    }
)
"""Statuses in which a change has been approved and so may take (or has taken) effect."""


class IllegalChangeRequestTransition(Conflict):
    """A change request was asked to move along an arrow its lifecycle does not have."""

    code = "ILLEGAL_CHANGE_REQUEST_TRANSITION"

    def __init__(self, current: ChangeRequestStatus, target: ChangeRequestStatus) -> None:
        self.current = current
        self.target = target
        self.allowed = CHANGE_REQUEST_TRANSITIONS[current]
        head = f"a change request in status {current} cannot move to {target}"
        if current is target:
            head += f" (it is already {current})"
        if not self.allowed:
            message = f"{head}; {current} is final"
        else:
            message = f"{head}; allowed: {', '.join(self.allowed)}"
            if current is ChangeRequestStatus.PROPOSED and target in (
                ChangeRequestStatus.APPROVED,
                ChangeRequestStatus.REJECTED,
            ):
                message += " (a change is decided only after its impact is assessed)"
        super().__init__(message)


class ChangeNotApproved(Conflict):
    """A change would take effect before it was approved (or after it was rejected).

    DESIGN.md §4: no variation takes effect unapproved.
    """

    code = "CHANGE_NOT_APPROVED"

    def __init__(self, kind: ChangeRequestKind, status: ChangeRequestStatus) -> None:
        self.kind = kind
        self.status = status
        label = CHANGE_REQUEST_KIND_LABELS[kind]
        if status is ChangeRequestStatus.REJECTED:
            message = f"a {label} that was rejected cannot take effect"
        else:
            message = f"a {label} cannot take effect while {status}; it must be approved first"
        super().__init__(message)


def allowed_change_request_targets(
    current: ChangeRequestStatus,
) -> tuple[ChangeRequestStatus, ...]:
    """The statuses a change request in `current` may move to (empty when final)."""
    return CHANGE_REQUEST_TRANSITIONS[current]


def can_move_change_request(current: ChangeRequestStatus, target: ChangeRequestStatus) -> bool:
    """Whether `current → target` is a legal move."""
    return target in CHANGE_REQUEST_TRANSITIONS[current]


def check_change_request_transition(
    current: ChangeRequestStatus, target: ChangeRequestStatus
) -> None:
    """Refuse an illegal move with a message saying why and what is allowed instead."""
    if not can_move_change_request(current, target):
        raise IllegalChangeRequestTransition(current, target)


def check_can_take_effect(kind: ChangeRequestKind, status: ChangeRequestStatus) -> None:
    """Refuse to let a change take effect unless it has been approved.

    Every kind needs approval: a supplier update changes how carers record care (seed 000's
    example 3), a variation changes scope and cost, an amendment changes what is reported. The
    kind is taken so the refusal names what was about to happen.
    """
    if status not in EFFECTIVE_STATUSES:
        raise ChangeNotApproved(kind, status)
