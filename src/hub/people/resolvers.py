"""GraphQL face of the people domain: permission → service → typed result."""

from __future__ import annotations

import strawberry


@strawberry.type
class PersonQuery:
    pass


@strawberry.type
class PersonMutation:
    pass
