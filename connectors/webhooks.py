"""Signed webhooks: HMAC-SHA256 over the timestamp and the raw body, checked in constant time,
inside a ±300 s window, with several secrets live at once, applied at most once.

Wire format (the supplier OpenAPI document's `webhooks:` section describes the same):

    Care-Hub-Signature: t=1795424400,v1=<64 hex>[,v1=<64 hex>…]

    v1 = hex(HMAC-SHA256(secret, f"{t}.".encode("ascii") + raw_body))

This is Stripe's scheme. Why each part:

- **The raw body, not a re-serialised one.** JSON libraries disagree on spacing and key order;
  only the bytes on the wire are the same at both ends. So verify *before* parsing.
- **The timestamp is signed**, so it cannot be moved, and a delivery captured and re-sent later
  fails the window (`StaleTimestamp`). The window is symmetric: a sender clock 5 minutes fast
  is as wrong as one 5 minutes slow. ±300 s is Stripe's and Standard Webhooks' tolerance.
- **Several `v1=` entries** let a sender sign with its old and new secrets during a rotation,
  and a receiver holds a list of secrets; any one match is enough (`hmac.compare_digest` for
  each comparison, so the time taken says nothing about how many hex digits matched).
- **The delivery id is inside the signed body**, not in a header of its own, so it cannot be
  swapped to slip a replay past the `ReplayGuard`. Inside the window the guard is what stops
  a replay; outside it the timestamp does.

Header parsing assumes the header is hostile: it is length-capped, must be ASCII, ignores
entries it does not know (so a future `v2=` does not break today's receivers), ignores `v1=`
values that are not 64 hex digits, refuses two different timestamps, and caps the number of
signatures tried. Every failure is a `BadSignature` whose message says what was wrong with the
header but never echoes secrets or expected signatures.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors.base import BadSignature, ReplayedDelivery, ReplayGuard, StaleTimestamp
from connectors.clock import Clock, SystemClock

SIGNATURE_HEADER = "Care-Hub-Signature"
DEFAULT_TOLERANCE = timedelta(seconds=300)
MIN_SECRET_BYTES = 32
"""A shorter secret could be brute-forced offline from one captured delivery (anchors: 32 B)."""

MAX_HEADER_CHARS = 2048
MAX_SIGNATURES = 8
_TIMESTAMP = re.compile(r"[0-9]{1,10}")  # up to the year 2286; more overflows datetime
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def _check_secret(secret: bytes) -> bytes:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `v1` signature (lower-case hex) of one body at one timestamp."""
    message = f"{timestamp}.".encode("ascii") + body
    return hmac.new(_check_secret(secret), message, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: bytes | Sequence[bytes], *, timestamp: int) -> str:
    """The `Care-Hub-Signature` header value for a body, signed with every secret given.

    Senders pass their current secret, or during a rotation both the new and the old one, so
    receivers that know either accept the delivery.
    """
    keys = [secrets] if isinstance(secrets, bytes) else list(secrets)
    if not keys:
        raise ValueError("sign() needs at least one secret")
    if timestamp < 0:
        raise ValueError("timestamp must be a Unix time in seconds")
    parts = [f"t={timestamp}", *(f"v1={signature(key, timestamp, body)}" for key in keys)]
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class SignedBody:
    """A body whose signature and timestamp checked out. Only now is it safe to parse."""

    signed_at: datetime
    body: bytes


@dataclass(frozen=True, slots=True)
class ParsedSignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]


def parse_signature_header(value: str | None) -> ParsedSignatureHeader:
    """Parse `t=…,v1=…[,v1=…]` defensively; raises `BadSignature` saying what is wrong."""
    if value is None or not value.strip():
        raise BadSignature(f"missing {SIGNATURE_HEADER} header")
    if len(value) > MAX_HEADER_CHARS:
        raise BadSignature(f"{SIGNATURE_HEADER} header longer than {MAX_HEADER_CHARS} characters")
    if not value.isascii():
        raise BadSignature(f"{SIGNATURE_HEADER} header is not ASCII")
    timestamps: set[str] = set()
    signatures: list[str] = []
    for entry in value.split(","):
        key, sep, item = entry.partition("=")
        if not sep:
            continue
        key, item = key.strip(), item.strip()
        if key == "t":
            timestamps.add(item)
        elif key == "v1" and _HEX_SIGNATURE.fullmatch(item) and item not in signatures:
            signatures.append(item)
    if not timestamps:
        raise BadSignature(f"{SIGNATURE_HEADER} header has no timestamp (t=)")
    if len(timestamps) > 1:
        raise BadSignature(f"{SIGNATURE_HEADER} header has more than one timestamp")
    (raw_timestamp,) = timestamps
    if not _TIMESTAMP.fullmatch(raw_timestamp):
        raise BadSignature(f"{SIGNATURE_HEADER} timestamp is not Unix seconds")
    if not signatures:
        raise BadSignature(f"{SIGNATURE_HEADER} header has no v1 signature of 64 hex digits")
    if len(signatures) > MAX_SIGNATURES:
        raise BadSignature(f"{SIGNATURE_HEADER} header has more than {MAX_SIGNATURES} signatures")
    return ParsedSignatureHeader(timestamp=int(raw_timestamp), signatures=tuple(signatures))


