from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from connectors.clock import ManualClock
from connectors.http import DEFAULT_TIMEOUTS, BreakerPolicy, RetryPolicy
from connectors.supplier_rest import SupplierRestConnector
from connectors.supplier_rest.reference_server import DEFAULT_TOKEN, create_app
from tests.connectors.servers import ReferenceServerHandle, ServerThread

SOURCE = "supplier:reference"


@pytest.fixture
def manual_clock() -> ManualClock:
    """Connector time: sleeps and cool-downs pass instantly; network time stays real."""
    return ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def reference_server() -> Iterator[ReferenceServerHandle]:
    """A fresh reference server (seeded data, no faults) on a free loopback port."""
    thread = ServerThread(create_app())
    thread.start()
    try:
        yield ReferenceServerHandle(thread, DEFAULT_TOKEN)
    finally:
        thread.stop()


@pytest.fixture
async def connector_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


class ConnectorFactory:
    """Builds connectors over the shared client and the manual clock, with jitter fixed at half
    the backoff ceiling so waits are exact; policies are small so tests stay short."""

    def __init__(self, client: httpx.AsyncClient, clock: ManualClock) -> None:
        self._client = client
        self._clock = clock

    def __call__(
        self,
        base_url: str,
        *,
        token: str = DEFAULT_TOKEN,
        page_size: int = 10,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        timeouts: httpx.Timeout = DEFAULT_TIMEOUTS,
        initial_since: datetime | None = None,
    ) -> SupplierRestConnector:
        return SupplierRestConnector(
            self._client,
            source_system=SOURCE,
            base_url=base_url,
            token=token,
            page_size=page_size,
            initial_since=initial_since,
            retry=retry or RetryPolicy(max_attempts=3, base_backoff=0.5),
            breaker=breaker or BreakerPolicy(failure_threshold=5, cool_down=30),
            timeouts=timeouts,
            clock=self._clock,
            rand=lambda: 0.5,
        )


@pytest.fixture
def make_connector(
    connector_http: httpx.AsyncClient, manual_clock: ManualClock
) -> ConnectorFactory:
    return ConnectorFactory(connector_http, manual_clock)
