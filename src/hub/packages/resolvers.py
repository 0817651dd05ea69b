"""GraphQL face of the packages domain: permission → service → typed result."""

from __future__ import annotations

import strawberry


@strawberry.type
class PackageQuery:
    pass


@strawberry.type
class PackageMutation:
    pass
