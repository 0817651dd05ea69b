"""Organisation errors.

OrganisationError
├── OrganisationNotFound(NotFound)
└── DuplicateOdsCode(Conflict)
"""

from __future__ import annotations

from hub.errors import Conflict, NotFound


class OrganisationNotFound(NotFound):
    code = "ORGANISATION_NOT_FOUND"


class DuplicateOdsCode(Conflict):
    code = "DUPLICATE_ODS_CODE"
