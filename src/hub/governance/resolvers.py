"""GraphQL entry points of the governance domain (thin resolvers)."""

from __future__ import annotations

import strawberry


@strawberry.type
class GovernanceQuery:
    pass


@strawberry.type
class GovernanceMutation:
    pass


@strawberry.type
class GovernanceSubscription:
    pass
