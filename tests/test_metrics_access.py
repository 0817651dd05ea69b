"""`/metrics` is read only with its own token, and strangers cannot write it: label values come
from signed-in callers within caps, from trusted-document names, or from fixed sets. Everything
goes over real HTTP on loopback."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.app import create_app
from hub.config import Environment, Settings
from hub.db.engine import SessionFactory
from hub.kit.time import FixedClock
from tests.mobile.app_client import document_id
from tests.support.asgi import running_lifespan
from tests.support.identity import Identities
from tests.support.loopback import raw_request, serving

METRICS_TOKEN = "m" * 24 + uuid.uuid4().hex
PER_CALLER = 3
IN_ALL = 5


@pytest.fixture
async def hub(settings: Settings, clock: FixedClock) -> AsyncIterator[tuple[str, Starlette]]:
    configured = settings.model_copy(
        update={
            "metrics_token": METRICS_TOKEN,
            "metrics_names_per_caller": PER_CALLER,
            "metrics_operation_names": IN_ALL,
        }
    )
    assert configured.database_url
    assert configured.redis_url
    app = create_app(
        configured,
        database_url=configured.database_url,
        redis_url=configured.redis_url,
        clock=clock,
    )
    async with running_lifespan(app), serving(app) as url:
        yield url, app


async def scrape(url: str, token: str | None = METRICS_TOKEN) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url) as client:
        return await client.get("/metrics", headers=headers)


async def operation_labels(url: str) -> set[str]:
    response = await scrape(url)
    assert response.status_code == 200, response.text
    return {
        sample.labels["operation"]
        for family in text_string_to_metric_families(response.text)
        if family.name == "hub_graphql_operations"
        for sample in family.samples
    }


async def run(url: str, name: str, token: str | None = None, **body: object) -> int:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    payload = {"query": f"query {name} {{ __typename }}", "operationName": name, **body}
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/graphql", json=payload, headers=headers)
    return response.status_code


# --- reading -----------------------------------------------------------------------------------


async def test_metrics_need_the_metrics_token(hub: tuple[str, Starlette]) -> None:
    url, _ = hub
    for token in (None, "wrong-" + METRICS_TOKEN, METRICS_TOKEN[:-1]):
        refused = await scrape(url, token)
        assert refused.status_code == 401, token
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "hub_http_requests_total" not in refused.text
    assert (await scrape(url)).status_code == 200


async def test_an_identity_token_does_not_open_metrics(
    hub: tuple[str, Starlette], sessions: SessionFactory, clock: FixedClock
) -> None:
    url, app = hub
    admin = await Identities(app, sessions, clock).token(Role.ADMIN)
    assert (await scrape(url, admin)).status_code == 401


async def test_production_without_a_metrics_token_refuses_metrics(
    settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    production = settings.model_copy(
        update={
            "environment": Environment.PRODUCTION,
            "auth_jwks_file": jwks,
            "field_encryption_key": base64.b64encode(os.urandom(32)).decode(),
        }
    )
    assert production.database_url
    assert production.redis_url
    app = create_app(
        production,
        database_url=production.database_url,
        redis_url=production.redis_url,
        clock=clock,
    )
    async with running_lifespan(app), serving(app) as url:
        refused = await scrape(url, None)
    assert refused.status_code == 403
    assert "HUB_METRICS_TOKEN" in refused.text


async def test_without_a_token_metrics_stay_open_outside_production(
    app: Starlette,
) -> None:
    async with serving(app) as url:
        assert (await scrape(url, None)).status_code == 200


# --- writing -----------------------------------------------------------------------------------


async def test_anonymous_junk_names_never_become_labels(
    hub: tuple[str, Starlette], sessions: SessionFactory, clock: FixedClock
) -> None:
    url, app = hub
    for index in range(210):
        assert await run(url, f"Junk{index}") == 200
    admin = await Identities(app, sessions, clock).token(Role.ADMIN)
    assert await run(url, "RealOperation", admin) == 200
    labels = await operation_labels(url)
    assert labels == {"unauthenticated", "RealOperation"}


async def test_each_office_account_adds_a_bounded_number_of_names(
    hub: tuple[str, Starlette], sessions: SessionFactory, clock: FixedClock, provider: uuid.UUID
) -> None:
    url, app = hub
    identities = Identities(app, sessions, clock)
    noisy = await identities.token(Role.COORDINATOR, organisation_id=provider)
    for index in range(PER_CALLER + 4):
        await run(url, f"Noisy{index}", noisy)
    manager = await identities.token(Role.REGISTERED_MANAGER, organisation_id=provider)
    await run(url, "ManagerView", manager)
    await run(url, "Noisy0", manager)  # an existing name is shared, not added again
    labels = await operation_labels(url)
    assert labels == {
        *(f"Noisy{i}" for i in range(PER_CALLER)),
        "other",
        "ManagerView",
    }
    # The total cap holds across accounts: IN_ALL names, then "other".
    admin = await identities.token(Role.ADMIN)
    for index in range(PER_CALLER):
        await run(url, f"Admin{index}", admin)
    learned = (await operation_labels(url)) - {"other"}
    assert len(learned) == IN_ALL


async def test_clients_name_only_known_operations_and_trusted_documents(
    hub: tuple[str, Starlette], sessions: SessionFactory, clock: FixedClock, provider: uuid.UUID
) -> None:
    url, app = hub
    identities = Identities(app, sessions, clock)
    partner = await identities.token(
        Role.PARTNER_CLIENT, organisation_id=provider, scopes=("referrals:read",)
    )
    await run(url, "PartnerInvented", partner)
    # A trusted document is labelled by its manifest name, whatever operationName is sent.
    async with httpx.AsyncClient(base_url=url) as client:
        await client.post(
            "/graphql",
            json={"documentId": document_id("RotaPull"), "operationName": "Disguised"},
            headers={"authorization": f"Bearer {partner}"},
        )
    labels = await operation_labels(url)
    assert labels == {"other", "RotaPull"}


async def test_strange_http_methods_count_as_other(hub: tuple[str, Starlette]) -> None:
    url, _ = hub
    for index in range(5):
        status, _ = await raw_request(
            url,
            f"JUNK{index} /graphql HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode(),
        )
        assert status == 405
    text = (await scrape(url)).text
    assert 'method="other"' in text
    assert "JUNK" not in text