class WebhookVerifier:
    """Checks a delivery's signature against any of the receiver's current secrets, then its
    timestamp against the window.

    The signature is checked first so an unauthenticated request is told only that it is
    unauthenticated; the timestamp is evidence only once it is known to be the sender's.
    """

    def __init__(
        self,
        secrets: Sequence[bytes],
        *,
        tolerance: timedelta = DEFAULT_TOLERANCE,
        clock: Clock | None = None,
        header: str = SIGNATURE_HEADER,
    ) -> None:
        if not secrets:
            raise ValueError("WebhookVerifier needs a non-empty list of secrets")
        self._secrets = tuple(_check_secret(secret) for secret in secrets)
        if tolerance <= timedelta(0):
            raise ValueError("tolerance must be positive")
        self._tolerance = tolerance
        self._clock = clock or SystemClock()
        self._header = header.lower()

    def verify(self, headers: Mapping[str, str], body: bytes) -> SignedBody:
        """Raises `BadSignature` or `StaleTimestamp`; returns the body once both check out."""
        parsed = parse_signature_header(_header_value(headers, self._header))
        matched = False
        for secret in self._secrets:
            expected = signature(secret, parsed.timestamp, body)
            for candidate in parsed.signatures:
                # Every pair is compared, match or not, so timing does not reveal which matched.
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise BadSignature("no signature matches the body with any current secret")
        signed_at = datetime.fromtimestamp(parsed.timestamp, UTC)
        skew = self._clock.now() - signed_at
        if abs(skew) > self._tolerance:
            direction = "old" if skew > timedelta(0) else "in the future"
            raise StaleTimestamp(
                f"signed {abs(skew).total_seconds():.0f} s {direction}; "
                f"the window is ±{self._tolerance.total_seconds():.0f} s"
            )
        return SignedBody(signed_at=signed_at, body=body)


def _header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for plain dicts as well as Starlette's `Headers`.
    Two copies of the header are refused rather than one picked at random."""
    found = [value for key, value in headers.items() if key.lower() == name]
    if len(found) > 1:
        raise BadSignature(f"{SIGNATURE_HEADER} header sent more than once")
    return found[0] if found else None


async def claim_once(
    guard: ReplayGuard, source_system: str, delivery_id: str, *, received_at: datetime
) -> None:
    """Claim a delivery id through the guard; raises `ReplayedDelivery` on a second claim."""
    if not await guard.claim(source_system, delivery_id, received_at=received_at):
        raise ReplayedDelivery(source_system, delivery_id)


class InMemoryReplayGuard:
    """A `ReplayGuard` for tests and the reference server: claims live in a dict.

    Not for the hub: it forgets on restart and is not shared between replicas, and it commits
    at once instead of with the transaction that applies the delivery. Claims older than
    `retention` are pruned on the next claim so the dict does not grow for ever.
    """

    def __init__(self, *, retention: timedelta = timedelta(days=7)) -> None:
        if retention < 2 * DEFAULT_TOLERANCE:
            raise ValueError("keep claims at least twice the signature window")
        self._retention = retention
        self._claims: dict[tuple[str, str], datetime] = {}

    async def claim(self, source_system: str, delivery_id: str, *, received_at: datetime) -> bool:
        horizon = received_at - self._retention
        for key in [key for key, at in self._claims.items() if at < horizon]:
            del self._claims[key]
        key = (source_system, delivery_id)
        if key in self._claims:
            return False
        self._claims[key] = received_at
        return True

    def __len__(self) -> int:
        return len(self._claims)
