"""Field permissions. Every Query, Mutation and Subscription field declares one (a test walks
the schema to prove it); rows are then filtered by tenancy in the repositories.

    @strawberry.field(extensions=allow(Role.COORDINATOR, Role.REGISTERED_MANAGER))
    @strawberry.field(extensions=allow(Role.PARTNER_CLIENT, scopes=("referrals:read",)))
    @strawberry.field(extensions=public())
"""

from __future__ import annotations

from typing import Any

from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from hub.accounts.models import Role
from hub.auth.authenticate import AuthenticationFailed
from hub.errors import Forbidden

EVERYONE = tuple(Role)
STAFF = (Role.CARER, Role.COORDINATOR, Role.REGISTERED_MANAGER)
OFFICE = (Role.COORDINATOR, Role.REGISTERED_MANAGER)


class InsufficientScope(Forbidden):
    code = "INSUFFICIENT_SCOPE"


class RoleNotAllowed(Forbidden):
    code = "FORBIDDEN"


class Allow(BasePermission):
    """The caller must be signed in, hold one of `roles`, and (clients) every one of `scopes`."""

    def __init__(
        self, roles: tuple[Role, ...], scopes: tuple[str, ...] = (), *, public: bool = False
    ) -> None:
        self.roles = frozenset(roles)
        self.scopes = scopes
        self.public = public

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        if self.public:
            return True
        principal = info.context.principal
        if principal is None:
            raise AuthenticationFailed("sign in first: send 'Authorization: Bearer <token>'")
        if principal.role not in self.roles:
            raise RoleNotAllowed(f"a {principal.role.value} may not use {info.field_name}")
        if principal.is_client and not principal.has_scopes(*self.scopes):
            missing = sorted(set(self.scopes) - principal.scopes)
            raise InsufficientScope(f"{info.field_name} needs scope(s): {', '.join(missing)}")
        return True


def allow(*roles: Role, scopes: tuple[str, ...] = ()) -> list[FieldExtension]:
    return [PermissionExtension(permissions=[Allow(roles, scopes)], use_directives=False)]


def public() -> list[FieldExtension]:
    """Readable without signing in: only facts about the hub itself, never care data."""
    return [PermissionExtension(permissions=[Allow((), public=True)], use_directives=False)]
