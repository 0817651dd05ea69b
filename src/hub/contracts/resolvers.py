"""GraphQL face of the contracts domain: permission → service → typed result."""

from __future__ import annotations

import strawberry


@strawberry.type
class ContractQuery:
    pass


@strawberry.type
class ContractMutation:
    pass
