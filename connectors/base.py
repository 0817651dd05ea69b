"""The connector contract: three small protocols, the payload wrappers they return, and the
error tree every connector raises.

A connector talks to one upstream in up to three directions, and each direction is its own
protocol so a connector implements only what its upstream offers (Netflix/dispatch keeps one
abstract base per plugin *type* for the same reason; ours are `typing.Protocol`s, so they are
checked statically and need no registration):

- `PullSource`      pull the records changed since a cursor, one page at a time;
- `WebhookReceiver` verify and parse one raw delivery pushed to us;
- `OutboundSink`    push one message to the upstream.

Connectors never import `hub`. They return canonical records (`connectors.records`) together
with the exact bytes they received (`RawPayload`), and the hub's domain services apply them,
archive the bytes and advance the cursor in one transaction.

Errors. Whether to try again is the one question a caller must answer about every failure, so
it is the first split in the tree:

    ConnectorError                     every expected failure; `code` is stable
    ├── TransientError                 the same call may succeed later; `retry_after` hints when
    │   ├── UpstreamTimeout            connect / read / write / pool timeout
    │   ├── UpstreamConnectionError    refused, reset, DNS failure, closed before a response
    │   ├── RateLimited                HTTP 429 (Retry-After honoured)
    │   ├── UpstreamServerError        HTTP 5xx (Retry-After honoured on 503)
    │   ├── TruncatedBody              Content-Length mismatch, connection dropped mid-body,
    │   │                              JSON that stops before its end
    │   └── CircuitOpen                the breaker is open: not even tried
    └── PermanentError                 retrying the same call fails the same way
        ├── UpstreamRejected           HTTP 4xx other than 429 (and unexpected 1xx/3xx)
        ├── PayloadTooLarge            the body exceeded the connector's size cap
        ├── ConnectorMisconfigured     bad URL scheme, redirect loop, invalid header value
        ├── UnmappablePayload          received whole but cannot be mapped; keeps the raw bytes
        ├── WebhookUnauthenticated     answer 401; apply nothing
        │   ├── BadSignature           header missing or garbled, or no signature matches
        │   └── StaleTimestamp         signed more than the tolerance away from now
        └── ReplayedDelivery           this delivery id was applied before; answer 2xx

`ReplayedDelivery` is permanent (never apply it again) but is *not* an authentication failure:
a sender that re-sends because it missed our acknowledgement must get a 2xx, or it keeps
re-sending. That is why it sits beside `WebhookUnauthenticated`, not under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeAlias, TypeVar

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
"""A parsed JSON document, as `json.loads` returns it."""


# --------------------------------------------------------------------------------------------
# Errors


class ConnectorError(Exception):
    """Base of every expected connector failure; `code` is stable and machine-readable."""

    code: str = "CONNECTOR_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientError(ConnectorError):
    """The upstream may answer the same call later. `retry_after` (seconds) is the upstream's
    or the breaker's own hint, when there is one; a scheduler should wait at least that long."""

    code = "UPSTREAM_TRANSIENT"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamTimeout(TransientError):
    code = "UPSTREAM_TIMEOUT"


class UpstreamConnectionError(TransientError):
    code = "UPSTREAM_CONNECTION"


class RateLimited(TransientError):
    """HTTP 429. When the upstream asks for a longer wait than the connector will sleep in
    place, the call fails at once and `retry_after` carries the upstream's figure."""

    code = "UPSTREAM_RATE_LIMITED"


class UpstreamServerError(TransientError):
    code = "UPSTREAM_SERVER_ERROR"

    def __init__(self, message: str, *, status_code: int, retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after)
        self.status_code = status_code


class TruncatedBody(TransientError):
    """The body stopped short. Transient because a proxy or a dropped connection does this, not
    the upstream's data; nothing of a truncated body is ever parsed or returned."""

    code = "UPSTREAM_TRUNCATED_BODY"


class CircuitOpen(TransientError):
    """The breaker is open, so the call was refused without touching the network.
    `retry_after` is the rest of the cool-down (None while a half-open probe is in flight)."""

    code = "UPSTREAM_CIRCUIT_OPEN"


class PermanentError(ConnectorError):
    """Retrying the same call will fail the same way: a person or the upstream must act."""

    code = "UPSTREAM_PERMANENT"


