"""GraphQL face of the visits domain: permission → service → typed result."""

from __future__ import annotations

import strawberry


@strawberry.type
class VisitQuery:
    pass


@strawberry.type
class VisitMutation:
    pass
