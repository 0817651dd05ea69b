"""GraphQL entry points of the la_imports domain (thin resolvers)."""

from __future__ import annotations

import strawberry


@strawberry.type
class LaImportQuery:
    pass


@strawberry.type
class LaImportMutation:
    pass
