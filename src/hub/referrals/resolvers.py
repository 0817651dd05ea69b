"""GraphQL face of the referrals domain: permission → service → typed result."""

from __future__ import annotations

import strawberry


@strawberry.type
class ReferralQuery:
    pass


@strawberry.type
class ReferralMutation:
    pass
