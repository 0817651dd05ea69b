"""Who may use the FHIR endpoint, checked the way GraphQL fields check it
(`hub.graphql.permissions.Allow`), but answered as FHIR: 401 and 403 with an OperationOutcome
and an RFC 6750 ``WWW-Authenticate`` challenge.

The bearer token itself is verified by `hub.auth.http.AuthenticationMiddleware` before any route
runs (a bad token never reaches here); this module decides what a verified caller may do. Rows
are then filtered by tenancy in the repositories, so a partner reads only its own referrals.
"""

from __future__ import annotations

from collections.abc import Collection

from hub.accounts.models import Role
from hub.auth.principal import Principal
from hub.fhir.outcome import FhirProblem, error

WRITE_SCOPE = "referrals:write"
READ_SCOPE = "referrals:read"

# Referrals arrive from partner systems; the office and admins have GraphQL for their work.
SENDERS: tuple[Role, ...] = (Role.PARTNER_CLIENT,)
# The same readers as the `referrals` GraphQL field; rows are filtered by tenancy.
READERS: tuple[Role, ...] = (
    Role.PARTNER_CLIENT,
    Role.COORDINATOR,
    Role.REGISTERED_MANAGER,
    Role.COMMISSIONER,
    Role.ADMIN,
)
_REALM = 'Bearer realm="care-hub-fhir"'


def require(principal: Principal | None, roles: Collection[Role], scope: str) -> Principal:
    """The caller, if signed in with one of `roles` and (clients) holding `scope`."""
    if principal is None:
        raise FhirProblem(
            401,
            [
                error(
                    "login",
                    "sign in first: send 'Authorization: Bearer <token>' (OAuth2 client "
                    "credentials)",
                    detail_code="UNAUTHENTICATED",
                )
            ],
            headers={"WWW-Authenticate": _REALM},
        )
    if principal.role not in roles:
        raise FhirProblem(
            403,
            [
                error(
                    "forbidden",
                    f"a {principal.role.value} may not use this interaction",
                    detail_code="FORBIDDEN",
                )
            ],
        )
    if principal.is_client and not principal.has_scopes(scope):
        raise FhirProblem(
            403,
            [
                error(
                    "forbidden",
                    f"this interaction needs scope {scope}; the token grants "
                    f"{', '.join(sorted(principal.scopes)) or 'no scopes'}",
                    detail_code="INSUFFICIENT_SCOPE",
                )
            ],
            headers={"WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{scope}"'},
        )
    return principal