class UpstreamRejected(PermanentError):
    """The upstream answered with a status retrying will not change (401, 403, 404, 422, …).
    `detail` holds the upstream's error code when its body followed the error schema."""

    code = "UPSTREAM_REJECTED"

    def __init__(self, message: str, *, status_code: int, detail: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


class PayloadTooLarge(PermanentError):
    code = "UPSTREAM_PAYLOAD_TOO_LARGE"


class ConnectorMisconfigured(PermanentError):
    """The request could not be made as configured (URL scheme, redirects, header values)."""

    code = "CONNECTOR_MISCONFIGURED"


@dataclass(frozen=True, slots=True)
class RawPayload:
    """Exactly what an upstream sent, kept for the audit archive and for data-quality cases.

    `locator` says where it came from in words a person can follow ("GET https://…/v1/visits?…"
    or "webhook delivery d-123"); `body` is the bytes as received, before any parsing.
    """

    source_system: str
    locator: str
    received_at: datetime
    content_type: str
    body: bytes


class UnmappablePayload(PermanentError):
    """A payload arrived whole but cannot be mapped to canonical records.

    The hub must keep it and open a data-quality case, never drop it, so the error carries the
    raw payload, the `path` of the offending value (`visits[3].planned_start`, `$` for the
    whole document, `$.data.location` inside a webhook delivery) and a `reason` a person can
    act on. `item` is the offending list element when the document's envelope was sound, so a
    case can show that one record rather than the whole page. `delivery_id` is set when a
    signed webhook delivery was authentic but its content was not mappable.
    """

    code = "UNMAPPABLE_PAYLOAD"

    def __init__(
        self,
        *,
        payload: RawPayload,
        path: str,
        reason: str,
        item: JsonValue = None,
        delivery_id: str | None = None,
    ) -> None:
        super().__init__(f"{path}: {reason}")
        self.payload = payload
        self.path = path
        self.reason = reason
        self.item = item
        self.delivery_id = delivery_id

    @property
    def source_system(self) -> str:
        return self.payload.source_system

    @property
    def raw(self) -> bytes:
        return self.payload.body


class WebhookUnauthenticated(PermanentError):
    """The delivery cannot be shown to come from the sender: answer 401 and apply nothing."""

    code = "WEBHOOK_UNAUTHENTICATED"


class BadSignature(WebhookUnauthenticated):
    code = "WEBHOOK_BAD_SIGNATURE"


class StaleTimestamp(WebhookUnauthenticated):
    """Signed too long ago (or too far ahead): a captured delivery being replayed later looks
    exactly like this, so the window is what bounds how long a delivery id must be kept."""

    code = "WEBHOOK_STALE_TIMESTAMP"


class ReplayedDelivery(PermanentError):
    """The delivery id was applied before. Apply nothing, but answer 2xx so the sender stops."""

    code = "WEBHOOK_REPLAYED"

    def __init__(self, source_system: str, delivery_id: str) -> None:
        super().__init__(f"delivery {delivery_id!r} from {source_system} was already applied")
        self.source_system = source_system
        self.delivery_id = delivery_id


# --------------------------------------------------------------------------------------------
# What the protocols return

RecordT_co = TypeVar("RecordT_co", covariant=True)
MessageT_contra = TypeVar("MessageT_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class Page(Generic[RecordT_co]):
    """One page pulled from an upstream feed.

    The hub applies `records`, stores every `rejected` payload as a data-quality case, archives
    `raw` and saves `next_cursor`, all in one transaction, so a crash part-way re-pulls the same
    page rather than skipping it. Rejected records do not hold the feed back: one unmappable
    visit must not stop every other visit's updates (a poison page), yet it is never dropped.

    `next_cursor` is where the next pull starts (None only while the feed has never returned a
    record); `has_more` says whether to pull again straight away.
    """

    records: tuple[RecordT_co, ...]
    rejected: tuple[UnmappablePayload, ...]
    next_cursor: str | None
    has_more: bool
    raw: RawPayload


@dataclass(frozen=True, slots=True)
class Delivery(Generic[RecordT_co]):
    """One verified webhook delivery: authentic, inside the time window, seen for the first
    time. `signed_at` is the sender's timestamp; `raw.received_at` is ours."""

    source_system: str
    delivery_id: str
    signed_at: datetime
    records: tuple[RecordT_co, ...]
    raw: RawPayload


@dataclass(frozen=True, slots=True)
class PushReceipt:
    """The upstream's acknowledgement of an outbound message."""

    accepted_at: datetime
    upstream_reference: str | None = None


# --------------------------------------------------------------------------------------------
# Protocols


class PullSource(Protocol[RecordT_co]):
    """A feed of records pulled by cursor (e.g. a supplier's visits changed since last time).

    The cursor is opaque to the hub: it stores `Page.next_cursor` and hands it back. `None`
    means "from the beginning" (or from the connector's configured start date).
    """

    @property
    def source_system(self) -> str: ...

    @property
    def feed(self) -> str:
        """The feed's name, unique within the source system (e.g. `visits`)."""
        ...

    async def pull(self, cursor: str | None) -> Page[RecordT_co]:
        """Fetch one page after `cursor`; raises `TransientError` or `PermanentError`."""
        ...


class ReplayGuard(Protocol):
    """Remembers which webhook deliveries were applied, so each is applied once.

    The hub implements this with an insert into its webhook inbox (unique on source system and
    delivery id, `ON CONFLICT DO NOTHING`) inside the transaction that applies the delivery: if
    that transaction rolls back, the claim rolls back with it and the sender's retry is applied.
    A guard that commits on its own would turn a crash between claim and apply into a lost
    delivery. Claims must be kept at least twice the signature window (ten minutes at the
    default ±300 s); the hub keeps them seven days.
    """

    async def claim(self, source_system: str, delivery_id: str, *, received_at: datetime) -> bool:
        """Record the delivery id: True the first time, False if it was claimed before."""
        ...


class WebhookReceiver(Protocol[RecordT_co]):
    """Turns one raw HTTP delivery into verified canonical records.

    Order matters and is part of the contract: signature and timestamp first (nothing of an
    unauthenticated body is parsed), then the envelope (for the delivery id), then the replay
    claim, then the mapping. So an authentic delivery that cannot be mapped is still claimed,
    and its re-sends do not open a second data-quality case.
    """

    @property
    def source_system(self) -> str: ...

    async def receive(
        self, headers: Mapping[str, str], body: bytes, *, guard: ReplayGuard
    ) -> Delivery[RecordT_co]:
        """Raises WebhookUnauthenticated, ReplayedDelivery or UnmappablePayload."""
        ...


class OutboundSink(Protocol[MessageT_contra]):
    """Pushes a message to the upstream (e.g. a visit exception acknowledged by the office).

    The hub's outbox relay delivers at least once, so every push carries an idempotency key
    (the outbox event id) and the upstream must treat a repeated key as the same message.
    """

    @property
    def source_system(self) -> str: ...

    async def push(self, message: MessageT_contra, *, idempotency_key: str) -> PushReceipt:
        """Raises TransientError (the relay retries later) or PermanentError (dead-letter)."""
        ...
