"""A person's token never becomes a client account, under every identity-provider profile.

Each profile (`HUB_AUTH_PROVIDER`) is served over real HTTP on loopback with tokens shaped as
that provider issues them (claims per the README's Identity section), signed by the hub's
development issuer. What the hub made of a token shows at `POST /fhir/ServiceRequest`, which
only partner clients may use: a partner gets past the door and is told its empty body is not a
referral (400); a coordinator is refused as a coordinator (403 forbidden); a token whose subject
has no account is refused as such (403 ACCOUNT_NOT_REGISTERED, through FHIR as `forbidden`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.app import create_app
from hub.auth.client_tokens import ClientToken, TokenProfile, client_token
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.kit.time import FixedClock
from tests.support.asgi import running_lifespan
from tests.support.identity import Identities
from tests.support.loopback import serving

PARTNER_CLIENT_ID = "gp-federation-system"
ENTRA_APP_ID = "6e0c1d2a-9b7f-4c55-8e2a-0f3b5a7c9d11"
FHIR_JSON = "application/fhir+json"


class Hub:
    """A hub read with one profile, listening on loopback, with a partner client account and a
    coordinator account registered."""

    def __init__(self, url: str, app: Starlette, coordinator: str, client_id: str) -> None:
        self.url = url
        self.app = app
        self.coordinator = coordinator
        self.client_id = client_id

    def mint(self, subject: str, **claims: Any) -> str:
        token: str = self.app.state.runtime.identity.dev_issuer.mint(subject, claims)
        return token

    async def what_am_i(self, token: str) -> str:
        """`partner`, `coordinator` or `unregistered`, from how the partner-only door answers."""
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.post(
                "/fhir/ServiceRequest",
                content=b"{}",
                headers={"authorization": f"Bearer {token}", "content-type": FHIR_JSON},
            )
        issue = response.json()["issue"][0]
        if response.status_code == 400:
            return "partner"
        assert response.status_code == 403, response.text
        if "coordinator" in issue["diagnostics"]:
            return "coordinator"
        assert issue["details"]["coding"][0]["code"] == "ACCOUNT_NOT_REGISTERED", issue
        return "unregistered"


HubFactory = Callable[[TokenProfile, str], Any]


@pytest.fixture
async def hub_with(
    settings: Settings, clock: FixedClock, sessions: SessionFactory, provider: uuid.UUID
) -> AsyncIterator[HubFactory]:
    opened: list[Any] = []

    async def open_hub(profile: TokenProfile, client_id: str) -> Hub:
        configured = settings.model_copy(update={"auth_provider": profile})
        assert configured.database_url
        assert configured.redis_url
        app = create_app(
            configured,
            database_url=configured.database_url,
            redis_url=configured.redis_url,
            clock=clock,
        )
        lifespan = running_lifespan(app)
        await lifespan.__aenter__()
        opened.append(lifespan)
        listener = serving(app)
        url = await listener.__aenter__()
        opened.append(listener)
        identities = Identities(app, sessions, clock)
        await identities.register(
            Role.PARTNER_CLIENT,
            organisation_id=provider,
            subject=client_id,
            scopes=("referrals:read", "referrals:write"),
        )
        coordinator = await identities.register(Role.COORDINATOR, organisation_id=provider)
        return Hub(url, app, coordinator, client_id)

    try:
        yield open_hub
    finally:
        for context in reversed(opened):
            await context.__aexit__(None, None, None)


# --- rfc9068 (the default, and the development issuer) ---------------------------------------


async def test_rfc9068_a_client_token_names_itself_in_sub_and_client_id(
    hub_with: HubFactory,
) -> None:
    hub = await hub_with(TokenProfile.RFC9068, PARTNER_CLIENT_ID)
    partner = hub.mint(PARTNER_CLIENT_ID, client_id=PARTNER_CLIENT_ID, scope="referrals:write")
    assert await hub.what_am_i(partner) == "partner"


async def test_rfc9068_a_coordinator_token_carrying_client_id_stays_a_coordinator(
    hub_with: HubFactory,
) -> None:
    hub = await hub_with(TokenProfile.RFC9068, PARTNER_CLIENT_ID)
    attack = hub.mint(hub.coordinator, client_id=PARTNER_CLIENT_ID, scope="referrals:write")
    assert await hub.what_am_i(attack) == "coordinator"
    stranger = hub.mint("someone-else", client_id=PARTNER_CLIENT_ID, scope="referrals:write")
    assert await hub.what_am_i(stranger) == "unregistered"
    # A person's token naming the client as its subject, without the client claim: refused.
    assert await hub.what_am_i(hub.mint(PARTNER_CLIENT_ID)) == "unregistered"


# --- keycloak ----------------------------------------------------------------------------------


def keycloak_service_account(hub: Hub) -> str:
    return hub.mint(
        str(uuid.uuid4()),  # the service-account user's id
        azp=hub.client_id,
        client_id=hub.client_id,
        preferred_username=f"service-account-{hub.client_id}",
        scope="profile email referrals:write",
    )


async def test_keycloak_a_service_account_token_is_the_client(hub_with: HubFactory) -> None:
    hub = await hub_with(TokenProfile.KEYCLOAK, PARTNER_CLIENT_ID)
    assert await hub.what_am_i(keycloak_service_account(hub)) == "partner"


async def test_keycloak_a_person_signed_in_through_the_partner_app_stays_a_person(
    hub_with: HubFactory,
) -> None:
    hub = await hub_with(TokenProfile.KEYCLOAK, PARTNER_CLIENT_ID)
    # Signed in through the partner's app (azp), with a mapper adding client_id as well.
    attack = hub.mint(
        hub.coordinator,
        azp=hub.client_id,
        client_id=hub.client_id,
        preferred_username="alice",
        scope="openid referrals:write",
    )
    assert await hub.what_am_i(attack) == "coordinator"
    # The RFC 9068 shape is not enough for Keycloak: no service-account user.
    rfc_shaped = hub.mint(hub.client_id, client_id=hub.client_id, scope="referrals:write")
    assert await hub.what_am_i(rfc_shaped) == "unregistered"


# --- Microsoft Entra ID ----------------------------------------------------------------------


async def test_entra_an_app_only_token_is_the_client(hub_with: HubFactory) -> None:
    hub = await hub_with(TokenProfile.ENTRA, ENTRA_APP_ID)
    service_principal = str(uuid.uuid4())
    with_idtyp = hub.mint(
        service_principal,
        oid=service_principal,
        azp=ENTRA_APP_ID,
        azpacr="1",
        idtyp="app",
        roles=["referrals:write"],
        ver="2.0",
    )
    assert await hub.what_am_i(with_idtyp) == "partner"
    # Without the optional idtyp claim: roles and no scp.
    without_idtyp = hub.mint(
        service_principal, oid=service_principal, azp=ENTRA_APP_ID, roles=["referrals:write"]
    )
    assert await hub.what_am_i(without_idtyp) == "partner"
    # v1 tokens name the client in appid.
    v1 = hub.mint(service_principal, appid=ENTRA_APP_ID, idtyp="app", roles=["referrals:write"])
    assert await hub.what_am_i(v1) == "partner"


async def test_entra_a_person_signed_in_through_the_partner_app_stays_a_person(
    hub_with: HubFactory,
) -> None:
    hub = await hub_with(TokenProfile.ENTRA, ENTRA_APP_ID)
    # Every Entra token carries azp; a person's carries scp (delegated permissions).
    for claims in (
        {"idtyp": "user", "scp": "access_as_user"},
        {"scp": "access_as_user"},
        {"scp": "access_as_user", "roles": ["referrals:write"]},
        {"idtyp": "app", "scp": "access_as_user", "roles": ["referrals:write"]},
    ):
        attack = hub.mint(hub.coordinator, azp=ENTRA_APP_ID, **claims)
        assert await hub.what_am_i(attack) == "coordinator", claims


# --- NHS CIS2 ----------------------------------------------------------------------------------


async def test_cis2_has_no_client_tokens(hub_with: HubFactory) -> None:
    hub = await hub_with(TokenProfile.CIS2, PARTNER_CLIENT_ID)
    for token in (
        hub.mint(PARTNER_CLIENT_ID, client_id=PARTNER_CLIENT_ID, scope="referrals:write"),
        keycloak_service_account(hub),
        hub.mint(str(uuid.uuid4()), azp=PARTNER_CLIENT_ID, idtyp="app", roles=["x"]),
    ):
        assert await hub.what_am_i(token) == "unregistered"
    person = hub.mint(hub.coordinator, client_id=PARTNER_CLIENT_ID, azp=PARTNER_CLIENT_ID)
    assert await hub.what_am_i(person) == "coordinator"


# --- the rule itself, and the retired settings -----------------------------------------------


def test_scopes_come_from_the_claim_each_provider_uses() -> None:
    assert client_token(
        {"sub": "c", "client_id": "c", "scope": "a b", "scp": "x"}, TokenProfile.RFC9068
    ) == ClientToken("c", frozenset({"a", "b"}))
    assert client_token(
        {"sub": "s", "azp": "c", "idtyp": "app", "roles": ["a"], "scope": "x"},
        TokenProfile.ENTRA,
    ) == ClientToken("c", frozenset({"a"}))


@pytest.mark.parametrize("name", ["HUB_AUTH_CLIENT_ID_CLAIM", "HUB_AUTH_SCOPE_CLAIM"])
def test_the_retired_claim_settings_stop_the_hub_from_starting(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "azp")
    with pytest.raises(ValidationError, match="HUB_AUTH_PROVIDER"):
        Settings()
