"""A provider whose four packages the reference supplier server rosters, a connector instance
for it, and the reference server itself on real loopback HTTP.

The hub's packages carry the commissioner references the reference server's packages send
(`LCC-HC-…`), which is how the connector links them. Connector time (backoff, Retry-After, the
breaker's cool-down) runs on a `ManualClock` so waits pass instantly and can be asserted; the
hub's own clock is the `clock` fixture (2026-11-23 09:00 UTC).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connectors.clock import ManualClock
from connectors.http import RetryPolicy
from connectors.supplier_rest.reference_server import (
    DEFAULT_TOKEN,
    DEFAULT_WEBHOOK_SECRET,
    create_app,
)
from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.integrations import polling, service
from hub.integrations.health import BreakerSettings
from hub.integrations.models import ConnectorKind
from hub.kit.time import FixedClock
from hub.organisations.models import OrganisationKind
from hub.tenancy import AccessScope
from tests import builders
from tests.connectors.servers import ReferenceServerHandle, ServerThread

CONNECTOR = "acme-roster"
SECRETS_ENV = "CONNECTOR_ACME_ROSTER_WEBHOOK_SECRETS"
TOKEN_ENV = "CONNECTOR_ACME_ROSTER_TOKEN"
REFERENCES = ("LCC-HC-004211", "LCC-HC-004212", "LCC-HC-004230", "LCC-HC-004241")
ENVIRON = {
    SECRETS_ENV: DEFAULT_WEBHOOK_SECRET.decode(),
    TOKEN_ENV: DEFAULT_TOKEN,
    # A second instance some tests add, pointed at a dead upstream.
    "CONNECTOR_DEAD_ROSTER_TOKEN": DEFAULT_TOKEN,
}


@dataclass
class Supplied:
    """The provider side of the world the reference server describes."""

    provider_id: uuid.UUID
    contract_id: uuid.UUID
    package_ids: dict[str, uuid.UUID]
    instance_id: uuid.UUID


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def reference_server(manual_clock: ManualClock) -> Iterator[ReferenceServerHandle]:
    thread = ServerThread(create_app(clock=manual_clock))
    thread.start()
    try:
        yield ReferenceServerHandle(thread, DEFAULT_TOKEN)
    finally:
        thread.stop()


@pytest.fixture
def connector_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The instance's secrets, in this process's environment (where the webhook route reads
    them) and as a mapping (handed to poll runs)."""
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    return dict(ENVIRON)


async def make_world(
    sessions: SessionFactory,
    clock: FixedClock,
    base_url: str,
    *,
    name: str = CONNECTOR,
    reference_suffix: str = "",
) -> Supplied:
    """References must be unique in the hub: a second world suffixes them (and so its packages
    do not match the reference server's)."""
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(
            session, kind=OrganisationKind.PROVIDER, name=f"Provider for {name}"
        )
        contract = await builders.create_contract(session, provider=provider)
        package_ids = {}
        for reference in REFERENCES:
            package = await builders.create_package(
                session, contract=contract, reference=reference + reference_suffix
            )
            package_ids[reference] = package.id
        instance = await service.register_instance(
            session,
            AccessScope.system(),
            organisation_id=provider.id,
            kind=ConnectorKind.SUPPLIER_REST,
            name=name,
            base_url=base_url,
            webhook_secrets_env=None,
            credentials_env=None,
            poll_interval_seconds=300,
            enabled=True,
            actor="test",
            clock=clock,
        )
    return Supplied(provider.id, contract.id, package_ids, instance.id)


@pytest.fixture
async def supplied(
    sessions: SessionFactory, clock: FixedClock, reference_server: ReferenceServerHandle
) -> Supplied:
    return await make_world(sessions, clock, reference_server.url)


@pytest.fixture
async def connector_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


POLL_SETTINGS = polling.PollSettings(
    breaker=BreakerSettings(
        failure_threshold=3,
        cool_down=timedelta(seconds=30),
        lease=timedelta(minutes=10),
    ),
    retry=RetryPolicy(max_attempts=3, base_backoff=0.5, max_retry_after=5),
    timeouts=httpx.Timeout(2.0, connect=1.0),
    page_size=10,
    max_pages=50,
)


class Poller:
    """Runs poll runs as the worker job would, with the test's clocks and environment."""

    def __init__(
        self,
        sessions: SessionFactory,
        clock: FixedClock,
        manual_clock: ManualClock,
        client: httpx.AsyncClient,
        supplied: Supplied,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.manual_clock = manual_clock
        self.client = client
        self.supplied = supplied

    async def __call__(
        self,
        settings: polling.PollSettings = POLL_SETTINGS,
        *,
        instance_id: uuid.UUID | None = None,
        environ: dict[str, str] | None = None,
    ) -> polling.RunReport:
        return await polling.poll_instance(
            self.sessions,
            instance_id=instance_id or self.supplied.instance_id,
            settings=settings,
            clock=self.clock,
            http=self.client,
            trigger="test",
            connector_clock=self.manual_clock,
            rand=lambda: 0.5,
            environ=ENVIRON if environ is None else environ,
        )

    async def run_with_environ(self, environ: dict[str, str]) -> polling.RunReport:
        return await self(environ=environ)


@pytest.fixture
def poll(
    sessions: SessionFactory,
    clock: FixedClock,
    manual_clock: ManualClock,
    connector_http: httpx.AsyncClient,
    supplied: Supplied,
) -> Poller:
    return Poller(sessions, clock, manual_clock, connector_http, supplied)


def office_scope(supplied: Supplied) -> AccessScope:
    return AccessScope(Role.COORDINATOR, supplied.provider_id, None)
