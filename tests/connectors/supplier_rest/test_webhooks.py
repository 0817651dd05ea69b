"""The supplier's signed visit-event webhook: the receiver on its own (order of checks, what is
claimed when), and end to end, with the reference server signing and POSTing over loopback to
a receiver app wired the way the hub wires it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.base import (
    BadSignature,
    Delivery,
    ReplayedDelivery,
    UnmappablePayload,
    WebhookUnauthenticated,
)
from connectors.clock import ManualClock
from connectors.records.supplier import VerificationMethod, VisitEvent, VisitEventKind
from connectors.supplier_rest import SupplierWebhookReceiver
from connectors.supplier_rest.reference_server import DEFAULT_TOKEN, create_app
from connectors.webhooks import SIGNATURE_HEADER, InMemoryReplayGuard, sign
from tests.connectors.servers import ReferenceServerHandle, ServerThread

SOURCE = "supplier:reference"
SECRET = b"supplier-webhook-secret-0123456789abcdef-1"
ROTATED = b"supplier-webhook-secret-0123456789abcdef-2"
SAMPLE = Path(__file__).parents[3] / "connectors/supplier_rest/samples/visit_event_delivery.json"
NOW = datetime(2026, 6, 15, 7, 4, 12, tzinfo=UTC)


def signed(body: bytes, secret: bytes = SECRET, at: datetime = NOW) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: sign(body, secret, timestamp=int(at.timestamp())),
        "Content-Type": "application/json",
    }


def receiver(*secrets: bytes) -> SupplierWebhookReceiver:
    return SupplierWebhookReceiver(
        source_system=SOURCE, secrets=list(secrets or (SECRET,)), clock=ManualClock(NOW)
    )


# --------------------------------------------------------------------------------------------
# The receiver on its own


async def test_recorded_sample_delivery_is_verified_and_mapped() -> None:
    body = SAMPLE.read_bytes()
    guard = InMemoryReplayGuard()

    delivery = await receiver().receive(signed(body), body, guard=guard)

    assert delivery.delivery_id == "dlv-7f3c2a9e-5b1d-4c8e-9a42-0e6b1d2f8c17"
    assert delivery.source_system == SOURCE
    assert delivery.signed_at == NOW
    (event,) = delivery.records
    assert event.external_id == "EV-55190233"
    assert event.kind is VisitEventKind.CHECK_IN
    assert event.method is VerificationMethod.GPS
    assert event.occurred_at == datetime(2026, 6, 15, 7, 3, 47, tzinfo=UTC)  # from +01:00
    assert event.location is not None
    assert event.location.accuracy_m == 14.2
    assert delivery.raw.body == body
    assert delivery.raw.locator == f"webhook delivery {delivery.delivery_id}"
    assert len(guard) == 1


async def test_replayed_delivery_is_refused_after_the_first() -> None:
    body = SAMPLE.read_bytes()
    guard = InMemoryReplayGuard()
    hook = receiver()
    await hook.receive(signed(body), body, guard=guard)

    # The sender's retry: same delivery, fresh timestamp and signature.
    with pytest.raises(ReplayedDelivery) as caught:
        await hook.receive(signed(body, at=NOW.replace(second=30)), body, guard=guard)
    assert caught.value.delivery_id == "dlv-7f3c2a9e-5b1d-4c8e-9a42-0e6b1d2f8c17"


async def test_unauthenticated_body_is_never_parsed_or_claimed() -> None:
    guard = InMemoryReplayGuard()
    body = b"this is not even JSON"
    with pytest.raises(BadSignature):
        await receiver().receive(signed(body, secret=ROTATED), body, guard=guard)
    assert len(guard) == 0


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        (b"<html>oops</html>", "$", "not valid JSON: Expecting value at line 1 column 1"),
        (b'{"delivery_id": "dlv-1", "type": "visit_ev', "$", "not valid JSON: ends before"),
        (b'{"type": "visit_event.recorded", "data": {}}', "$.delivery_id", "missing"),
        (b'{"delivery_id": "d", "type": "visit.deleted", "data": {}}', "$.type", "not one of"),
        (b'{"delivery_id": "d", "type": "visit_event.recorded"}', "$.data", "missing"),
    ],
)
async def test_authentic_but_broken_envelope_is_unmappable_and_not_claimed(
    body: bytes, path: str, reason: str
) -> None:
    guard = InMemoryReplayGuard()
    with pytest.raises(UnmappablePayload) as caught:
        await receiver().receive(signed(body), body, guard=guard)
    assert caught.value.path == path
    assert caught.value.reason.startswith(reason)
    assert caught.value.raw == body
    assert caught.value.delivery_id is None
    assert len(guard) == 0  # no delivery id to claim


async def test_authentic_delivery_with_unmappable_event_is_claimed_and_kept() -> None:
    document = json.loads(SAMPLE.read_bytes())
    document["data"]["location"] = None  # gps without a position
    body = json.dumps(document).encode()
    guard = InMemoryReplayGuard()
    hook = receiver()

    with pytest.raises(UnmappablePayload) as caught:
        await hook.receive(signed(body), body, guard=guard)
    assert str(caught.value) == "$.data.location: required when method is gps"
    assert caught.value.delivery_id == document["delivery_id"]
    assert caught.value.item == document["data"]
    assert caught.value.raw == body

    # Claimed, so the sender's retry does not open a second data-quality case.
    with pytest.raises(ReplayedDelivery):
        await hook.receive(signed(body), body, guard=guard)


# --------------------------------------------------------------------------------------------
# End to end


@dataclass
class HubSide:
    """What the hub's `/webhooks/{connector}` route does, minus the database."""

    hook: SupplierWebhookReceiver
    guard: InMemoryReplayGuard = field(default_factory=InMemoryReplayGuard)
    applied: list[Delivery[VisitEvent]] = field(default_factory=list)
    kept: list[UnmappablePayload] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        try:
            delivery = await self.hook.receive(request.headers, body, guard=self.guard)
        except WebhookUnauthenticated as error:
            return JSONResponse({"error": {"code": error.code, "message": error.message}}, 401)
        except ReplayedDelivery:
            return JSONResponse({"status": "duplicate"})
        except UnmappablePayload as error:
            self.kept.append(error)
            return JSONResponse({"status": "kept_for_review"}, 202)
        self.applied.append(delivery)
        return JSONResponse({"status": "applied"})


