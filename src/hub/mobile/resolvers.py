"""GraphQL entry points of the mobile domain (thin resolvers)."""

from __future__ import annotations

import strawberry


@strawberry.type
class MobileQuery:
    pass


@strawberry.type
class MobileMutation:
    pass
