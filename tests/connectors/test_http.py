"""`connectors.http` edge cases over `httpx.MockTransport` and a manual clock: exact waits,
which failures are retried, the breaker's states, and what counts as a whole body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from connectors.base import (
    CircuitOpen,
    ConnectorMisconfigured,
    PayloadTooLarge,
    RateLimited,
    RawPayload,
    TruncatedBody,
    UnmappablePayload,
    UpstreamConnectionError,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from connectors.clock import ManualClock
from connectors.http import (
    BreakerPolicy,
    BreakerState,
    ResilientClient,
    RetryPolicy,
    decode_json,
    parse_retry_after,
)

URL = "https://supplier.test/v1/visits"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SAMPLE = Path(__file__).parents[2] / "connectors/supplier_rest/samples/visits_page.json"

Handler = Callable[[httpx.Request], httpx.Response]


Step = httpx.Response | Exception | Callable[[], httpx.Response]


class Upstream:
    """A scripted upstream: each request gets the next step; the last step repeats. Responses
    are copied per request so a repeated step is a fresh response each time."""

    def __init__(self, *script: Step) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return httpx.Response(step.status_code, headers=step.headers, content=step.content)
        return step()


def ok(body: object = None) -> httpx.Response:
    return httpx.Response(200, json={"data": []} if body is None else body)


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, json={"error": {"code": "x", "message": "m"}}, headers=headers)


@pytest.fixture
async def clients() -> AsyncIterator[list[httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []
    yield made
    for client in made:
        await client.aclose()


@pytest.fixture
def make(
    manual_clock: ManualClock, clients: list[httpx.AsyncClient]
) -> Callable[..., ResilientClient]:
    def build(
        upstream: Handler,
        *,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        rand: float = 1.0,
        max_body_bytes: int = 1024 * 1024,
    ) -> ResilientClient:
        client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
        clients.append(client)
        return ResilientClient(
            client,
            name="supplier:test",
            retry=retry or RetryPolicy(max_attempts=3, base_backoff=0.5, max_backoff=8),
            breaker=breaker or BreakerPolicy(failure_threshold=5, cool_down=30),
            clock=manual_clock,
            rand=lambda: rand,
            max_body_bytes=max_body_bytes,
        )

    return build


# --------------------------------------------------------------------------------------------
# Retry-After and backoff


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        (format_datetime(NOW + timedelta(seconds=10), usegmt=True), 10.0),
        (format_datetime(NOW - timedelta(seconds=10), usegmt=True), 0.0),
        ("soon", None),
        ("-1", None),
        ("1.5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


async def test_503_with_an_http_date_retry_after_is_honoured(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    when = format_datetime(NOW + timedelta(seconds=10), usegmt=True)
    upstream = Upstream(status(503, **{"Retry-After": when}), ok())
    fetched = await make(upstream).get_json(URL)
    assert fetched.data == {"data": []}
    assert manual_clock.sleeps == [10.0]


async def test_retry_after_on_a_500_is_ignored_in_favour_of_backoff(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    upstream = Upstream(status(500, **{"Retry-After": "7"}), ok())
    await make(upstream, rand=0.5).get_json(URL)
    assert manual_clock.sleeps == [0.25]


async def test_full_jitter_backoff_doubles_up_to_the_cap(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    upstream = Upstream(*[status(502)] * 5, ok())
    retry = RetryPolicy(max_attempts=6, base_backoff=1, max_backoff=4, total_budget=100)
    breaker = BreakerPolicy(failure_threshold=10)
    await make(upstream, retry=retry, breaker=breaker, rand=1.0).get_json(URL)
    assert manual_clock.sleeps == [1, 2, 4, 4, 4]
    assert len(upstream.requests) == 6


async def test_jitter_scales_each_wait(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    upstream = Upstream(status(502), status(502), ok())
    await make(upstream, rand=0.1).get_json(URL)
    assert manual_clock.sleeps == pytest.approx([0.05, 0.1])


async def test_no_retry_that_would_end_past_the_budget(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    upstream = Upstream(status(429, **{"Retry-After": "20"}))
    retry = RetryPolicy(max_attempts=5, max_retry_after=30, total_budget=30)
    with pytest.raises(RateLimited) as caught:
        await make(upstream, retry=retry).get_json(URL)
    assert manual_clock.sleeps == [20.0]  # a second 20 s wait would end at 40 s > 30 s
    assert len(upstream.requests) == 2
    assert caught.value.retry_after == 20.0


# --------------------------------------------------------------------------------------------
# What is retried


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422])
async def test_client_errors_are_permanent_and_not_retried(
    make: Callable[..., ResilientClient], manual_clock: ManualClock, code: int
) -> None:
    body = {"error": {"code": "not_found", "message": "no visit for Jane Smith, NHS 9434765919"}}
    upstream = Upstream(httpx.Response(code, json=body))
    with pytest.raises(UpstreamRejected) as caught:
        await make(upstream).get_json(URL)
    assert caught.value.status_code == code
    assert caught.value.detail == "not_found"
    assert "Jane" not in str(caught.value)  # the upstream's message may carry personal data
    assert len(upstream.requests) == 1
    assert manual_clock.sleeps == []


async def test_unexpected_redirect_is_permanent(make: Callable[..., ResilientClient]) -> None:
    upstream = Upstream(httpx.Response(302, headers={"Location": "https://elsewhere.test/"}))
    with pytest.raises(UpstreamRejected) as caught:
        await make(upstream).get_json(URL)
    assert caught.value.status_code == 302


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ConnectTimeout("connect"), UpstreamTimeout),
        (httpx.ReadTimeout("read"), UpstreamTimeout),
        (httpx.PoolTimeout("pool"), UpstreamTimeout),
        (httpx.ConnectError("refused"), UpstreamConnectionError),
        (httpx.ReadError("reset"), UpstreamConnectionError),
        (httpx.RemoteProtocolError("closed before a response"), UpstreamConnectionError),
    ],
)
async def test_transport_failures_are_transient_and_retried(
    make: Callable[..., ResilientClient], failure: Exception, error: type[Exception]
) -> None:
    upstream = Upstream(failure)
    with pytest.raises(error):
        await make(upstream).get_json(URL)
    assert len(upstream.requests) == 3


async def test_post_without_idempotency_key_is_not_retried(
    make: Callable[..., ResilientClient],
) -> None:
    upstream = Upstream(status(503), ok())
    with pytest.raises(UpstreamServerError):
        await make(upstream).request("POST", URL, content=b"{}")
    assert len(upstream.requests) == 1  # it may have been applied: do not send it twice


async def test_post_with_idempotency_key_is_retried(make: Callable[..., ResilientClient]) -> None:
    upstream = Upstream(status(503), ok())
    fetched = await make(upstream).request(
        "post", URL, content=b"{}", headers={"Idempotency-Key": "evt-1"}
    )
    assert fetched.status_code == 200
    assert [r.headers["idempotency-key"] for r in upstream.requests] == ["evt-1", "evt-1"]


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("ftp://supplier.test/v1/visits", {}),
        ("http://[::1/v1/visits", {}),
        ("http://127.0.0.1:9/v1/visits", {"Authorization": "Bearer tökén"}),
    ],
)
async def test_bad_setup_is_misconfiguration(url: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient() as real:  # no request leaves: it is refused first
        client = ResilientClient(real, name="supplier:test", clock=ManualClock(NOW))
        with pytest.raises(ConnectorMisconfigured):
            await client.get_json(url, headers=headers)
        assert client.status().last_error_code == "CONNECTOR_MISCONFIGURED"


# --------------------------------------------------------------------------------------------
# The breaker


async def test_breaker_opens_short_circuits_probes_and_closes(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    upstream = Upstream(httpx.ConnectError("refused"))
    client = make(
        upstream,
        retry=RetryPolicy(max_attempts=1),
        breaker=BreakerPolicy(failure_threshold=2, cool_down=10),
    )
    with pytest.raises(UpstreamConnectionError):
        await client.get_json(URL)
    assert client.status().breaker is BreakerState.CLOSED
    with pytest.raises(CircuitOpen) as opened:
        await client.get_json(URL)
    assert opened.value.retry_after == 10
    assert client.status().breaker is BreakerState.OPEN

    # Open: refused without a request.
    with pytest.raises(CircuitOpen):
        await client.get_json(URL)
    assert len(upstream.requests) == 2

    # Half-open: one probe; it fails, so open again for a full cool-down.
    manual_clock.advance(10)
    assert client.status().breaker is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen) as reopened:
        await client.get_json(URL)
    assert reopened.value.retry_after == 10
    assert len(upstream.requests) == 3
    assert client.status().consecutive_failures == 3

    # Half-open again: the probe succeeds and the breaker closes.
    upstream.script = [ok()]
    manual_clock.advance(10)
    await client.get_json(URL)
    status_now = client.status()
    assert status_now.breaker is BreakerState.CLOSED
    assert status_now.consecutive_failures == 0
    assert status_now.last_success_at == manual_clock.now()
    assert status_now.last_error_code == "UPSTREAM_CONNECTION"  # history is kept
    assert status_now.last_error_at == NOW + timedelta(seconds=10)


async def test_breaker_opening_mid_retry_stops_the_retries(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    upstream = Upstream(status(503))
    client = make(
        upstream,
        retry=RetryPolicy(max_attempts=5),
        breaker=BreakerPolicy(failure_threshold=2, cool_down=30),
    )
    with pytest.raises(CircuitOpen) as caught:
        await client.get_json(URL)
    assert isinstance(caught.value.__cause__, UpstreamServerError)
    assert len(upstream.requests) == 2
    assert len(manual_clock.sleeps) == 1  # no wait before a call the breaker would refuse


async def test_half_open_lets_exactly_one_probe_through(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    release = asyncio.Event()
    calls = 0

    async def slow_ok(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused")
        await release.wait()
        return ok()

    client_http = httpx.AsyncClient(transport=httpx.MockTransport(slow_ok))
    try:
        client = ResilientClient(
            client_http,
            name="supplier:test",
            retry=RetryPolicy(max_attempts=1),
            breaker=BreakerPolicy(failure_threshold=1, cool_down=5),
            clock=manual_clock,
        )
        with pytest.raises(CircuitOpen):
            await client.get_json(URL)
        manual_clock.advance(5)
        probe = asyncio.create_task(client.get_json(URL))
        await asyncio.sleep(0)  # let the probe start and take the slot
        with pytest.raises(CircuitOpen, match="probe is already in flight"):
            await client.get_json(URL)
        release.set()
        await probe
        assert client.status().breaker is BreakerState.CLOSED
        assert calls == 2
    finally:
        await client_http.aclose()


async def test_a_cancelled_probe_gives_its_slot_back(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    hang = asyncio.Event()

    upstream_calls: list[httpx.Request] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        upstream_calls.append(request)
        if len(upstream_calls) == 1:
            raise httpx.ConnectError("refused")
        if len(upstream_calls) == 2:
            await hang.wait()  # never set: the caller gives up
        return ok()

    client_http = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    try:
        client = ResilientClient(
            client_http,
            name="supplier:test",
            retry=RetryPolicy(max_attempts=1),
            breaker=BreakerPolicy(failure_threshold=1, cool_down=5),
            clock=manual_clock,
        )
        with pytest.raises(CircuitOpen):
            await client.get_json(URL)
        manual_clock.advance(5)
        probe = asyncio.create_task(client.get_json(URL))
        await asyncio.sleep(0)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        await client.get_json(URL)  # not refused: the slot came back
        assert client.status().breaker is BreakerState.CLOSED
    finally:
        await client_http.aclose()


async def test_permanent_errors_do_not_trip_the_breaker(
    make: Callable[..., ResilientClient],
) -> None:
    upstream = Upstream(status(404))
    client = make(upstream, breaker=BreakerPolicy(failure_threshold=1, cool_down=30))
    for _ in range(3):
        with pytest.raises(UpstreamRejected):
            await client.get_json(URL)
    assert len(upstream.requests) == 3
    status_now = client.status()
    assert status_now.breaker is BreakerState.CLOSED
    assert status_now.last_error_code == "UPSTREAM_REJECTED"
    assert status_now.last_success_at is None


# --------------------------------------------------------------------------------------------
# Whole bodies


async def test_content_length_mismatch_is_truncation_and_retried(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    body = SAMPLE.read_bytes()
    short = httpx.Response(
        200,
        content=body[:100],
        headers={"Content-Type": "application/json", "Content-Length": str(len(body))},
    )
    upstream = Upstream(short, httpx.Response(200, content=body))
    fetched = await make(upstream).get_json(URL)
    assert fetched.raw.body == body
    assert len(upstream.requests) == 2


async def test_body_cut_by_the_transport_is_truncation(
    make: Callable[..., ResilientClient],
) -> None:
    class Dropping(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'{"data": [{"id": '
            raise httpx.RemoteProtocolError("peer closed connection")

    upstream = Upstream(lambda: httpx.Response(200, stream=Dropping()))
    with pytest.raises(TruncatedBody, match="body cut short"):
        await make(upstream).get_json(URL)
    assert len(upstream.requests) == 3


def raw(body: bytes, content_type: str = "application/json") -> RawPayload:
    return RawPayload(
        source_system="supplier:test",
        locator=f"GET {URL}",
        received_at=NOW,
        content_type=content_type,
        body=body,
    )


def test_every_proper_prefix_of_a_document_is_truncation() -> None:
    """Wherever a body stops — inside a string, a number, a literal, an escape, between
    tokens — it is a truncation, never an unmappable payload."""
    escaped = json.dumps(  # ASCII only: \uXXXX escapes, surrogate pairs included
        {
            "data": json.loads(SAMPLE.read_bytes())["data"],
            "escapes": 'tab\there \x01 \u00e9 \\ "q" \U0001f600',
            "numbers": [-12.5e-3, 0, 1e10, True, False, None],
        },
        indent=1,
    )
    document = (escaped[:-1] + ', "utf8": "\u00e9 \U0001f600"}').encode()  # raw multi-byte UTF-8
    assert decode_json(raw(document))  # the whole is fine
    for end in range(len(document)):
        with pytest.raises(TruncatedBody):
            decode_json(raw(document[:end]))


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1} x',
        b'{"a": tru e}',
        b'{"a": }',
        b"[1,,2]",
        b'{"a": "\\x"}',
        b"NaN",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"{'a': 1}",
        b'{"a": 1,}',
        b'{"a": "\xff"}',
        b"<html><body>502 Bad Gateway</body></html>",
    ],
)
def test_complete_but_wrong_bodies_are_unmappable(body: bytes) -> None:
    with pytest.raises(UnmappablePayload) as caught:
        decode_json(raw(body))
    assert caught.value.path == "$"
    assert caught.value.raw == body


def test_non_json_content_type_is_unmappable() -> None:
    with pytest.raises(UnmappablePayload, match="content type 'text/html' is not JSON"):
        decode_json(raw(b"{}", content_type="text/html; charset=utf-8"))
    assert decode_json(raw(b"{}", content_type="application/problem+json")) == {}


async def test_oversized_body_is_refused(make: Callable[..., ResilientClient]) -> None:
    upstream = Upstream(httpx.Response(200, content=b"[" + b"1," * 600 + b"1]"))
    with pytest.raises(PayloadTooLarge):
        await make(upstream, max_body_bytes=1000).get_json(URL)
    assert len(upstream.requests) == 1


async def test_raw_payload_keeps_the_exact_bytes_and_where_they_came_from(
    make: Callable[..., ResilientClient], manual_clock: ManualClock
) -> None:
    body = SAMPLE.read_bytes()
    upstream = Upstream(
        httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    )
    fetched = await make(upstream).get_json(URL, params={"cursor": "abc"})
    assert fetched.raw.body == body
    assert fetched.raw.locator == f"GET {URL}?cursor=abc"
    assert fetched.raw.source_system == "supplier:test"
    assert fetched.raw.received_at == manual_clock.now()
    assert isinstance(fetched.data, dict)
    assert fetched.data["has_more"] is True


def test_policies_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="failure_threshold"):
        BreakerPolicy(failure_threshold=0)
    with pytest.raises(ValueError, match="cool_down"):
        BreakerPolicy(cool_down=0)
