"""Bearer authentication at the HTTP edge: 401 with a challenge for bad tokens, 403 for
unknown or switched-off accounts, per-client rate limits with Retry-After."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from starlette.applications import Starlette

from hub.accounts.models import Account, Role
from hub.app import create_app
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import FixedClock
from tests.support.asgi import running_lifespan
from tests.support.identity import Identities

QUERY = {"query": "{ organisations { nodes { name } } }"}


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_a_registered_account_is_served(
    http: httpx.AsyncClient, identities: Identities
) -> None:
    token = await identities.token(Role.ADMIN)
    response = await http.post("/graphql", json=QUERY, headers=_bearer(token))
    assert response.status_code == 200
    assert response.json() == {"data": {"organisations": {"nodes": []}}}


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt", "token abc"]
)
async def test_unusable_authorization_headers_are_401_with_a_challenge(
    http: httpx.AsyncClient, header: str
) -> None:
    response = await http.post("/graphql", json=QUERY, headers={"authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["errors"][0]["extensions"]["code"].startswith(
        ("TOKEN_", "UNAUTHENTICATED")
    )


async def test_an_expired_token_is_401_token_expired(
    http: httpx.AsyncClient, identities: Identities, clock: FixedClock
) -> None:
    token = await identities.token(Role.ADMIN, ttl=timedelta(minutes=5))
    clock.advance(timedelta(minutes=5, seconds=61))  # past exp + 60 s leeway
    response = await http.post("/graphql", json=QUERY, headers=_bearer(token))
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"


async def test_a_good_token_for_an_unknown_subject_is_403(
    http: httpx.AsyncClient, identities: Identities
) -> None:
    token = identities.mint("nobody-we-know")
    response = await http.post("/graphql", json=QUERY, headers=_bearer(token))
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "ACCOUNT_NOT_REGISTERED"


async def test_a_switched_off_account_is_403_at_its_next_request(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory
) -> None:
    subject = await identities.register(Role.ADMIN)
    token = identities.mint(subject)
    assert (await http.post("/graphql", json=QUERY, headers=_bearer(token))).status_code == 200
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(Account).where(Account.subject == subject).values(active=False)
        )
    response = await http.post("/graphql", json=QUERY, headers=_bearer(token))
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "ACCOUNT_INACTIVE"


async def test_a_client_account_needs_a_client_credentials_token(
    http: httpx.AsyncClient, identities: Identities, provider: uuid.UUID
) -> None:
    subject = await identities.register(
        Role.PARTNER_CLIENT, organisation_id=provider, scopes=("referrals:read",)
    )
    user_style = identities.mint(subject)  # no client_id claim
    response = await http.post("/graphql", json=QUERY, headers=_bearer(user_style))
    assert response.status_code == 403


@pytest.fixture
async def limited_app(settings: Settings, clock: FixedClock) -> AsyncIterator[Starlette]:
    tight = settings.model_copy(update={"client_burst": 3, "client_rate_per_minute": 6})
    assert tight.database_url
    assert tight.redis_url
    app = create_app(tight, database_url=tight.database_url, redis_url=tight.redis_url, clock=clock)
    async with running_lifespan(app):
        yield app


async def test_clients_are_rate_limited_with_retry_after(
    limited_app: Starlette, sessions: SessionFactory, clock: FixedClock, provider: uuid.UUID
) -> None:
    identities = Identities(limited_app, sessions, clock)
    partner = await identities.token(
        Role.PARTNER_CLIENT, organisation_id=provider, scopes=("referrals:read",)
    )
    supplier = await identities.token(
        Role.SUPPLIER_CLIENT, organisation_id=provider, scopes=("changes:write",)
    )
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        statuses = [
            (await http.post("/graphql", json=QUERY, headers=_bearer(partner))).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = await http.post("/graphql", json=QUERY, headers=_bearer(partner))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) == 10  # 6 per minute: one token every 10 s
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # Another client has its own bucket.
        assert (
            await http.post("/graphql", json=QUERY, headers=_bearer(supplier))
        ).status_code == 200
        # Staff are not rate limited this way.
        staff = await identities.token(Role.COORDINATOR, organisation_id=provider)
        assert all(
            [
                (await http.post("/graphql", json=QUERY, headers=_bearer(staff))).status_code == 200
                for _ in range(5)
            ]
        )
