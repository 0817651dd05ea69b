"""Webhook receipt and the processing of archived payloads.

Receipt (`receive_webhook`, called by `POST /webhooks/{connector}`) does the minimum before
answering, all in one transaction: verify the HMAC signature over the raw body with any of the
instance's live secrets and the signed timestamp against the window, read the delivery id from
the signed envelope, and claim it by archiving the exact bytes — the archive's unique
(connector, delivery_key) is the `ReplayGuard`. Then it commits and answers:

    202 accepted    kept; `integrations.process_inbound` applies it on the worker
    202 rejected    authentic but not a visit event we can read: kept and rejected (a
                    data-quality case); `errors` tell the sender's developers why. A 2xx,
                    because resending the same bytes cannot help (the OpenAPI contract says
                    senders retry any non-2xx)
    200 duplicate   this delivery id was kept before; nothing more happens
    401             signature or timestamp wrong: nothing kept (an unauthenticated body must
                    not be able to fill the archive)
    404 / 503       no such enabled connector / its secrets are not in this environment

Processing (`process_payload`) maps the archived bytes again and applies them through the
supplier application in a savepoint; a refusal rejects the payload with its errors. It runs
once per payload: a payload no longer `received` is left alone, so a job that runs twice, or a
re-delivery, changes nothing. The office's retry of a rejected payload runs the same code.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import (
    JsonValue,
    RawPayload,
    ReplayedDelivery,
    TruncatedBody,
    UnmappablePayload,
    WebhookUnauthenticated,
)
from connectors.http import decode_json
from connectors.supplier_rest import SupplierWebhookReceiver, mapping
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.errors import Conflict
from hub.integrations import archive, credentials, repository
from hub.integrations.health import ConnectorClock
from hub.integrations.models import (
    ConnectorInstance,
    InboundChannel,
    InboundPayload,
    InboundStatus,
)
from hub.integrations.supplier import ApplyContext, RecordRejected, apply_record
from hub.kit.time import Clock
from hub.logging import get_logger

log = get_logger(__name__)

WEBHOOK_KEY = "webhook:"
UNREADABLE_WEBHOOK_KEY = "webhook-body:"
RECORD_KEY = "record:"
POLL_PAGE_KEY = "poll:"
FEED_MAPPINGS: dict[str, mapping.FeedMapping[Any]] = {
    feed.name: feed
    for feed in (
        mapping.STAFF,
        mapping.PACKAGES,
        mapping.VISITS,
        mapping.ROTA_CHANGES,
        mapping.VISIT_EVENTS,
    )
}


class PayloadNotRetryable(Conflict):
    code = "PAYLOAD_NOT_RETRYABLE"


@dataclass
class WebhookAnswer:
    """What to answer the sender, and whether to enqueue processing of `payload_id`."""

    status_code: int
    body: dict[str, Any]
    payload_id: uuid.UUID | None = None
    enqueue: bool = False
    connector: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


class ArchiveGuard:
    """The hub's `ReplayGuard`: a claim is the delivery's row in the archive, inserted in the
    receipt's transaction (so a rollback un-claims it and the sender's retry is kept)."""

    def __init__(
        self,
        session: AsyncSession,
        instance: ConnectorInstance,
        *,
        body: bytes,
        content_type: str,
        clock: Clock,
    ) -> None:
        self._session = session
        self._instance = instance
        self._body = body
        self._content_type = content_type
        self._clock = clock
        self.payload: InboundPayload | None = None

    async def claim(self, source_system: str, delivery_id: str, *, received_at: datetime) -> bool:
        payload, is_new = await archive.keep(
            self._session,
            connector=self._instance.name,
            channel=InboundChannel.WEBHOOK,
            body=self._body,
            content_type=self._content_type,
            delivery_key=f"{WEBHOOK_KEY}{delivery_id}",
            organisation_id=self._instance.organisation_id,
            clock=self._clock,
        )
        self.payload = payload
        return is_new


async def receive_webhook(
    sessions: SessionFactory,
    *,
    connector: str,
    headers: Mapping[str, str],
    body: bytes,
    clock: Clock,
    tolerance: timedelta,
    environ: Mapping[str, str] | None = None,
) -> WebhookAnswer:
    """Verify, claim and keep one delivery (see the module docstring for the answers)."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    async with unit_of_work(sessions) as session:
        instance = await repository.get_instance_by_name(session, connector)
        if instance is None or not instance.enabled:
            return WebhookAnswer(
                404, {"error": {"code": "unknown_connector", "message": "no such connector"}}
            )
        try:
            secrets = credentials.webhook_secrets(instance, environ)
        except credentials.ConnectorNotConfigured as failure:
            log.error("integrations.webhook_not_configured", connector=connector)
            return WebhookAnswer(
                503,
                {"error": {"code": failure.code, "message": "this connector is not configured"}},
            )
        receiver = SupplierWebhookReceiver(
            source_system=instance.name,
            secrets=secrets,
            tolerance=tolerance,
            clock=ConnectorClock(clock),
        )
        guard = ArchiveGuard(session, instance, body=body, content_type=content_type, clock=clock)
        try:
            delivery = await receiver.receive(headers, body, guard=guard)
        except WebhookUnauthenticated as refused:
            log.warning("integrations.webhook_refused", connector=connector, code=refused.code)
            return WebhookAnswer(
                401, {"error": {"code": refused.code.lower(), "message": refused.message}}
            )
        except ReplayedDelivery as replay:
            kept = guard.payload
            return WebhookAnswer(
                200,
                {
                    "status": "duplicate",
                    "delivery_id": replay.delivery_id,
                    "payload_id": str(kept.id) if kept else None,
                },
                payload_id=kept.id if kept else None,
            )
        except UnmappablePayload as bad:
            rejected = await _reject_unmappable(session, instance, guard, bad, body, clock)
            return WebhookAnswer(
                202,
                {
                    "status": "rejected",
                    "payload_id": str(rejected.id),
                    "errors": rejected.errors,
                },
                payload_id=rejected.id,
            )
        kept = guard.payload
        assert kept is not None  # receive() claims before it returns a delivery
        return WebhookAnswer(
            202,
            {
                "status": "accepted",
                "delivery_id": delivery.delivery_id,
                "payload_id": str(kept.id),
            },
            payload_id=kept.id,
            enqueue=True,
            connector=instance.name,
        )