@dataclass
class Rig:
    supplier: ReferenceServerHandle
    hub: HubSide
    hub_url: str


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    """The reference server signing with `supplier_secrets`, and a hub receiver that holds
    `hub_secrets` (parametrised indirectly; both default to the one shared secret)."""
    options = getattr(request, "param", {})
    supplier_secrets = options.get("supplier_secrets", [SECRET])
    hub_secrets = options.get("hub_secrets", [SECRET])
    hub = HubSide(SupplierWebhookReceiver(source_system=SOURCE, secrets=hub_secrets))
    hub_thread = ServerThread(
        Starlette(routes=[Route("/webhooks/supplier", hub.endpoint, methods=["POST"])])
    )
    supplier_thread = ServerThread(create_app(webhook_secrets=supplier_secrets))
    hub_thread.start()
    supplier_thread.start()
    try:
        yield Rig(
            ReferenceServerHandle(supplier_thread, DEFAULT_TOKEN),
            hub,
            f"{hub_thread.url}/webhooks/supplier",
        )
    finally:
        supplier_thread.stop()
        hub_thread.stop()


async def test_signed_delivery_is_applied_once_and_replays_are_acknowledged(rig: Rig) -> None:
    first = await rig.supplier.send_webhook(rig.hub_url, delivery_id="dlv-e2e-1")
    assert (first["status_code"], json.loads(first["response"])) == (200, {"status": "applied"})
    (delivery,) = rig.hub.applied
    assert delivery.delivery_id == "dlv-e2e-1"
    (event,) = delivery.records
    assert event.visit_external_id == "VIS-104"
    assert event.kind is VisitEventKind.CHECK_IN

    for _ in range(3):  # the sender retrying: same id, fresh timestamp and signature
        again = await rig.supplier.send_webhook(rig.hub_url, delivery_id="dlv-e2e-1")
        assert (again["status_code"], json.loads(again["response"])) == (
            200,
            {"status": "duplicate"},
        )
    assert len(rig.hub.applied) == 1


@pytest.mark.parametrize("rig", [{"hub_secrets": [ROTATED]}], indirect=True)
async def test_wrong_secret_is_refused_with_401(rig: Rig) -> None:
    answer = await rig.supplier.send_webhook(rig.hub_url)
    assert answer["status_code"] == 401
    assert json.loads(answer["response"])["error"]["code"] == "WEBHOOK_BAD_SIGNATURE"
    assert rig.hub.applied == []


@pytest.mark.parametrize("offset", [-330, 330])
async def test_stale_or_future_timestamp_is_refused_with_401(rig: Rig, offset: int) -> None:
    # Real clocks on both sides here, so a margin; the exact ±300 s edges are unit-tested on a
    # manual clock in tests/connectors/test_webhooks.py.
    answer = await rig.supplier.send_webhook(rig.hub_url, timestamp_offset_s=offset)
    assert answer["status_code"] == 401
    assert json.loads(answer["response"])["error"]["code"] == "WEBHOOK_STALE_TIMESTAMP"
    assert rig.hub.applied == []


async def test_timestamp_inside_the_window_is_accepted(rig: Rig) -> None:
    answer = await rig.supplier.send_webhook(rig.hub_url, timestamp_offset_s=-280)
    assert answer["status_code"] == 200
    assert len(rig.hub.applied) == 1


@pytest.mark.parametrize(
    "rig",
    [
        {"supplier_secrets": [ROTATED, SECRET], "hub_secrets": [SECRET]},
        {"supplier_secrets": [ROTATED, SECRET], "hub_secrets": [ROTATED]},
        {"supplier_secrets": [SECRET], "hub_secrets": [ROTATED, SECRET]},
    ],
    indirect=True,
    ids=["hub-not-yet-rotated", "hub-rotated", "hub-holds-both"],
)
async def test_secret_rotation_in_either_order(rig: Rig) -> None:
    answer = await rig.supplier.send_webhook(rig.hub_url)
    assert answer["status_code"] == 200
    assert len(rig.hub.applied) == 1


async def test_authentic_unmappable_delivery_is_kept_not_dropped(rig: Rig) -> None:
    event = {
        "id": "EVT-bad-1",
        "visit_id": "VIS-101",
        "staff_id": "STF-1001",
        "kind": "arrived",
        "occurred_at": "2026-11-23T08:04:00Z",
        "method": "gps",
        "location": {"latitude": 53.8, "longitude": -1.55, "accuracy_m": 10},
    }
    answer = await rig.supplier.send_webhook(rig.hub_url, delivery_id="dlv-bad", event=event)
    assert answer["status_code"] == 202
    (kept,) = rig.hub.kept
    assert kept.path == "$.data.kind"
    assert kept.reason == "not one of: check_in, check_out"
    assert kept.delivery_id == "dlv-bad"
    assert b'"arrived"' in kept.raw
