"""Resilient HTTP calls to an upstream over an injected `httpx.AsyncClient`.

One `ResilientClient` per upstream wraps the caller's `httpx.AsyncClient` (which owns the
connection pool, TLS settings and, in tests, an `httpx.MockTransport`) and adds what every
connector needs and none should write twice:

- **Per-call timeouts** (connect 3 s, read 10 s by default) plus a cap on one whole exchange,
  so a server that trickles bytes cannot hold a worker for ever.
- **Retries for transient failures only** (timeouts, connection errors, 429, 5xx, truncated
  bodies), with full-jitter exponential backoff: each wait is uniform in [0, min(cap, base·2ⁿ)],
  which spreads a crowd of retrying clients out instead of re-synchronising them. `Retry-After`
  on 429 and 503 is honoured as given (seconds or an HTTP date); when it asks for more than
  `max_retry_after`, the call fails at once with the upstream's figure in `retry_after`, so the
  scheduler waits instead of a worker sleeping. Only idempotent methods, or requests carrying an
  `Idempotency-Key`, are retried: a POST that timed out may have been applied.
- **A circuit breaker**: `failure_threshold` consecutive failed exchanges open it; while open
  every call fails at once with `CircuitOpen` (no network); after `cool_down` one probe is let
  through (half-open); its success closes the breaker, its failure re-opens it for another
  cool-down. Only transient failures count: a 404 or an unmappable body proves the upstream is
  alive. (Consecutive failures rather than resilience4j's failure rate, because connector polls
  are a few calls a minute, too few for a rate over a window to mean much.)
- **Whole bodies only**: the body is read completely, checked against `Content-Length`, and
  JSON is parsed only once it is complete. A body that stops short — a dropped connection, a
  proxy's cut, JSON ending mid-token — is a `TruncatedBody` (transient, retried); a complete
  body that is not JSON is an `UnmappablePayload` carrying the bytes. Nothing half-read is ever
  returned.
- **A status** (`UpstreamStatus`) the office can read: breaker state, consecutive failures,
  last success, last error.

Time comes from an injected `Clock` and jitter from an injected `random` function, so tests can
assert exact waits and step over cool-downs without sleeping.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TypeVar

import httpx

from connectors.base import (
    CircuitOpen,
    ConnectorError,
    ConnectorMisconfigured,
    JsonValue,
    PayloadTooLarge,
    PermanentError,
    RateLimited,
    RawPayload,
    TransientError,
    TruncatedBody,
    UnmappablePayload,
    UpstreamConnectionError,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from connectors.clock import Clock, SystemClock

DEFAULT_TIMEOUTS = httpx.Timeout(10.0, connect=3.0)
"""Connect 3 s, read/write/pool 10 s (reliability anchors: AWS standard mode, ours)."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

ResultT = TypeVar("ResultT")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one call.

    `max_attempts` counts the first try. `total_budget` bounds the whole call including waits:
    a retry whose wait would end past it is not made. `attempt_timeout` bounds one exchange
    (request, headers and the whole body) on top of httpx's per-operation timeouts.
    """

    max_attempts: int = 3
    base_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    total_budget: float = 60.0
    attempt_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_backoff, self.max_backoff, self.max_retry_after) < 0:
            raise ValueError("backoff and Retry-After caps must not be negative")
        if self.total_budget <= 0 or self.attempt_timeout <= 0:
            raise ValueError("total_budget and attempt_timeout must be positive")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When the breaker opens and how long it stays open before a probe (anchors: 30 s)."""

    failure_threshold: int = 5
    cool_down: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.cool_down <= 0:
            raise ValueError("cool_down must be positive")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    """A snapshot of one upstream's health for the office and `/readyz`-style pages.

    `consecutive_failures` counts transient failures since the last exchange that reached the
    upstream; `last_error` is the most recent failure of any kind, permanent ones included;
    `open_until` is when the next probe will be allowed while the breaker is open.
    """

    name: str
    breaker: BreakerState
    consecutive_failures: int
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error_code: str | None
    last_error: str | None
    open_until: datetime | None


