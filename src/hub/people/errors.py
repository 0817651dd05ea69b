"""People errors.

HubError
├── PersonNotFound(NotFound)            missing, or not visible to the caller (same answer)
├── DuplicateNhsNumber(Conflict)        a checked NHS number already belongs to another record
└── SealedValueUnreadable               a sealed field cannot be opened (wrong key, moved, altered)
"""

from __future__ import annotations

from hub.errors import Conflict, HubError, NotFound


class PersonNotFound(NotFound):
    code = "PERSON_NOT_FOUND"


class DuplicateNhsNumber(Conflict):
    """One record per real person: numbers that pass the check are unique across the hub."""

    code = "DUPLICATE_NHS_NUMBER"


class SealedValueUnreadable(HubError):
    """Not an input problem: the key changed, or a sealed value was copied or altered in the
    database. Reported as an error on that one field (the rest of the person still reads), so
    the caller knows the code exists but cannot be shown, rather than seeing a silent null."""

    code = "SEALED_VALUE_UNREADABLE"
