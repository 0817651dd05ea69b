"""GraphQL entry points of the integrations domain (thin resolvers)."""

from __future__ import annotations

import strawberry


@strawberry.type
class IntegrationQuery:
    pass


@strawberry.type
class IntegrationMutation:
    pass
