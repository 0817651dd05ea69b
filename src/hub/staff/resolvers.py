"""GraphQL face of the staff domain: permission → service → typed result."""

from __future__ import annotations

import strawberry


@strawberry.type
class StaffQuery:
    pass


@strawberry.type
class StaffMutation:
    pass
