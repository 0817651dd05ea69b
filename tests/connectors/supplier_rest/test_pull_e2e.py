"""The supplier REST connector against the reference server over real loopback HTTP.

Time spent waiting (backoff, Retry-After, the breaker's cool-down) is on the manual clock, so
`manual_clock.sleeps` shows exactly what the connector chose to wait; the wire is real.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import httpx
import pytest

from connectors.base import (
    CircuitOpen,
    Page,
    PullSource,
    RateLimited,
    TruncatedBody,
    UnmappablePayload,
    UpstreamConnectionError,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from connectors.clock import ManualClock
from connectors.http import BreakerPolicy, BreakerState, RetryPolicy
from connectors.records.supplier import Visit, VisitPlanStatus
from connectors.supplier_rest.reference_server import create_app
from tests.connectors.conftest import SOURCE, ConnectorFactory
from tests.connectors.servers import ReferenceServerHandle, ServerThread, bind_loopback

VISITS = "/v1/visits"


RecordT = TypeVar("RecordT")


async def pull_all(
    source: PullSource[RecordT], cursor: str | None = None
) -> tuple[list[Page[RecordT]], str]:
    """Follow `has_more` to the end of a feed; returns the pages and the final cursor."""
    pages: list[Page[RecordT]] = []
    while True:
        page = await source.pull(cursor)
        pages.append(page)
        cursor = page.next_cursor
        if not page.has_more:
            assert cursor is not None
            return pages, cursor


async def test_pulls_every_feed_across_pages(
    reference_server: ReferenceServerHandle,
    make_connector: ConnectorFactory,
    manual_clock: ManualClock,
) -> None:
    connector = make_connector(reference_server.url, page_size=10)
    counts = {}
    for feed in connector.feeds():
        pages, _ = await pull_all(feed)
        assert all(not page.rejected for page in pages)
        counts[feed.feed] = sum(len(page.records) for page in pages)
    assert counts == {
        "staff": 6,
        "packages": 4,
        "visits": 24,
        "rota_changes": 3,
        "visit_events": 6,
    }

    pages, _ = await pull_all(connector.visits)
    assert [len(page.records) for page in pages] == [10, 10, 4]
    assert [page.has_more for page in pages] == [True, True, False]
    visits = [visit for page in pages for visit in page.records]
    assert len({visit.external_id for visit in visits}) == 24
    first = visits[0]
    assert isinstance(first, Visit)
    assert first.source_system == SOURCE
    assert first.external_id == "VIS-101"
    assert first.planned_start == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert first.carer_external_ids == ("STF-1001",)
    assert first.tasks[0].requires_competency == "medication"
    # The exact bytes are kept for the audit archive, with where they came from.
    assert b'"VIS-101"' in pages[0].raw.body
    assert pages[0].raw.locator.startswith(f"GET {reference_server.url}/v1/visits?limit=10")
    assert manual_clock.sleeps == []
    status = connector.status()
    assert status.breaker is BreakerState.CLOSED
    assert status.last_success_at == manual_clock.now()
    assert status.last_error is None


async def test_resumes_from_the_cursor_with_only_later_changes(
    reference_server: ReferenceServerHandle, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(reference_server.url, page_size=50)
    _, cursor = await pull_all(connector.visits)

    unchanged = await connector.visits.pull(cursor)
    assert unchanged.records == ()
    assert unchanged.next_cursor == cursor  # never moves backwards, never lost
    assert not unchanged.has_more

    await reference_server.put_record(
        "visits",
        {
            "id": "VIS-101",
            "package_id": "PKG-2001",
            "planned_start": "2026-11-23T08:30:00Z",
            "planned_end": "2026-11-23T09:15:00Z",
            "status": "cancelled",
            "time_critical": True,
            "carers": [],
            "tasks": [],
        },
    )
    changed = await connector.visits.pull(cursor)
    assert [visit.external_id for visit in changed.records] == ["VIS-101"]
    assert changed.records[0].status is VisitPlanStatus.CANCELLED
    assert changed.records[0].planned_start == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    assert changed.next_cursor != cursor


async def test_first_pull_sends_updated_since(
    reference_server: ReferenceServerHandle, make_connector: ConnectorFactory
) -> None:
    since = datetime(2026, 11, 20, 8, 2, tzinfo=UTC)  # the third seeded staff change
    connector = make_connector(reference_server.url, initial_since=since)
    page = await connector.staff.pull(None)
    assert [member.external_id for member in page.records] == [
        "STF-1003",
        "STF-1004",
        "STF-1005",
        "STF-1006",
    ]


async def test_rate_limited_then_succeeds_after_retry_after(
    reference_server: ReferenceServerHandle,
    make_connector: ConnectorFactory,
    manual_clock: ManualClock,
) -> None:
    await reference_server.add_fault("rate_limit", retry_after=2, times=1, path=VISITS)
    connector = make_connector(reference_server.url)

    page = await connector.visits.pull(None)

    assert len(page.records) == 10
    assert manual_clock.sleeps == [2.0]  # the upstream's figure, not our backoff
    assert await reference_server.requests_to(VISITS) == 2
    status = connector.status()
    assert status.last_error_code == "UPSTREAM_RATE_LIMITED"
    assert status.consecutive_failures == 0
    assert status.last_success_at == manual_clock.now()


async def test_rate_limit_longer_than_the_cap_fails_at_once_with_the_hint(
    reference_server: ReferenceServerHandle,
    make_connector: ConnectorFactory,
    manual_clock: ManualClock,
) -> None:
    await reference_server.add_fault("rate_limit", retry_after=120, times=1, path=VISITS)
    connector = make_connector(reference_server.url)

    with pytest.raises(RateLimited) as caught:
        await connector.visits.pull(None)

    assert caught.value.retry_after == 120.0  # for the scheduler: come back in two minutes
    assert manual_clock.sleeps == []
    assert await reference_server.requests_to(VISITS) == 1


async def test_server_errors_then_succeeds_with_jittered_backoff(
    reference_server: ReferenceServerHandle,
    make_connector: ConnectorFactory,
    manual_clock: ManualClock,
) -> None:
    await reference_server.add_fault("server_error", status=502, times=2, path=VISITS)
    connector = make_connector(reference_server.url)

    page = await connector.visits.pull(None)

    assert len(page.records) == 10
    # Full jitter with rand() = 0.5: half of 0.5 s, then half of 1 s.
    assert manual_clock.sleeps == [0.25, 0.5]
    assert await reference_server.requests_to(VISITS) == 3


async def test_persistent_server_errors_give_up_after_the_attempts(
    reference_server: ReferenceServerHandle, make_connector: ConnectorFactory
) -> None:
    await reference_server.add_fault("unavailable", times=None, path=VISITS)
    connector = make_connector(reference_server.url)

    with pytest.raises(UpstreamServerError) as caught:
        await connector.visits.pull(None)

    assert caught.value.status_code == 503
    assert await reference_server.requests_to(VISITS) == 3
    status = connector.status()
    assert status.breaker is BreakerState.CLOSED  # 3 failures, threshold 5
    assert status.consecutive_failures == 3


async def test_dead_upstream_opens_the_breaker_then_recovers_after_the_cool_down(
    make_connector: ConnectorFactory, manual_clock: ManualClock
) -> None:
    sock = bind_loopback()  # bound, not listening: connections are refused
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    connector = make_connector(
        url,
        retry=RetryPolicy(max_attempts=3, base_backoff=0.5),
        breaker=BreakerPolicy(failure_threshold=3, cool_down=30),
    )
    server = ServerThread(create_app(), sock)
    try:
        with pytest.raises(CircuitOpen) as opened:
            await connector.visits.pull(None)
        assert isinstance(opened.value.__cause__, UpstreamConnectionError)
        assert opened.value.retry_after == 30
        assert manual_clock.sleeps == [0.25, 0.5]  # two waits between three refused attempts
        status = connector.status()
        assert status.breaker is BreakerState.OPEN
        assert status.consecutive_failures == 3
        assert status.last_error_code == "UPSTREAM_CONNECTION"
        assert status.open_until is not None
        assert (status.open_until - manual_clock.now()).total_seconds() == 30

        # The upstream comes back, but the breaker keeps calls off it until the cool-down ends.
        server.start()
        manual_clock.advance(29)
        with pytest.raises(CircuitOpen) as still_open:
            await connector.visits.pull(None)
        assert still_open.value.__cause__ is None  # refused without touching the network
        assert still_open.value.retry_after == pytest.approx(1)

        manual_clock.advance(1)
        assert connector.status().breaker is BreakerState.HALF_OPEN
        page = await connector.visits.pull(None)  # the half-open probe
        assert len(page.records) == 10
        status = connector.status()
        assert status.breaker is BreakerState.CLOSED
        assert status.consecutive_failures == 0
        assert status.open_until is None
        handle = ReferenceServerHandle(server, "reference-token")
        assert await handle.requests_to(VISITS) == 1  # only the probe reached it
    finally:
        server.stop()


async def test_truncated_body_is_refused_as_a_whole(
    reference_server: ReferenceServerHandle,
    make_connector: ConnectorFactory,
    manual_clock: ManualClock,
) -> None:
    await reference_server.add_fault("truncate", times=None, path=VISITS)
    connector = make_connector(reference_server.url)
    applied: list[Visit] = []

    async def apply_next_page() -> None:  # what the hub does with a page
        page = await connector.visits.pull(None)
        applied.extend(page.records)

    with pytest.raises(TruncatedBody):
        await apply_next_page()

    assert applied == []  # nothing of a half page escaped
    assert await reference_server.requests_to(VISITS) == 3  # transient: retried
    assert connector.status().last_error_code == "UPSTREAM_TRUNCATED_BODY"

    await reference_server.clear_faults()
    page = await connector.visits.pull(None)
    assert [visit.external_id for visit in page.records][:2] == ["VIS-101", "VIS-102"]
    assert len(page.records) == 10


async def test_one_truncated_response_is_retried_into_a_whole_page(
    reference_server: ReferenceServerHandle,
    make_connector: ConnectorFactory,
    manual_clock: ManualClock,
) -> None:
    clean = await make_connector(reference_server.url).visits.pull(None)
    await reference_server.add_fault("truncate", times=1, path=VISITS)
    await reference_server.add_fault("incomplete_json", times=1, path=VISITS)

    page = await make_connector(reference_server.url).visits.pull(None)

    assert page.records == clean.records
    assert page.raw.body == clean.raw.body
    assert len(manual_clock.sleeps) == 2


async def test_malformed_json_is_unmappable_with_the_raw_body(
    reference_server: ReferenceServerHandle, make_connector: ConnectorFactory
) -> None:
    await reference_server.add_fault("malformed_json", times=1, path=VISITS)
    connector = make_connector(reference_server.url)

    with pytest.raises(UnmappablePayload) as caught:
        await connector.visits.pull(None)

    error = caught.value
    assert error.path == "$"
    assert error.reason.startswith("not valid JSON: Expecting")
    assert b"<!-- upstream proxy error -->" in error.raw
    assert error.payload.locator.startswith(f"GET {reference_server.url}/v1/visits")
    assert error.source_system == SOURCE
    assert await reference_server.requests_to(VISITS) == 1  # permanent: not retried
    status = connector.status()
    assert status.breaker is BreakerState.CLOSED  # the upstream is alive
    assert status.last_error_code == "UNMAPPABLE_PAYLOAD"


async def test_unmappable_record_is_kept_with_its_path_and_the_feed_moves_on(
    reference_server: ReferenceServerHandle, make_connector: ConnectorFactory
) -> None:
    connector = make_connector(reference_server.url, page_size=50)
    _, cursor = await pull_all(connector.visits)
    bad = {
        "id": "VIS-901",
        "package_id": "PKG-2002",
        "planned_start": "2026-11-27 09:00",
        "planned_end": "2026-11-27T09:30:00Z",
        "status": "scheduled",
        "time_critical": False,
        "carers": ["STF-1003"],
        "updated_at": "2026-11-21T10:00:00Z",
    }
    await reference_server.put_record("visits", bad)
    await reference_server.put_record(
        "visits", {**bad, "id": "VIS-902", "planned_start": "2026-11-27T09:00:00Z"}
    )

    page = await connector.visits.pull(cursor)

    assert [visit.external_id for visit in page.records] == ["VIS-902"]
    (rejected,) = page.rejected
    assert rejected.path == "visits[0].planned_start"
    assert rejected.reason == "not an ISO 8601 time with offset"
    assert str(rejected) == "visits[0].planned_start: not an ISO 8601 time with offset"
    assert rejected.item == bad
    assert b'"2026-11-27 09:00"' in rejected.raw
    assert rejected.raw is page.raw.body
    assert page.next_cursor not in (None, cursor)  # the bad record does not block the feed


async def test_wrong_token_is_permanent_and_not_retried(
    reference_server: ReferenceServerHandle,
    make_connector: ConnectorFactory,
    manual_clock: ManualClock,
) -> None:
    connector = make_connector(reference_server.url, token="not-the-token")

    with pytest.raises(UpstreamRejected) as caught:
        await connector.staff.pull(None)

    assert caught.value.status_code == 401
    assert caught.value.detail == "unauthorized"
    assert await reference_server.requests_to("/v1/staff") == 1
    assert manual_clock.sleeps == []


async def test_slow_upstream_hits_the_read_timeout(
    reference_server: ReferenceServerHandle, make_connector: ConnectorFactory
) -> None:
    await reference_server.add_fault("latency", delay_ms=600, times=1, path=VISITS)
    connector = make_connector(
        reference_server.url,
        timeouts=httpx.Timeout(0.2, connect=1.0),
        retry=RetryPolicy(max_attempts=1),
    )

    with pytest.raises(UpstreamTimeout):
        await connector.visits.pull(None)

    assert connector.status().last_error_code == "UPSTREAM_TIMEOUT"