class CircuitBreaker:
    """Closed → open after N consecutive failures → half-open after the cool-down → closed.

    Single event loop only: every check-and-set happens without an `await` in between, so
    concurrent tasks cannot both take the one half-open probe.
    """

    def __init__(self, policy: BreakerPolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._remaining() <= 0:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def open_for(self) -> float | None:
        """Seconds until a probe is allowed, or None when the breaker is not open."""
        if self._state is not BreakerState.OPEN or self._remaining() <= 0:
            return None
        return self._remaining()

    def acquire(self) -> bool:
        """Allow a call or raise `CircuitOpen`. True means this call is the half-open probe."""
        if self._state is BreakerState.OPEN:
            remaining = self._remaining()
            if remaining > 0:
                raise CircuitOpen(
                    f"circuit open for another {remaining:.1f} s", retry_after=remaining
                )
            self._state = BreakerState.HALF_OPEN
        if self._state is BreakerState.HALF_OPEN:
            if self._probe_in_flight:
                raise CircuitOpen("circuit half-open: a probe is already in flight")
            self._probe_in_flight = True
            return True
        return False

    def release(self, probe: bool) -> None:
        """A call ended without a verdict (cancelled): give the probe slot back."""
        if probe:
            self._probe_in_flight = False

    def record_success(self, probe: bool) -> None:
        self.release(probe)
        self._failures = 0
        self._state = BreakerState.CLOSED

    def record_failure(self, probe: bool) -> None:
        self.release(probe)
        self._failures += 1
        if probe or self._failures >= self._policy.failure_threshold:
            self._state = BreakerState.OPEN
            self._opened_at = self._clock.monotonic()

    def _remaining(self) -> float:
        return self._opened_at + self._policy.cool_down - self._clock.monotonic()


@dataclass(frozen=True, slots=True)
class Fetched:
    """A complete 2xx response: status, headers and the body exactly as received."""

    status_code: int
    headers: httpx.Headers
    raw: RawPayload


@dataclass(frozen=True, slots=True)
class FetchedJson(Fetched):
    """A complete 2xx response whose body parsed as JSON (`data`)."""

    data: JsonValue = field(default=None)


class ResilientClient:
    """Timeouts, retries, a circuit breaker and whole-body reads around one upstream.

    `name` identifies the upstream; it is the `source_system` stamped on payloads this client
    returns, so use the connector's source system id (e.g. `supplier:acme-roster`).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        name: str,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        timeouts: httpx.Timeout = DEFAULT_TIMEOUTS,
        max_body_bytes: int = 10 * 1024 * 1024,
        clock: Clock | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self.name = name
        self._retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        self._breaker = CircuitBreaker(breaker or BreakerPolicy(), self._clock)
        self._timeouts = timeouts
        self._max_body_bytes = max_body_bytes
        self._rand = rand
        self._last_success_at: datetime | None = None
        self._last_error_at: datetime | None = None
        self._last_error_code: str | None = None
        self._last_error: str | None = None

    def status(self) -> UpstreamStatus:
        open_for = self._breaker.open_for()
        open_until = None if open_for is None else self._clock.now() + timedelta(seconds=open_for)
        return UpstreamStatus(
            name=self.name,
            breaker=self._breaker.state,
            consecutive_failures=self._breaker.consecutive_failures,
            last_success_at=self._last_success_at,
            last_error_at=self._last_error_at,
            last_error_code=self._last_error_code,
            last_error=self._last_error,
            open_until=open_until,
        )

    async def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: httpx.Timeout | None = None,
    ) -> FetchedJson:
        """GET and parse JSON; raises a `ConnectorError`, never returns part of a body."""
        return await self._call(
            "GET", url, params=params, headers=headers, timeouts=timeouts, finish=_finish_json
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeouts: httpx.Timeout | None = None,
    ) -> Fetched:
        """Any method; the body is read whole but not parsed. Non-idempotent methods are
        retried only when `headers` carry an `Idempotency-Key`."""
        return await self._call(
            method.upper(),
            url,
            params=params,
            headers=headers,
            content=content,
            timeouts=timeouts,
            finish=_finish_raw,
        )

    # ----------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        timeouts: httpx.Timeout | None,
        finish: Callable[[int, httpx.Headers, RawPayload], ResultT],
        content: bytes | None = None,
    ) -> ResultT:
        retryable = method in IDEMPOTENT_METHODS or _has_header(headers, "idempotency-key")
        started = self._clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            probe = self._breaker.acquire()
            verdict = False
            delay: float | None = None
            try:
                result = await self._exchange(
                    method, url, params, headers, content, timeouts or self._timeouts, finish
                )
            except TransientError as error:
                verdict = True
                self._breaker.record_failure(probe)
                self._note_error(error)
                if self._breaker.state is BreakerState.OPEN:
                    raise CircuitOpen(
                        f"{self.name}: circuit opened after "
                        f"{self._breaker.consecutive_failures} consecutive failures "
                        f"(last: {error.message})",
                        retry_after=self._breaker.open_for(),
                    ) from error
                delay = self._delay(attempt, error)
                if not retryable or attempt >= self._retry.max_attempts or delay is None:
                    raise
                if self._clock.monotonic() - started + delay > self._retry.total_budget:
                    raise
            except PermanentError as error:
                verdict = True
                # The upstream answered: it is alive, whatever it said.
                self._breaker.record_success(probe)
                self._note_error(error)
                raise
            else:
                verdict = True
                self._breaker.record_success(probe)
                self._last_success_at = self._clock.now()
                return result
            finally:
                if not verdict:
                    self._breaker.release(probe)
            await self._clock.sleep(delay or 0.0)

    def _delay(self, attempt: int, error: TransientError) -> float | None:
        """Seconds to wait before the next attempt; None when the upstream asked for longer
        than this client will wait in place."""
        if error.retry_after is not None:
            if error.retry_after > self._retry.max_retry_after:
                return None
            return error.retry_after
        ceiling = min(self._retry.max_backoff, self._retry.base_backoff * 2.0 ** (attempt - 1))
        return ceiling * self._rand()

    def _note_error(self, error: ConnectorError) -> None:
        self._last_error_at = self._clock.now()
        self._last_error_code = error.code
        self._last_error = error.message

    async def _exchange(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        timeouts: httpx.Timeout,
        finish: Callable[[int, httpx.Headers, RawPayload], ResultT],
    ) -> ResultT:
        locator = f"{method} {url}"
        try:
            request = self._client.build_request(
                method,
                url,
                params=dict(params) if params else None,
                headers=dict(headers) if headers else None,
                content=content,
                timeout=timeouts,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeEncodeError) as exc:
            # UnicodeEncodeError: a header value (a pasted token, say) that is not ASCII.
            raise ConnectorMisconfigured(f"{self.name}: cannot build {locator}: {exc}") from exc
        locator = f"{method} {request.url}"
        try:
            async with asyncio.timeout(self._retry.attempt_timeout):
                return await self._send(request, locator, finish)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"{self.name}: {locator} took longer than {self._retry.attempt_timeout} s"
            ) from exc

    async def _send(
        self,
        request: httpx.Request,
        locator: str,
        finish: Callable[[int, httpx.Headers, RawPayload], ResultT],
    ) -> ResultT:
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"{self.name}: {locator}: {_describe(exc)}") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
            raise UpstreamConnectionError(f"{self.name}: {locator}: {_describe(exc)}") from exc
        except (httpx.TransportError, httpx.TooManyRedirects) as exc:
            raise ConnectorMisconfigured(f"{self.name}: {locator}: {_describe(exc)}") from exc
        try:
            body = await self._read_whole(request.method, response, locator)
        finally:
            await response.aclose()
        received_at = self._clock.now()
        status = response.status_code
        if not 200 <= status < 300:
            raise self._status_error(status, response.headers, body, locator)
        content_type = response.headers.get("content-type", "")
        raw = RawPayload(
            source_system=self.name,
            locator=locator,
            received_at=received_at,
            content_type=content_type,
            body=body,
        )
        return finish(status, response.headers, raw)

    async def _read_whole(self, method: str, response: httpx.Response, locator: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_body_bytes:
                    raise PayloadTooLarge(
                        f"{self.name}: {locator}: body larger than {self._max_body_bytes} bytes"
                    )
                chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"{self.name}: {locator}: body: {_describe(exc)}") from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise TruncatedBody(
                f"{self.name}: {locator}: body cut short: {_describe(exc)}"
            ) from exc
        declared = response.headers.get("content-length")
        # HEAD, 204 and 304 carry a Content-Length that describes a body they do not send; with
        # a content-encoding the header counts the encoded bytes, which httpx has decoded.
        framed = method != "HEAD" and response.status_code not in (204, 304)
        # Without a content-encoding the bytes counted are the bytes on the wire.
        identity = "content-encoding" not in response.headers
        if declared is not None and framed and identity and _length(declared) != size:
            raise TruncatedBody(
                f"{self.name}: {locator}: Content-Length says {declared}, received {size} bytes"
            )
        return b"".join(chunks)

    def _status_error(
        self, status: int, headers: httpx.Headers, body: bytes, locator: str
    ) -> ConnectorError:
        what = f"{self.name}: {locator} answered {status}"
        if status == 429:
            retry_after = parse_retry_after(headers.get("retry-after"), self._clock.now())
            return RateLimited(what, retry_after=retry_after)
        if status >= 500:
            retry_after = None
            if status == 503:
                retry_after = parse_retry_after(headers.get("retry-after"), self._clock.now())
            return UpstreamServerError(what, status_code=status, retry_after=retry_after)
        detail = _error_code(body)
        if detail:
            what = f"{what} ({detail})"
        return UpstreamRejected(what, status_code=status, detail=detail)


# --------------------------------------------------------------------------------------------
# Helpers, public where a connector or a test needs them on their own


def _finish_raw(status: int, headers: httpx.Headers, raw: RawPayload) -> Fetched:
    return Fetched(status_code=status, headers=headers, raw=raw)


def _finish_json(status: int, headers: httpx.Headers, raw: RawPayload) -> FetchedJson:
    return FetchedJson(status_code=status, headers=headers, raw=raw, data=decode_json(raw))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110).
    Garbage and dates without a zone give None (fall back to backoff); past dates give 0."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d{1,9}", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def decode_json(raw: RawPayload) -> JsonValue:
    """Parse a complete body as strict JSON (UTF-8, no NaN/Infinity).

    A body that is a *prefix* of some JSON document stopped early: `TruncatedBody`. A body
    that is wrong somewhere before its end: `UnmappablePayload` at path `$`, with the bytes.
    """
    content_type = raw.content_type.split(";", 1)[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise UnmappablePayload(
            payload=raw, path="$", reason=f"content type {content_type!r} is not JSON"
        )
    try:
        text = raw.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.end == len(raw.body):
            raise TruncatedBody(f"{raw.locator}: body ends inside a UTF-8 character") from exc
        raise UnmappablePayload(
            payload=raw, path="$", reason=f"not UTF-8 (byte {exc.start})"
        ) from exc
    try:
        data: JsonValue = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        if json_ends_early(exc):
            raise TruncatedBody(f"{raw.locator}: JSON ends before the document does") from exc
        raise UnmappablePayload(
            payload=raw,
            path="$",
            reason=f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from exc
    except ValueError as exc:
        raise UnmappablePayload(payload=raw, path="$", reason=f"not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise UnmappablePayload(payload=raw, path="$", reason="JSON nested too deeply") from exc
    return data


# What can be left over when a document stops inside a literal or a number: json reports the
# error at the start of the unfinished token, so the rest of the input is that token's prefix.
_UNFINISHED_TOKEN = re.compile(r"-|t|tr|tru|f|fa|fal|fals|n|nu|nul|[.eE]|[eE][+-]")


def json_ends_early(error: json.JSONDecodeError) -> bool:
    """True when the JSON failed only because the input ended: it could still be completed."""
    rest = error.doc[error.pos :].strip()
    if not rest:
        return True
    if error.msg.startswith("Unterminated string"):
        return True
    if error.msg.startswith("Invalid \\u"):
        # json's message for a short unicode escape; it points at the `u` that the end of
        # input cut off.
        return re.fullmatch(r"u[0-9a-fA-F]{0,4}", rest) is not None
    return _UNFINISHED_TOKEN.fullmatch(rest) is not None


def _length(declared: str) -> int | None:
    value = declared.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _refuse_constant(name: str) -> JsonValue:
    raise ValueError(f"{name} is not JSON")


def _error_code(body: bytes) -> str | None:
    """The upstream's error code when the body follows the error schema; never the message,
    which may quote personal data back at us."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            if isinstance(code, str) and re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", code):
                return code
    return None


def _has_header(headers: Mapping[str, str] | None, name: str) -> bool:
    return headers is not None and any(key.lower() == name for key in headers)


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
