"""Exception cases: where a case is in its life, and which commands may move it.

Seed 003: "if a call is not started within tolerance, an exception case is created with
mandatory actions and timed escalation", and every exception type has an owner and a defined
"closed". The lifecycle:

    open ──► acknowledged ──► escalated (level n) ──► resolved ──► closed (final)
      │            ▲                │    ▲  │            ▲
      │            └────────────────┘    └──┘ (next     │
      └──► escalated                          level)     │
    open | acknowledged | escalated ── reconcile ────────┘ (a late fact showed no exception)

- **acknowledge**: someone takes the case (open → acknowledged; escalated → acknowledged, by
  the person it was escalated to — the level stays).
- **escalate**: the next rung of the contract's ladder, by timer or by hand.
- **resolve**: with an outcome code from the contract's list and its mandatory fields. Only an
  acknowledged or escalated case: resolution is recorded by someone who has owned it.
- **reconcile**: the system's own resolution when a fact synced late from an offline device
  shows there was no exception (e.g. "on time, synced late"). No outcome code: nothing was done.
- **close**: the governance sign-off of a resolved case, once its actions are complete.
- **assign**, **add action**, **record safeguarding decision**: no change of status.

Closed is final. Everything else refused names why and what is allowed instead.

    IllegalCaseTransition(Conflict)   the command is not allowed in the case's status
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from hub.errors import Conflict


class CaseStatus(StrEnum):
    """Where a case is in its lifecycle; the values are stored and shown in GraphQL."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"


class CaseSeverity(StrEnum):
    """How much harm the exception risks; set by the rule that opened the case."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ActionKind(StrEnum):
    """What an action attached to a case is for (seed 003's "governance action")."""

    REVIEW = "review"  # opened by a rule: e.g. the registered manager's root-cause review
    LEARNING = "learning"  # supervision, refresher training, rota change, care-plan update
    GOVERNANCE = "governance"  # e.g. an improvement notice, a re-audit


class CaseCommand(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    RECONCILE = "reconcile"
    CLOSE = "close"
    ADD_ACTION = "add_action"
    COMPLETE_ACTION = "complete_action"
    RECORD_SAFEGUARDING_DECISION = "record_safeguarding_decision"


S = CaseStatus
C = CaseCommand

ACTIVE_STATUSES: frozenset[CaseStatus] = frozenset({S.OPEN, S.ACKNOWLEDGED, S.ESCALATED})
"""Statuses in which a case still needs someone: its timers run and it can be overdue."""

ALLOWED_FROM: Mapping[CaseCommand, frozenset[CaseStatus]] = MappingProxyType(
    {
        C.ACKNOWLEDGE: frozenset({S.OPEN, S.ESCALATED}),
        C.ASSIGN: ACTIVE_STATUSES,
        C.ESCALATE: ACTIVE_STATUSES,
        C.RESOLVE: frozenset({S.ACKNOWLEDGED, S.ESCALATED}),
        C.RECONCILE: ACTIVE_STATUSES,
        C.CLOSE: frozenset({S.RESOLVED}),
        # Learning and governance actions often follow the resolution; a closed case is done.
        C.ADD_ACTION: frozenset({*ACTIVE_STATUSES, S.RESOLVED}),
        C.COMPLETE_ACTION: frozenset({*ACTIVE_STATUSES, S.RESOLVED}),
        C.RECORD_SAFEGUARDING_DECISION: frozenset({*ACTIVE_STATUSES, S.RESOLVED}),
    }
)
"""Every command and the statuses it is allowed in, read-only."""

TARGET: Mapping[CaseCommand, CaseStatus | None] = MappingProxyType(
    {
        C.ACKNOWLEDGE: S.ACKNOWLEDGED,
        C.ASSIGN: None,
        C.ESCALATE: S.ESCALATED,
        C.RESOLVE: S.RESOLVED,
        C.RECONCILE: S.RESOLVED,
        C.CLOSE: S.CLOSED,
        C.ADD_ACTION: None,
        C.COMPLETE_ACTION: None,
        C.RECORD_SAFEGUARDING_DECISION: None,
    }
)
"""The status a command moves a case to; None leaves it where it is."""


def _reason(command: CaseCommand, current: CaseStatus) -> str:
    if current is S.CLOSED:
        return "the case is closed, which is final; raise a new case if something else happened"
    if command is C.RESOLVE and current is S.OPEN:
        return "acknowledge it first: a case is resolved by someone who has taken ownership of it"
    if command is C.RESOLVE and current is S.RESOLVED:
        return "it is already resolved"
    if command is C.CLOSE:
        return "only a resolved case is closed; resolve it with an outcome first"
    if command is C.ACKNOWLEDGE and current is S.ACKNOWLEDGED:
        return "it is already acknowledged"
    if current is S.RESOLVED:
        return "it is resolved; only actions, a safeguarding decision or closing remain"
    return f"allowed only when the case is {', '.join(sorted(ALLOWED_FROM[command]))}"


class IllegalCaseTransition(Conflict):
    """A command the case's status does not allow; the message says why."""

    code = "ILLEGAL_CASE_TRANSITION"

    def __init__(self, command: CaseCommand, current: CaseStatus) -> None:
        self.command = command
        self.current = current
        verb = command.value.replace("_", " ")
        super().__init__(f"cannot {verb} a case that is {current}: {_reason(command, current)}")


def can(command: CaseCommand, current: CaseStatus) -> bool:
    return current in ALLOWED_FROM[command]


def check(command: CaseCommand, current: CaseStatus) -> CaseStatus:
    """The status after `command`, or `IllegalCaseTransition` with the reason."""
    if not can(command, current):
        raise IllegalCaseTransition(command, current)
    target = TARGET[command]
    return current if target is None else target


def allowed_commands(current: CaseStatus) -> tuple[CaseCommand, ...]:
    """What may be done to a case in `current` (for clients' buttons), in a stable order."""
    return tuple(command for command in CaseCommand if can(command, current))
