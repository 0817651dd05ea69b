"""GraphQL output types of the integrations domain and their mappers.

An inbound payload's body is what an upstream sent: it can hold personal data (a package's
NHS number, a carer's name), so payloads are shown only to the office of the organisation they
were received for, and to admins (see `hub.tenancy.inbound_payload_visible`), and every read of
a body is recorded in the access log with the NHS numbers it carries.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from hub.audit.service import nhs_numbers_in
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id
from hub.integrations.health import BreakerState as BreakerValue
from hub.integrations.models import ConnectorCursor as CursorRow
from hub.integrations.models import ConnectorKind as KindValue
from hub.integrations.models import ConnectorRun as RunRow
from hub.integrations.models import InboundChannel as ChannelValue
from hub.integrations.models import InboundPayload as PayloadRow
from hub.integrations.models import InboundStatus as StatusValue
from hub.integrations.models import RunStatus as RunStatusValue
from hub.integrations.service import InstanceStatus
from hub.organisations.resolvers import organisation_loader
from hub.organisations.types import Organisation


@strawberry.enum(description="Which connector package an instance runs.")
class ConnectorKind(Enum):
    SUPPLIER_REST = KindValue.SUPPLIER_REST.value


@strawberry.enum(
    description="The connector's circuit breaker: CLOSED calls the upstream; OPEN refuses "
    "calls after repeated transient failures until `openUntil`; HALF_OPEN lets the next run "
    "through as a probe."
)
class BreakerState(Enum):
    CLOSED = BreakerValue.CLOSED.value
    OPEN = BreakerValue.OPEN.value
    HALF_OPEN = BreakerValue.HALF_OPEN.value


@strawberry.enum(description="What became of an inbound payload.")
class InboundStatus(Enum):
    RECEIVED = StatusValue.RECEIVED.value
    APPLIED = StatusValue.APPLIED.value
    REJECTED = StatusValue.REJECTED.value


@strawberry.enum(description="How a payload reached the hub.")
class InboundChannel(Enum):
    WEBHOOK = ChannelValue.WEBHOOK.value
    POLL = ChannelValue.POLL.value
    UPLOAD = ChannelValue.UPLOAD.value
    FHIR = ChannelValue.FHIR.value


@strawberry.enum(description="A poll run's state.")
class ConnectorRunStatus(Enum):
    RUNNING = RunStatusValue.RUNNING.value
    SUCCEEDED = RunStatusValue.SUCCEEDED.value
    FAILED = RunStatusValue.FAILED.value


@strawberry.type(description="One problem with a payload: where, what, and a stable code.")
class PayloadProblem:
    path: str = strawberry.field(
        description="Where in the payload, e.g. `visits[3].planned_start` or `$.data.location`."
    )
    problem: str = strawberry.field(description="What is wrong, for a person to act on.")
    code: str = strawberry.field(description="Stable code, e.g. UNKNOWN_STAFF, UNMAPPABLE_PAYLOAD.")


@strawberry.type(
    description="Exactly what an upstream sent, kept for audit, and what became of it. "
    "Rejected payloads open a data-quality case; retry one once its cause is fixed."
)
class InboundPayload:
    id: strawberry.ID
    connector: str = strawberry.field(description="The sender: a connector instance's name.")
    channel: InboundChannel
    delivery_key: str = strawberry.field(
        description="The sender's delivery id, or a key derived from the content: the same key "
        "is never applied twice."
    )
    content_type: str
    sha256: str = strawberry.field(description="SHA-256 of the body, hex.")
    size: int = strawberry.field(description="Body size in bytes.")
    received_at: datetime
    status: InboundStatus
    errors: list[PayloadProblem] = strawberry.field(description="Why it was rejected.")
    summary: str | None = strawberry.field(description="The rejection in one sentence.")
    outcome: JSON | None = strawberry.field(description="What applying it did.")
    processed_at: datetime | None
    attempts: int = strawberry.field(description="How many times processing was attempted.")
    row_body: strawberry.Private[bytes]
    row_id: strawberry.Private[uuid.UUID]

    @strawberry.field(
        description="The body as text (UTF-8; bytes that are not UTF-8 show as �): what the "
        "upstream sent, for a person to read. Reading it is recorded in the access log."
    )
    def body(self, info: Info) -> str:
        text = self.row_body.decode("utf-8", errors="replace")
        self._audit(info, "body", text)
        return text

    @strawberry.field(
        description="The exact bytes, base64-encoded. Reading them is recorded in the access log."
    )
    def body_base64(self, info: Info) -> str:
        self._audit(info, "bodyBase64", self.row_body.decode("utf-8", errors="replace"))
        return base64.b64encode(self.row_body).decode("ascii")

    def _audit(self, info: Info, field_name: str, text: str) -> None:
        # Who the body is about is known only from what it says: the NHS numbers in it.
        info.context.audit.record_read(
            f"inboundPayload.{field_name}",
            f"InboundPayload:{self.row_id}",
            nhs_numbers=nhs_numbers_in(text),
        )

    @classmethod
    def from_model(cls, row: PayloadRow) -> InboundPayload:
        return cls(
            id=strawberry.ID(encode_global_id("InboundPayload", row.id)),
            connector=row.connector,
            channel=InboundChannel(row.channel.value),
            delivery_key=row.delivery_key,
            content_type=row.content_type,
            sha256=row.sha256,
            size=len(row.body),
            received_at=row.received_at,
            status=InboundStatus(row.status.value),
            errors=[
                PayloadProblem(
                    path=str(entry.get("path", "$")),
                    problem=str(entry.get("problem", "")),
                    code=str(entry.get("code", "")),
                )
                for entry in row.errors
            ],
            summary=row.summary,
            outcome=JSON(row.outcome) if row.outcome is not None else None,
            processed_at=row.processed_at,
            attempts=row.attempts,
            row_body=row.body,
            row_id=row.id,
        )


@strawberry.type(description="One poll run: which trigger, how far it got, how it ended.")
class ConnectorRun:
    id: strawberry.ID
    trigger: str = strawberry.field(description="schedule, office or test.")
    status: ConnectorRunStatus
    started_at: datetime
    finished_at: datetime | None
    pages: int
    records_applied: int
    records_rejected: int
    progress: JSON = strawberry.field(
        description="Per feed: pages, applied, rejected, done (and the payload a feed is "
        "blocked by, if one could not be read)."
    )
    error_code: str | None
    error: str | None

    @classmethod
    def from_model(cls, row: RunRow) -> ConnectorRun:
        return cls(
            id=strawberry.ID(encode_global_id("ConnectorRun", row.id)),
            trigger=row.trigger,
            status=ConnectorRunStatus(row.status.value),
            started_at=row.started_at,
            finished_at=row.finished_at,
            pages=row.pages,
            records_applied=row.records_applied,
            records_rejected=row.records_rejected,
            progress=JSON(row.progress),
            error_code=row.error_code,
            error=row.error,
        )


@strawberry.type(description="Where one feed of a connector has got to.")
class FeedPosition:
    feed: str = strawberry.field(description="staff, packages, visits, rota_changes, …")
    advanced_at: datetime | None = strawberry.field(description="When the cursor last moved.")
    started: bool = strawberry.field(description="False until the feed's first page applied.")

    @classmethod
    def from_model(cls, row: CursorRow) -> FeedPosition:
        return cls(feed=row.feed, advanced_at=row.advanced_at, started=row.cursor is not None)


@strawberry.type(description="How a connector instance is doing, as every process sees it.")
class ConnectorStatus:
    breaker_state: BreakerState
    consecutive_failures: int = strawberry.field(
        description="Transient failures since the last call that reached the upstream."
    )
    open_until: datetime | None = strawberry.field(
        description="While the breaker is open: when the next probe is allowed."
    )
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error_code: str | None
    last_error: str | None
    last_poll_started_at: datetime | None
    backlog: int = strawberry.field(
        description="Payloads received and not yet processed (webhook deliveries waiting for "
        "the worker)."
    )
    rejected: int = strawberry.field(description="Payloads rejected and not since applied.")
    secrets_configured: bool = strawberry.field(
        description="Whether this process has the instance's webhook secrets in its environment."
    )
    last_run: ConnectorRun | None
    feeds: list[FeedPosition]


@strawberry.type(
    description="An upstream system configured for a provider: where it is, which environment "
    "variables hold its secrets (never the secrets), how often it is polled, and its status."
)
class ConnectorInstance:
    id: strawberry.ID
    name: str = strawberry.field(description="Unique; the webhook path is /webhooks/<name>.")
    kind: ConnectorKind
    base_url: str
    webhook_path: str
    webhook_secrets_env: str = strawberry.field(
        description="The environment variable holding the webhook secrets (comma-separated)."
    )
    credentials_env: str | None = strawberry.field(
        description="The environment variable holding the token sent when pulling."
    )
    poll_interval_seconds: int
    enabled: bool
    created_at: datetime
    status: ConnectorStatus
    organisation_id: strawberry.Private[uuid.UUID]
    row_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The provider it serves.")
    async def organisation(self, info: Info) -> Organisation | None:
        row = await organisation_loader(info).load(self.organisation_id)
        return Organisation.from_model(row) if row is not None else None

    @classmethod
    def from_status(cls, found: InstanceStatus) -> ConnectorInstance:
        instance, health = found.instance, found.health
        return cls(
            id=strawberry.ID(encode_global_id("ConnectorInstance", instance.id)),
            name=instance.name,
            kind=ConnectorKind(instance.kind.value),
            base_url=instance.base_url,
            webhook_path=f"/webhooks/{instance.name}",
            webhook_secrets_env=instance.webhook_secrets_env,
            credentials_env=instance.credentials_env,
            poll_interval_seconds=instance.poll_interval_seconds,
            enabled=instance.enabled,
            created_at=instance.created_at,
            status=ConnectorStatus(
                breaker_state=BreakerState(found.breaker.value),
                consecutive_failures=health.consecutive_failures if health else 0,
                open_until=health.open_until if health else None,
                last_success_at=health.last_success_at if health else None,
                last_error_at=health.last_error_at if health else None,
                last_error_code=health.last_error_code if health else None,
                last_error=health.last_error if health else None,
                last_poll_started_at=health.last_poll_started_at if health else None,
                backlog=found.backlog,
                rejected=found.rejected,
                secrets_configured=found.secrets_configured,
                last_run=ConnectorRun.from_model(found.last_run) if found.last_run else None,
                feeds=[FeedPosition.from_model(cursor) for cursor in found.cursors],
            ),
            organisation_id=instance.organisation_id,
            row_id=instance.id,
        )


@strawberry.type(description="A poll run was asked for; the worker runs it.")
class ConnectorPollRequested:
    connector_instance: ConnectorInstance
    enqueued: bool = strawberry.field(
        description="False when a run asked for moments ago is still waiting: nothing new was "
        "queued."
    )
