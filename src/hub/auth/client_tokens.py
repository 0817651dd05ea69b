"""Which tokens are a partner system's own (OAuth client credentials), per identity provider.

A client account (partner or supplier system) is found by its OAuth client id; a person's
account by the token's `sub`. Deciding "this is a client token" from the mere presence of a
claim is unsafe: a user's token can carry `client_id` (a mapper in Keycloak) and every Entra ID
token carries `azp`, the app the person signed in to. Read that way, a coordinator signing in
through a partner's app would become the partner. So each provider is read by the evidence
*only* its client-credentials tokens carry:

`rfc9068` (default; the development issuer)
    RFC 9068 §2.2: a JWT access token carries `client_id`, and for a grant with no resource
    owner (client credentials) `sub` identifies the client itself. Client iff `client_id` is
    present and equals `sub`. Scopes: `scope`.
`keycloak`
    A client-credentials token is issued to the client's service-account user: its
    `preferred_username` is `service-account-<clientId>` (Keycloak's SERVICE_ACCOUNT_USER_PREFIX,
    usernames lower-cased) and the service-account client scope adds `client_id`; `azp` is the
    client too. Client iff all three agree. Scopes: `scope`.
`entra`
    Microsoft Entra ID v2 app-only tokens carry the optional claim `idtyp: "app"` (user tokens
    `"user"`), `azp` (v1: `appid`) naming the client, application permissions in `roles`, and no
    `scp`; delegated (user) tokens always carry `scp`. Client iff `idtyp` is `app`, or, with no
    `idtyp`, there is no `scp` and there are `roles` (Microsoft's own rule in its samples).
    Scopes: `roles`.
`cis2`
    NHS CIS2 Authentication supports only the authorisation code flow: every token is a
    person's. Never a client.

Sources are cited in the README (Identity section).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class TokenProfile(StrEnum):
    RFC9068 = "rfc9068"
    KEYCLOAK = "keycloak"
    ENTRA = "entra"
    CIS2 = "cis2"


KEYCLOAK_SERVICE_ACCOUNT_PREFIX = "service-account-"


@dataclass(frozen=True, slots=True)
class ClientToken:
    """A client-credentials token: the client it was issued to and the scopes it carries."""

    client_id: str
    scopes: frozenset[str]


def client_token(claims: Mapping[str, Any], profile: TokenProfile) -> ClientToken | None:
    """The client a client-credentials token was issued to; None for a person's token."""
    if profile is TokenProfile.RFC9068:
        client_id = _text(claims, "client_id")
        if client_id is not None and client_id == _text(claims, "sub"):
            return ClientToken(client_id, scopes(claims.get("scope")))
        return None
    if profile is TokenProfile.KEYCLOAK:
        client_id = _text(claims, "client_id")
        username = _text(claims, "preferred_username")
        if (
            client_id is not None
            and _text(claims, "azp") == client_id
            and username is not None
            and username.lower() == (KEYCLOAK_SERVICE_ACCOUNT_PREFIX + client_id).lower()
        ):
            return ClientToken(client_id, scopes(claims.get("scope")))
        return None
    if profile is TokenProfile.ENTRA:
        client_id = _text(claims, "azp") or _text(claims, "appid")
        idtyp = claims.get("idtyp")
        app_only = (
            idtyp == "app"
            if idtyp is not None
            else "scp" not in claims and bool(scopes(claims.get("roles")))
        )
        if client_id is not None and app_only and "scp" not in claims:
            return ClientToken(client_id, scopes(claims.get("roles")))
        return None
    return None  # CIS2: people only.


def scopes(value: object) -> frozenset[str]:
    """A scope claim as a set: a space-separated string (RFC 6749) or a list (Entra `roles`)."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None
