"""The limits are settings: an operator can tighten them without a code change."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from hub.app import create_app
from hub.config import Settings
from hub.kit.time import FixedClock
from tests.support.asgi import running_lifespan


@pytest.fixture
async def strict_app(settings: Settings, clock: FixedClock) -> AsyncIterator[Starlette]:
    strict = settings.model_copy(update={"graphql_max_depth": 3, "graphql_max_aliases": 2})
    assert strict.database_url
    assert strict.redis_url
    app = create_app(
        strict, database_url=strict.database_url, redis_url=strict.redis_url, clock=clock
    )
    async with running_lifespan(app):
        yield app


async def test_configured_limits_apply(strict_app: Starlette) -> None:
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        aliases = await http.post(
            "/graphql", json={"query": "{ a: __typename b: __typename c: __typename }"}
        )
        assert aliases.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_ALIASES"
        deep = await http.post(
            "/graphql", json={"query": "{ organisations { edges { node { name } } } }"}
        )
        assert deep.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
        shallow = await http.post("/graphql", json={"query": "{ hub { version } }"})
        assert "errors" not in shallow.json()
