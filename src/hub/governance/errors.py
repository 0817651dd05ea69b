"""Governance errors.

HubError
├── CaseNotFound(NotFound)                     missing, or not visible to the caller
├── CaseActionNotFound(NotFound)               no such action on a visible case
├── IllegalCaseTransition(Conflict)            (lifecycle) the command is not allowed now
├── NoFurtherEscalation(Conflict)              the case is at the top of its ladder
├── ActionsOutstanding(Conflict)               closing while actions are incomplete
├── ActionAlreadyCompleted(Conflict)           completing an action twice
├── SafeguardingDecisionRequired(Conflict)     resolving a safeguarding case undecided
├── NotASafeguardingCase(Conflict)             a safeguarding decision on another rule's case
└── CaseChangeForbidden(Forbidden)             visible, but the caller's role may not do this
"""

from __future__ import annotations

from hub.errors import Conflict, Forbidden, NotFound
from hub.governance.lifecycle import IllegalCaseTransition


class CaseNotFound(NotFound):
    code = "CASE_NOT_FOUND"


class CaseActionNotFound(NotFound):
    code = "CASE_ACTION_NOT_FOUND"


class NoFurtherEscalation(Conflict):
    """The ladder has no rung above the case's level (the commissioner may already know)."""

    code = "NO_FURTHER_ESCALATION"


class ActionsOutstanding(Conflict):
    """A case is closed only when every action attached to it is complete: "closed" means
    the learning happened, not just that the incident ended (seed 003)."""

    code = "ACTIONS_OUTSTANDING"


class ActionAlreadyCompleted(Conflict):
    code = "ACTION_ALREADY_COMPLETED"


class SafeguardingDecisionRequired(Conflict):
    """A safeguarding case is resolved only after the decision — referral made or not, and
    why — is documented (seed 003: the workflow "forces documentation")."""

    code = "SAFEGUARDING_DECISION_REQUIRED"


class NotASafeguardingCase(Conflict):
    code = "NOT_A_SAFEGUARDING_CASE"


class CaseChangeForbidden(Forbidden):
    """Cases are handled by the provider's office; commissioners and others read them."""

    code = "CASE_CHANGE_FORBIDDEN"


__all__ = [
    "ActionAlreadyCompleted",
    "ActionsOutstanding",
    "CaseActionNotFound",
    "CaseChangeForbidden",
    "CaseNotFound",
    "IllegalCaseTransition",
    "NoFurtherEscalation",
    "NotASafeguardingCase",
    "SafeguardingDecisionRequired",
]
