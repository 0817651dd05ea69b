"""Change request errors.

    ChangeRequestNotFound(NotFound)          no such change request, or not visible to the caller
    ChangeRequestPartyNotFound(NotFound)     a contract or care package named in the request does
                                             not exist or is not visible; the message names the id
    NotChangeApprover(Forbidden)             the caller may see the change but may not decide it

and, from `hub.change_requests.lifecycle` (pure rules):

    IllegalChangeRequestTransition(Conflict) the requested move is not in the lifecycle
    ChangeNotApproved(Conflict)              the change would take effect without approval
"""

from __future__ import annotations

from hub.change_requests.lifecycle import ChangeNotApproved, IllegalChangeRequestTransition
from hub.errors import Forbidden, NotFound


class ChangeRequestNotFound(NotFound):
    """No change request with this id, or one the caller may not see (the same answer)."""

    code = "CHANGE_REQUEST_NOT_FOUND"


class ChangeRequestPartyNotFound(NotFound):
    """A contract or care package the request names is missing or invisible to the caller."""

    code = "CHANGE_REQUEST_PARTY_NOT_FOUND"


class NotChangeApprover(Forbidden):
    """Approval belongs to one party per kind of change (see `service.APPROVERS`); others who
    can see the change, and even assess it, cannot approve or reject it."""

    code = "NOT_CHANGE_APPROVER"


__all__ = [
    "ChangeNotApproved",
    "ChangeRequestNotFound",
    "ChangeRequestPartyNotFound",
    "IllegalChangeRequestTransition",
    "NotChangeApprover",
]
