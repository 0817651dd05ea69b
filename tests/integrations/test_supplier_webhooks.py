"""`POST /webhooks/{connector}`: signed visit events from the supplier, kept durably, answered
quickly, applied once on the worker."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import Job, JobStatus
from sqlalchemy import func, select

from connectors.supplier_rest.reference_server import DEFAULT_WEBHOOK_SECRET
from connectors.webhooks import SIGNATURE_HEADER, sign
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.models import Event
from hub.integrations import inbound, service
from hub.integrations.models import InboundPayload, InboundStatus
from hub.kit.time import FixedClock
from hub.tenancy import AccessScope
from hub.visits.models import Visit, VisitFact
from tests.integrations.conftest import CONNECTOR, SECRETS_ENV, Poller, Supplied

URL = f"/webhooks/{CONNECTOR}"
NEW_SECRET = b"rotated-webhook-secret-abcdefghijklmnopqrstuvwxyz"


def delivery(delivery_id: str = "dlv-1", **event: Any) -> bytes:
    data = {
        "id": f"EVT-{delivery_id}",
        "visit_id": "VIS-104",
        "staff_id": "STF-1001",
        "kind": "check_in",
        "occurred_at": "2026-11-23T08:59:40Z",
        "recorded_at": "2026-11-23T09:00:00Z",
        "method": "gps",
        "location": {"latitude": 53.79, "longitude": -1.54, "accuracy_m": 8.0},
        "updated_at": "2026-11-23T09:00:00Z",
        **event,
    }
    envelope = {
        "delivery_id": delivery_id,
        "type": "visit_event.recorded",
        "created_at": "2026-11-23T09:00:00Z",
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def headers(
    body: bytes, clock: FixedClock, *, secret: bytes = DEFAULT_WEBHOOK_SECRET, skew: int = 0
) -> dict[str, str]:
    timestamp = int(clock.now().timestamp()) + skew
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret, timestamp=timestamp),
    }


@pytest.fixture
async def arq_redis(redis_url: str) -> Any:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        yield pool
    finally:
        await pool.aclose()


@pytest.fixture
async def rostered(poll: Poller, connector_env: dict[str, str]) -> Supplied:
    """Staff, packages and visits pulled first, so a visit event has a visit to land on."""
    report = await poll()
    assert report.error is None
    return poll.supplied


async def _payloads(sessions: SessionFactory) -> list[InboundPayload]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(InboundPayload)
                .where(InboundPayload.channel == "webhook")
                .order_by(InboundPayload.received_at, InboundPayload.id)
            )
        )


async def _visit_104(sessions: SessionFactory, supplied: Supplied) -> Visit:
    async with sessions() as session:
        visit = await session.scalar(
            select(Visit).where(Visit.idempotency_key == f"supplier:{CONNECTOR}:VIS-104")
        )
        assert visit is not None
        return visit


async def test_a_signed_delivery_is_kept_answered_and_applied_once_on_the_worker(
    http: httpx.AsyncClient,
    rostered: Supplied,
    sessions: SessionFactory,
    clock: FixedClock,
    arq_redis: ArqRedis,
) -> None:
    body = delivery()
    answer = await http.post(URL, content=body, headers=headers(body, clock))
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "accepted"
    (kept,) = await _payloads(sessions)
    assert kept.body == body
    assert kept.status is InboundStatus.RECEIVED
    assert answer.json()["payload_id"] == str(kept.id)
    job = Job(f"integrations.process_inbound:{kept.id}", arq_redis)
    assert await job.status() is JobStatus.queued

    # The worker's job body, twice (arq runs at least once).
    assert await inbound.process_inbound(sessions, kept.id, clock=clock) == "applied"
    assert await inbound.process_inbound(sessions, kept.id, clock=clock) == "applied"
    visit = await _visit_104(sessions, rostered)
    assert visit.checked_in_at is not None
    async with sessions() as session:
        facts = (
            await session.scalars(select(VisitFact).where(VisitFact.visit_id == visit.id))
        ).all()
        assert len(facts) == 1
        assert facts[0].source == f"supplier:{CONNECTOR}"
        assert facts[0].verification_method == "gps"


async def test_a_replayed_delivery_is_answered_and_changes_nothing(
    http: httpx.AsyncClient, rostered: Supplied, sessions: SessionFactory, clock: FixedClock
) -> None:
    body = delivery()
    first = await http.post(URL, content=body, headers=headers(body, clock))
    clock.advance(timedelta(seconds=20))
    again = await http.post(URL, content=body, headers=headers(body, clock))
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["payload_id"] == first.json()["payload_id"]
    assert len(await _payloads(sessions)) == 1


async def test_bad_signature_and_stale_timestamp_are_refused_and_nothing_is_kept(
    http: httpx.AsyncClient, rostered: Supplied, sessions: SessionFactory, clock: FixedClock
) -> None:
    body = delivery()
    forged = await http.post(URL, content=body, headers=headers(body, clock, secret=NEW_SECRET))
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "webhook_bad_signature"
    tampered = await http.post(URL, content=body + b" ", headers=headers(body, clock))
    assert tampered.status_code == 401
    stale = await http.post(URL, content=body, headers=headers(body, clock, skew=-301))
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "webhook_stale_timestamp"
    early = await http.post(URL, content=body, headers=headers(body, clock, skew=301))
    assert early.status_code == 401
    unsigned = await http.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    assert await _payloads(sessions) == []
    # Inside the window, at its edge, it is accepted.
    edge = await http.post(URL, content=body, headers=headers(body, clock, skew=-300))
    assert edge.status_code == 202


async def test_several_secrets_are_live_during_a_rotation(
    http: httpx.AsyncClient,
    rostered: Supplied,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRETS_ENV, f"{DEFAULT_WEBHOOK_SECRET.decode()},{NEW_SECRET.decode()}")
    old = delivery("dlv-old")
    new = delivery("dlv-new", id="EVT-new", kind="check_out", occurred_at="2026-11-23T09:00:00Z")
    assert (await http.post(URL, content=old, headers=headers(old, clock))).status_code == 202
    answer = await http.post(URL, content=new, headers=headers(new, clock, secret=NEW_SECRET))
    assert answer.status_code == 202


async def test_malformed_and_unmappable_deliveries_are_kept_and_surfaced(
    http: httpx.AsyncClient, rostered: Supplied, sessions: SessionFactory, clock: FixedClock
) -> None:
    garbage = b'{"delivery_id": "dlv-9", "type": "visit_event.recorded", "data": {'
    answer = await http.post(URL, content=garbage, headers=headers(garbage, clock))
    assert answer.status_code == 202
    assert answer.json()["status"] == "rejected"
    assert answer.json()["errors"][0]["path"] == "$"
    again = await http.post(URL, content=garbage, headers=headers(garbage, clock))
    assert again.status_code == 202
    assert again.json()["payload_id"] == answer.json()["payload_id"]

    no_location = delivery("dlv-10", location=None)
    unmappable = await http.post(URL, content=no_location, headers=headers(no_location, clock))
    assert unmappable.status_code == 202
    assert unmappable.json()["errors"][0]["path"] == "$.data.location"
    resent = await http.post(URL, content=no_location, headers=headers(no_location, clock))
    assert resent.status_code == 200  # claimed: the sender stops, nothing new is opened

    kept = await _payloads(sessions)
    assert [payload.status for payload in kept] == [InboundStatus.REJECTED] * 2
    assert kept[0].body == garbage
    async with sessions() as session:
        events = (
            await session.scalars(select(Event).where(Event.type == "integration.payload_rejected"))
        ).all()
    assert sorted(event.subject_id for event in events) == sorted(p.id for p in kept)
    assert all(event.organisation_id == rostered.provider_id for event in events)


async def test_a_delivery_for_an_unknown_visit_is_rejected_on_the_worker_and_retried(
    http: httpx.AsyncClient, rostered: Supplied, sessions: SessionFactory, clock: FixedClock
) -> None:
    body = delivery("dlv-20", visit_id="VIS-999")
    answer = await http.post(URL, content=body, headers=headers(body, clock))
    assert answer.status_code == 202
    (kept,) = await _payloads(sessions)
    assert await inbound.process_inbound(sessions, kept.id, clock=clock) == "rejected"
    async with sessions() as session:
        payload = await session.get(InboundPayload, kept.id)
        assert payload is not None
        assert payload.errors[0]["code"] == "UNKNOWN_VISIT"
        assert payload.errors[0]["path"] == "$.data.visit_id"
        rejected = await session.scalar(
            select(func.count()).select_from(Event).where(Event.subject_id == kept.id)
        )
        assert rejected == 1
    # Retrying before anything changed rejects again with the same errors: no second case.
    async with unit_of_work(sessions) as session:
        retried = await service.retry_payload(
            session, AccessScope.system(), payload_id=kept.id, actor="admin", clock=clock
        )
        assert retried.status is InboundStatus.REJECTED
    async with sessions() as session:
        types = (await session.scalars(select(Event.type).where(Event.subject_id == kept.id))).all()
        assert sorted(types) == ["integration.payload_rejected", "integration.payload_retried"]


async def test_unknown_disabled_and_unconfigured_connectors(
    http: httpx.AsyncClient,
    rostered: Supplied,
    sessions: SessionFactory,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = delivery()
    unknown = await http.post("/webhooks/nobody", content=body, headers=headers(body, clock))
    assert unknown.status_code == 404
    monkeypatch.delenv(SECRETS_ENV)
    unconfigured = await http.post(URL, content=body, headers=headers(body, clock))
    assert unconfigured.status_code == 503
    async with unit_of_work(sessions) as session:
        await service.set_enabled(
            session,
            AccessScope.system(),
            instance_id=rostered.instance_id,
            enabled=False,
            actor="admin",
            clock=clock,
        )
    disabled = await http.post(URL, content=body, headers=headers(body, clock))
    assert disabled.status_code == 404
    assert await _payloads(sessions) == []
