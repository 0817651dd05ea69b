from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tests.support.live_server import serving


@pytest.fixture
async def live_url(app: Starlette) -> AsyncIterator[str]:
    """The app served over real HTTP on loopback."""
    async with serving(app) as url:
        yield url


@pytest.fixture
async def live_http(live_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_url, timeout=10) as client:
        yield client