async def _reject_unmappable(
    session: AsyncSession,
    instance: ConnectorInstance,
    guard: ArchiveGuard,
    bad: UnmappablePayload,
    body: bytes,
    clock: Clock,
) -> InboundPayload:
    payload = guard.payload
    is_new = True
    if payload is None:  # the envelope (and so the delivery id) could not be read
        payload, is_new = await archive.keep(
            session,
            connector=instance.name,
            channel=InboundChannel.WEBHOOK,
            body=body,
            content_type=bad.payload.content_type,
            delivery_key=f"{UNREADABLE_WEBHOOK_KEY}{archive.sha256_hex(body)}",
            organisation_id=instance.organisation_id,
            clock=clock,
        )
    if is_new:
        await archive.mark_rejected(
            session,
            payload,
            clock=clock,
            actor=f"connector:{instance.name}",
            errors=[archive.error(bad.path, bad.reason, bad.code)],
            summary=f"a webhook delivery from {instance.name} could not be read "
            f"({bad.path}: {bad.reason})",
        )
    return payload


# --- processing ---------------------------------------------------------------------------------


async def process_inbound(sessions: SessionFactory, payload_id: uuid.UUID, *, clock: Clock) -> str:
    """The worker's job body: apply one `received` payload; returns its status afterwards."""
    async with unit_of_work(sessions) as session:
        payload = await repository.payload_for_update(session, payload_id)
        if payload is None:
            return "missing"
        if payload.status is not InboundStatus.RECEIVED:
            return payload.status.value
        instance = await repository.get_instance_by_name(session, payload.connector)
        if instance is None:
            return payload.status.value  # not ours (a FHIR or portal payload): leave it
        await process_payload(session, instance, payload, clock=clock)
        return payload.status.value


async def process_payload(
    session: AsyncSession, instance: ConnectorInstance, payload: InboundPayload, *, clock: Clock
) -> None:
    """Map and apply one archived supplier payload (a webhook delivery, or one record kept on
    its own after it was rejected), then mark it applied or rejected."""
    payload.attempts += 1
    ctx = ApplyContext(instance=instance, clock=clock)
    key = payload.delivery_key
    try:
        if key.startswith(WEBHOOK_KEY):
            record, path = _webhook_record(instance, payload)
        elif key.startswith(RECORD_KEY):
            record, path = _polled_record(instance, payload)
        else:
            raise PayloadNotRetryable(
                "a page that could not be read is fetched again by the next poll of its feed; "
                "run the connector's poll once the supplier has fixed it"
            )
    except UnmappablePayload as bad:
        await _reject(session, ctx, payload, [archive.error(bad.path, bad.reason, bad.code)])
        return
    try:
        async with session.begin_nested():
            outcome = await apply_record(session, ctx, record, path)
    except RecordRejected as rejection:
        await _reject(session, ctx, payload, rejection.errors)
        return
    await archive.mark_applied(
        session,
        payload,
        clock=clock,
        outcome={"record": record.external_id, "result": outcome, "attempts": payload.attempts},
    )


def _raw(instance: ConnectorInstance, payload: InboundPayload) -> RawPayload:
    return RawPayload(
        source_system=instance.name,
        locator=f"archived payload {payload.id}",
        received_at=payload.received_at,
        content_type=payload.content_type or "application/json",
        body=payload.body,
    )


def _decode(raw: RawPayload) -> JsonValue:
    try:
        return decode_json(raw)
    except TruncatedBody:
        raise UnmappablePayload(
            payload=raw, path="$", reason="not valid JSON: ends before the document does"
        ) from None


def _webhook_record(instance: ConnectorInstance, payload: InboundPayload) -> tuple[Any, str]:
    raw = _raw(instance, payload)
    envelope = mapping.read_delivery_envelope(raw, _decode(raw))
    return mapping.map_visit_event_delivery(raw, envelope), "$.data"


def _polled_record(instance: ConnectorInstance, payload: InboundPayload) -> tuple[Any, str]:
    feed_name = payload.delivery_key.removeprefix(RECORD_KEY).split(":", 1)[0]
    feed = FEED_MAPPINGS.get(feed_name)
    if feed is None:
        raise PayloadNotRetryable(f"no feed {feed_name!r} to map this record with")
    raw = _raw(instance, payload)
    document = _decode(raw)
    try:
        return feed.map_item(document, f"{feed.name}[0]", instance.name), f"{feed.name}[0]"
    except mapping.MappingFault as fault:
        raise UnmappablePayload(
            payload=raw, path=fault.path, reason=fault.reason, item=document
        ) from None


async def _reject(
    session: AsyncSession,
    ctx: ApplyContext,
    payload: InboundPayload,
    errors: list[dict[str, str]],
) -> None:
    await archive.mark_rejected(
        session,
        payload,
        clock=ctx.clock,
        actor=ctx.actor,
        errors=errors,
        summary=f"a payload from {ctx.instance.name} could not be applied: {errors[0]['problem']}",
    )


def body_text(body: bytes) -> str:
    """The body for people to read: UTF-8, with undecodable bytes marked (the exact bytes stay
    in the archive and are also offered base64-encoded)."""
    return body.decode("utf-8", errors="replace")
