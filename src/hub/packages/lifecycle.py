"""The care package status machine.

    referred ──► accepted ──► planned ──► live ◄──► suspended
        │            │           │          │           │
        └────────────┴───────────┴──────────┴───────────┴──► ended (final)

A package is *referred* by a commissioner or referrer, *accepted* by the provider, *planned* once
its weekly schedule and staffing are agreed, and *live* once visits are delivered. A live package
is *suspended* while care pauses (a hospital admission, respite) and returns to live when it
resumes. Any package can end from any status: a referral declined or withdrawn, a package handed
back before go-live, a person who no longer needs care. Nothing comes back from *ended*: care
that restarts is a new referral with its own triage, so the history of the old package stays
closed and auditable.

There is no shortcut from referred or accepted straight to live: going live without a plan is the
mobilisation failure seed 001 warns about (visit times and staffing unconfirmed).

    IllegalPackageTransition(Conflict)   the requested move is not one of the arrows above
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from hub.errors import Conflict


class PackageStatus(StrEnum):
    """Where a care package is in its life; the values are stored and shown in GraphQL."""

    REFERRED = "referred"
    ACCEPTED = "accepted"
    PLANNED = "planned"
    LIVE = "live"
    SUSPENDED = "suspended"
    ENDED = "ended"


PACKAGE_TRANSITIONS: Mapping[PackageStatus, tuple[PackageStatus, ...]] = MappingProxyType(
    {
        PackageStatus.REFERRED: (PackageStatus.ACCEPTED, PackageStatus.ENDED),
        PackageStatus.ACCEPTED: (PackageStatus.PLANNED, PackageStatus.ENDED),
        PackageStatus.PLANNED: (PackageStatus.LIVE, PackageStatus.ENDED),
        PackageStatus.LIVE: (PackageStatus.SUSPENDED, PackageStatus.ENDED),
        PackageStatus.SUSPENDED: (PackageStatus.LIVE, PackageStatus.ENDED),
        PackageStatus.ENDED: (),
    }
)
"""Every legal move, read-only: status → the statuses it may move to, in lifecycle order.

Exposed so the GraphQL schema and the documentation describe the same machine the rule enforces.
"""


class IllegalPackageTransition(Conflict):
    """A package was asked to move along an arrow the lifecycle does not have.

    Carries `current`, `target` and `allowed` so a client can offer the legal next steps.
    """

    code = "ILLEGAL_PACKAGE_TRANSITION"

    def __init__(self, current: PackageStatus, target: PackageStatus) -> None:
        self.current = current
        self.target = target
        self.allowed = PACKAGE_TRANSITIONS[current]
        super().__init__(_explain(current, target, self.allowed))


def allowed_package_targets(current: PackageStatus) -> tuple[PackageStatus, ...]:
    """The statuses a package in `current` may move to, in lifecycle order (empty when ended)."""
    return PACKAGE_TRANSITIONS[current]


def can_move_package(current: PackageStatus, target: PackageStatus) -> bool:
    """Whether `current → target` is a legal move."""
    return target in PACKAGE_TRANSITIONS[current]


def check_package_transition(current: PackageStatus, target: PackageStatus) -> None:
    """Refuse an illegal move with a message that says exactly why and what is allowed instead.

    Staying in the same status is not a move and is refused too: a service that "moves" a live
    package to live would record an event for nothing happening.
    """
    if not can_move_package(current, target):
        raise IllegalPackageTransition(current, target)


def _explain(
    current: PackageStatus, target: PackageStatus, allowed: tuple[PackageStatus, ...]
) -> str:
    head = f"a package in status {current} cannot move to {target}"
    if current is target:
        head += f" (it is already {current})"
    if not allowed:
        return f"{head}; {current} is final"
    return f"{head}; allowed: {', '.join(allowed)}"
