"""Bearer token → Principal: verify the token, then find the account it names.

    AuthenticationFailed(HubError)        401: no usable token
    AccountNotRegistered(Forbidden)       403: a good token for a subject the hub does not know
    AccountInactive(Forbidden)            403: the account was switched off
Token verification failures (hub.auth.tokens.TokenError) are 401s with their own codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.accounts import repository as accounts
from hub.accounts.models import Role
from hub.auth.principal import Principal
from hub.auth.tokens import TokenVerifier, VerifiedToken
from hub.auth.watch import AuthorisationWatch
from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.errors import Forbidden, HubError

CLIENT_ROLES = (Role.PARTNER_CLIENT, Role.SUPPLIER_CLIENT)


class AuthenticationFailed(HubError):
    code = "UNAUTHENTICATED"


class AccountNotRegistered(Forbidden):
    code = "ACCOUNT_NOT_REGISTERED"


class AccountInactive(Forbidden):
    code = "ACCOUNT_INACTIVE"


def bearer_token(header_value: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header; None when there is no header."""
    if header_value is None:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("the Authorization header must be 'Bearer <token>'")
    return token.strip()


class Authenticator:
    def __init__(
        self,
        verifier: TokenVerifier,
        sessions: SessionFactory,
        *,
        issuer: str,
        client_id_claim: str = "client_id",
        scope_claim: str = "scope",
    ) -> None:
        self.verifier = verifier
        self.sessions = sessions
        self.issuer = issuer
        self.client_id_claim = client_id_claim
        self.scope_claim = scope_claim
        # Ends quiet live streams of accounts that were switched off or changed.
        self.watch = AuthorisationWatch(sessions)

    async def close(self) -> None:
        await self.watch.close()

    async def authenticate(self, token: str) -> Principal:
        verified = await self.verifier.verify(token)
        return await self.principal_for(verified)

    async def principal_for(self, verified: VerifiedToken) -> Principal:
        claims = verified.claims
        client_id = _text_claim(claims, self.client_id_claim)
        subject = client_id or verified.subject
        async with read_only(self.sessions) as session:
            account = await accounts.get_by_subject(session, self.issuer, subject)
        if account is None:
            raise AccountNotRegistered("this token's subject has no account in the hub")
        if not account.active:
            raise AccountInactive("this account has been switched off")
        if account.role in CLIENT_ROLES and client_id is None:
            raise AccountNotRegistered("a client account needs a client-credentials token")
        granted = frozenset(account.allowed_scopes) & _scopes(claims.get(self.scope_claim))
        return Principal(
            account_id=account.id,
            subject=verified.subject,
            role=account.role,
            organisation_id=account.organisation_id,
            staff_id=account.staff_id,
            client_id=client_id if account.role in CLIENT_ROLES else None,
            scopes=granted if account.role in CLIENT_ROLES else frozenset(),
            expires_at=verified.expires_at,
        )

    async def still_valid(self, principal: Principal, now: datetime) -> bool:
        """Re-check before delivering a live event: token not expired, account still active
        and unchanged in role and organisation."""
        if now >= principal.expires_at:
            return False
        async with read_only(self.sessions) as session:
            account = await accounts.get_by_id(session, principal.account_id)
        return (
            account is not None
            and account.active
            and account.role == principal.role
            and account.organisation_id == principal.organisation_id
        )


def _text_claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def _scopes(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()
