"""Bearer token → Principal: verify the token, then find the account it names.

    AuthenticationFailed(HubError)        401: no usable token
    AccountNotRegistered(Forbidden)       403: a good token for a subject the hub does not know
    AccountInactive(Forbidden)            403: the account was switched off
Token verification failures (hub.auth.tokens.TokenError) are 401s with their own codes.

Whether a token is a client's (client credentials) or a person's is decided per identity
provider by `hub.auth.client_tokens`, never by the mere presence of a claim: a person's token
is looked up by `sub` and can never reach a client account, and a client token can never reach
a person's account.
"""

from __future__ import annotations

from datetime import datetime

from hub.accounts import repository as accounts
from hub.accounts.models import Role
from hub.auth.client_tokens import TokenProfile, client_token
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
        profile: TokenProfile = TokenProfile.RFC9068,
    ) -> None:
        self.verifier = verifier
        self.sessions = sessions
        self.issuer = issuer
        self.profile = profile
        # Ends quiet live streams of accounts that were switched off or changed.
        self.watch = AuthorisationWatch(sessions)

    async def close(self) -> None:
        await self.watch.close()

    async def authenticate(self, token: str) -> Principal:
        verified = await self.verifier.verify(token)
        return await self.principal_for(verified)

    async def principal_for(self, verified: VerifiedToken) -> Principal:
        client = client_token(verified.claims, self.profile)
        subject = client.client_id if client is not None else verified.subject
        async with read_only(self.sessions) as session:
            account = await accounts.get_by_subject(session, self.issuer, subject)
        if account is None:
            raise AccountNotRegistered("this token's subject has no account in the hub")
        if not account.active:
            raise AccountInactive("this account has been switched off")
        is_client_account = account.role in CLIENT_ROLES
        if is_client_account and client is None:
            raise AccountNotRegistered(
                "a client account needs a client-credentials token; this token is a person's"
                f" (as HUB_AUTH_PROVIDER={self.profile.value} reads it)"
            )
        if client is not None and not is_client_account:
            raise AccountNotRegistered("a client-credentials token cannot act as a person")
        client_id, granted = None, frozenset[str]()
        if client is not None:
            client_id, granted = client.client_id, frozenset(account.allowed_scopes) & client.scopes
        return Principal(
            account_id=account.id,
            subject=verified.subject,
            role=account.role,
            organisation_id=account.organisation_id,
            staff_id=account.staff_id,
            client_id=client_id,
            scopes=granted,
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
