"""Staff errors.

    StaffNotFound(NotFound)               no such staff member, or not one the caller may see
    StaffInactive(Conflict)               the staff member has left employment
    StaffNotYetTransferred(Conflict)      a TUPE transferee asked for before their transfer date
    DuplicateStaffExternalId(Conflict)    a supplier system's id already names another record
    NotYourOrganisation(Forbidden)        staff may be registered only for the caller's employer

Competency-code errors are `InvalidInput` from hub.staff.competency; refused assignments are
`AssignmentRefused` from the same module.
"""

from __future__ import annotations

from hub.errors import Conflict, Forbidden, NotFound


class StaffNotFound(NotFound):
    """Missing and foreign staff ids answer alike, so tenancy leaks nothing."""

    code = "STAFF_NOT_FOUND"


class StaffInactive(Conflict):
    """A leaver's record is kept as it was: no new evidence, no assignments."""

    code = "STAFF_INACTIVE"


class StaffNotYetTransferred(Conflict):
    """Before the TUPE transfer date the carer still works for the incumbent provider."""

    code = "STAFF_NOT_YET_TRANSFERRED"


class DuplicateStaffExternalId(Conflict):
    """One supplier id must map to one staff record, or imports would merge two people."""

    code = "DUPLICATE_STAFF_EXTERNAL_ID"


class NotYourOrganisation(Forbidden):
    """Office staff register staff for their own organisation only. Organisations are public,
    so saying so reveals nothing a NotFound would hide."""

    code = "NOT_YOUR_ORGANISATION"
