"""GraphQL face of the change requests domain: permission → service → typed result."""

from __future__ import annotations

import strawberry


@strawberry.type
class ChangeRequestQuery:
    pass


@strawberry.type
class ChangeRequestMutation:
    pass
