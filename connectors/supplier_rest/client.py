"""The supplier REST connector: five pull feeds and the signed visit-event webhook.

Pull. Each feed (`staff`, `packages`, `visits`, `rota_changes`, `visit_events`) is a
`PullSource`: `pull(cursor)` fetches one page through `connectors.http` (timeouts, retries,
breaker, whole bodies) and maps it. The cursor is the supplier's own opaque keyset cursor; the
first pull of a feed (cursor None) sends `updated_since` when the connector was given a start
time, otherwise it starts from the beginning. A page never moves the cursor backwards: when the
supplier returns no cursor on an empty page, the one we sent is returned again.

Pull the feeds in `feeds()` order — staff and packages before visits, visits before rota
changes and visit events — because records refer to each other by external id and the hub
resolves references against what it already holds (EVV aggregators impose the same load
order: "Client/Worker not found").

Push. `SupplierWebhookReceiver.receive` verifies the signature and timestamp, reads the
delivery id from the signed envelope, claims it through the hub's `ReplayGuard`, then maps the
visit event.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import httpx

from connectors.base import (
    Delivery,
    Page,
    PullSource,
    RawPayload,
    ReplayGuard,
    TruncatedBody,
    UnmappablePayload,
)
from connectors.clock import Clock, SystemClock
from connectors.http import (
    DEFAULT_TIMEOUTS,
    BreakerPolicy,
    ResilientClient,
    RetryPolicy,
    UpstreamStatus,
    decode_json,
)
from connectors.records.supplier import (
    CarePackageSummary,
    RotaChange,
    StaffMember,
    SupplierRecord,
    Visit,
    VisitEvent,
)
from connectors.supplier_rest import mapping
from connectors.webhooks import DEFAULT_TOLERANCE, WebhookVerifier, claim_once

RecordT = TypeVar("RecordT")

API_PREFIX = "/v1"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


class SupplierFeed(Generic[RecordT]):
    """One supplier feed pulled by cursor (a `PullSource`)."""

    def __init__(
        self,
        http: ResilientClient,
        *,
        url: str,
        feed_mapping: mapping.FeedMapping[RecordT],
        token: str,
        page_size: int,
        initial_since: datetime | None,
    ) -> None:
        self._http = http
        self._url = url
        self._mapping = feed_mapping
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._page_size = page_size
        self._initial_since = initial_since

    @property
    def source_system(self) -> str:
        return self._http.name

    @property
    def feed(self) -> str:
        return self._mapping.name

    async def pull(self, cursor: str | None) -> Page[RecordT]:
        params = {"limit": str(self._page_size)}
        if cursor is not None:
            params["cursor"] = cursor
        elif self._initial_since is not None:
            params["updated_since"] = self._initial_since.astimezone(UTC).isoformat()
        fetched = await self._http.get_json(self._url, params=params, headers=self._headers)
        page = mapping.map_page(self._mapping, fetched.raw, fetched.data)
        if page.next_cursor is None and cursor is not None:
            page = dataclasses.replace(page, next_cursor=cursor)
        return page


class SupplierRestConnector:
    """The pull side of one supplier system.

    `client` is the hub's `httpx.AsyncClient` for this upstream (pool, TLS, proxies; a
    `MockTransport` in unit tests); the connector never closes it. `source_system` names the
    supplier (e.g. `supplier:acme-roster`) and is stamped on every record and payload.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        source_system: str,
        base_url: str,
        token: str,
        page_size: int = DEFAULT_PAGE_SIZE,
        initial_since: datetime | None = None,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        timeouts: httpx.Timeout = DEFAULT_TIMEOUTS,
        clock: Clock | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if initial_since is not None and initial_since.utcoffset() is None:
            raise ValueError("initial_since must be timezone-aware")
        self.http = ResilientClient(
            client,
            name=source_system,
            retry=retry,
            breaker=breaker,
            timeouts=timeouts,
            clock=clock,
            rand=rand,
        )
        root = base_url.rstrip("/") + API_PREFIX

        def feed(path: str, feed_mapping: mapping.FeedMapping[RecordT]) -> SupplierFeed[RecordT]:
            return SupplierFeed(
                self.http,
                url=f"{root}/{path}",
                feed_mapping=feed_mapping,
                token=token,
                page_size=page_size,
                initial_since=initial_since,
            )

        self.staff: SupplierFeed[StaffMember] = feed("staff", mapping.STAFF)
        self.packages: SupplierFeed[CarePackageSummary] = feed("packages", mapping.PACKAGES)
        self.visits: SupplierFeed[Visit] = feed("visits", mapping.VISITS)
        self.rota_changes: SupplierFeed[RotaChange] = feed("rota-changes", mapping.ROTA_CHANGES)
        self.visit_events: SupplierFeed[VisitEvent] = feed("visit-events", mapping.VISIT_EVENTS)

    @property
    def source_system(self) -> str:
        return self.http.name

    def feeds(self) -> tuple[PullSource[SupplierRecord], ...]:
        """Every feed, in the order to pull them (referenced records first)."""
        return (self.staff, self.packages, self.visits, self.rota_changes, self.visit_events)

    def status(self) -> UpstreamStatus:
        return self.http.status()


class SupplierWebhookReceiver:
    """Receives the supplier's signed `visit_event.recorded` deliveries (a `WebhookReceiver`).

    `secrets` are every secret currently valid for this supplier: during a rotation, the new
    one and the old one.
    """

    def __init__(
        self,
        *,
        source_system: str,
        secrets: Sequence[bytes],
        tolerance: timedelta = DEFAULT_TOLERANCE,
        clock: Clock | None = None,
    ) -> None:
        self._source_system = source_system
        self._clock = clock or SystemClock()
        self._verifier = WebhookVerifier(secrets, tolerance=tolerance, clock=self._clock)

    @property
    def source_system(self) -> str:
        return self._source_system

    async def receive(
        self, headers: Mapping[str, str], body: bytes, *, guard: ReplayGuard
    ) -> Delivery[VisitEvent]:
        """Raises `WebhookUnauthenticated` (answer 401), `ReplayedDelivery` (answer 200, apply
        nothing) or `UnmappablePayload` (authentic: keep it, open a data-quality case)."""
        signed = self._verifier.verify(headers, body)
        content_type = next(
            (value for key, value in headers.items() if key.lower() == "content-type"), ""
        )
        raw = RawPayload(
            source_system=self._source_system,
            locator="webhook delivery",
            received_at=self._clock.now(),
            content_type=content_type,
            body=signed.body,
        )
        try:
            document = decode_json(raw)
        except TruncatedBody:
            # The signature covered these exact bytes, so the sender signed an unfinished
            # document: re-sending will not complete it.
            raise UnmappablePayload(
                payload=raw, path="$", reason="not valid JSON: ends before the document does"
            ) from None
        envelope = mapping.read_delivery_envelope(raw, document)
        raw = dataclasses.replace(raw, locator=f"webhook delivery {envelope.delivery_id}")
        await claim_once(
            guard, self._source_system, envelope.delivery_id, received_at=raw.received_at
        )
        event = mapping.map_visit_event_delivery(raw, envelope)
        return Delivery(
            source_system=self._source_system,
            delivery_id=envelope.delivery_id,
            signed_at=signed.signed_at,
            records=(event,),
            raw=raw,
        )
