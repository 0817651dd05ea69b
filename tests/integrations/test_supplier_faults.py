"""The supplier connector when the upstream misbehaves, over real loopback HTTP: rate limits,
server errors, a dead upstream (the shared breaker opens and recovers), truncated and
malformed bodies, and records the hub cannot map or apply (kept and surfaced, never dropped).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from structlog.testing import capture_logs

from connectors.supplier_rest.reference_server import create_app
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.models import Event
from hub.integrations import service
from hub.integrations.health import BreakerSettings
from hub.integrations.models import (
    ConnectorCursor,
    ConnectorHealth,
    ConnectorRun,
    InboundPayload,
    InboundStatus,
    RunStatus,
)
from hub.kit.time import FixedClock
from hub.visits.models import Visit
from tests.connectors.servers import ReferenceServerHandle, ServerThread, bind_loopback
from tests.integrations.conftest import (
    POLL_SETTINGS,
    Poller,
    Supplied,
    make_world,
    office_scope,
)

REJECTED = "integration.payload_rejected"


async def _visits(sessions: SessionFactory, supplied: Supplied) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Visit)
                .where(Visit.package_id.in_(supplied.package_ids.values()))
            )
            or 0
        )


async def _rejections(sessions: SessionFactory) -> list[Event]:
    async with sessions() as session:
        return list(
            await session.scalars(select(Event).where(Event.type == REJECTED).order_by(Event.id))
        )


async def _health(sessions: SessionFactory, supplied: Supplied) -> ConnectorHealth:
    async with sessions() as session:
        health = await session.scalar(
            select(ConnectorHealth).where(ConnectorHealth.instance_id == supplied.instance_id)
        )
        assert health is not None
        return health


def _visit(visit_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": visit_id,
        "package_id": "PKG-2002",
        "planned_start": "2026-11-27T09:00:00Z",
        "planned_end": "2026-11-27T09:30:00Z",
        "status": "scheduled",
        "time_critical": False,
        "carers": ["STF-1003"],
        "tasks": [],
        "updated_at": "2026-11-22T10:00:00Z",
        **overrides,
    }


async def test_rate_limited_call_waits_as_told_then_applies(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
) -> None:
    await reference_server.add_fault("rate_limit", times=1, path="/v1/visits", retry_after=2)
    report = await poll()
    assert report.status is RunStatus.SUCCEEDED, report.error
    assert 2.0 in poll.manual_clock.sleeps  # Retry-After honoured, not our own backoff
    assert await _visits(sessions, supplied) == 24


async def test_rate_limit_longer_than_we_wait_fails_the_run_without_sleeping(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
) -> None:
    await reference_server.add_fault("rate_limit", times=1, path="/v1/staff", retry_after=600)
    report = await poll()
    assert report.status is RunStatus.FAILED
    assert report.error_code == "UPSTREAM_RATE_LIMITED"
    assert poll.manual_clock.sleeps == []
    health = await _health(sessions, supplied)
    assert (health.consecutive_failures, health.open_until) == (1, None)
    # The next run goes on normally and resets the count.
    assert (await poll()).status is RunStatus.SUCCEEDED
    assert (await _health(sessions, supplied)).consecutive_failures == 0


async def test_server_errors_are_retried_with_jittered_backoff(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
) -> None:
    await reference_server.add_fault("server_error", times=2, path="/v1/visits", status=502)
    report = await poll()
    assert report.status is RunStatus.SUCCEEDED, report.error
    # Full jitter at 0.5 of the ceiling: 0.5 s · 2ⁿ · 0.5.
    assert poll.manual_clock.sleeps == [0.25, 0.5]
    assert await _visits(sessions, supplied) == 24


async def test_dead_upstream_opens_the_shared_breaker_and_it_recovers(
    sessions: SessionFactory, clock: FixedClock, poll: Poller
) -> None:
    sock = bind_loopback()  # bound, not listening: connections are refused
    dead = await make_world(
        sessions,
        clock,
        f"http://127.0.0.1:{sock.getsockname()[1]}",
        name="dead-roster",
        reference_suffix="-D",
    )

    first = await poll(instance_id=dead.instance_id)
    assert first.status is RunStatus.FAILED
    assert first.error_code == "UPSTREAM_CIRCUIT_OPEN"
    health = await _health(sessions, dead)
    assert health.consecutive_failures == POLL_SETTINGS.breaker.failure_threshold
    assert health.open_until == clock.now() + timedelta(seconds=30)

    # While open, no process calls the upstream: the run is refused before any request.
    sleeps = len(poll.manual_clock.sleeps)
    refused = await poll(instance_id=dead.instance_id)
    assert refused.skipped is not None
    assert "circuit open" in refused.skipped
    assert len(poll.manual_clock.sleeps) == sleeps

    # After the cool-down one probe goes through; the upstream is back on the same port.
    clock.advance(timedelta(seconds=31))
    server = ServerThread(create_app(), sock=sock)
    server.start()
    try:
        probe = await poll(instance_id=dead.instance_id)
    finally:
        server.stop()
    assert probe.status is RunStatus.SUCCEEDED, probe.error
    health = await _health(sessions, dead)
    assert (health.consecutive_failures, health.open_until) == (0, None)
    assert health.last_success_at == clock.now()
    assert health.last_error_code == "UPSTREAM_CIRCUIT_OPEN"  # kept for the office to read


async def test_the_run_and_the_log_count_failures_as_the_shared_breaker_does(
    sessions: SessionFactory, clock: FixedClock, poll: Poller
) -> None:
    """Five failures open the breaker, three tries per run: the second run's client opens after
    its own two tries, and what it records and logs is the shared count the API shows, five."""
    settings = dataclasses.replace(
        POLL_SETTINGS, breaker=dataclasses.replace(POLL_SETTINGS.breaker, failure_threshold=5)
    )
    assert settings.retry.max_attempts == 3
    sock = bind_loopback()
    dead = await make_world(
        sessions,
        clock,
        f"http://127.0.0.1:{sock.getsockname()[1]}",
        name="dead-roster",
        reference_suffix="-D",
    )
    with capture_logs() as logs:
        first = await poll(settings, instance_id=dead.instance_id)
        second = await poll(settings, instance_id=dead.instance_id)
    sock.close()
    assert first.status is RunStatus.FAILED
    assert first.error_code != "UPSTREAM_CIRCUIT_OPEN"
    assert second.error_code == "UPSTREAM_CIRCUIT_OPEN"
    assert second.error is not None
    assert "after 5 consecutive transient failures" in second.error, second.error
    assert "after 2 consecutive" not in second.error
    health = await _health(sessions, dead)
    assert health.consecutive_failures == 5
    async with sessions() as session:
        run = await session.get(ConnectorRun, second.run_id)
        assert run is not None
        assert run.error == second.error
    failed = [entry for entry in logs if entry["event"] == "integrations.poll_failed"]
    assert [entry["consecutive_failures"] for entry in failed] == [3, 5]
    assert {entry["breaker_opens_at"] for entry in failed} == {5}
    assert failed[1]["error"] == second.error
    assert failed[1]["breaker_open_until"] == (clock.now() + timedelta(seconds=30)).isoformat()


async def test_a_failed_probe_reopens_the_breaker(
    sessions: SessionFactory, clock: FixedClock, poll: Poller
) -> None:
    sock = bind_loopback()
    dead = await make_world(
        sessions,
        clock,
        f"http://127.0.0.1:{sock.getsockname()[1]}",
        name="dead-roster",
        reference_suffix="-D",
    )
    await poll(instance_id=dead.instance_id)
    clock.advance(timedelta(seconds=31))
    probe = await poll(instance_id=dead.instance_id)
    assert probe.status is RunStatus.FAILED
    health = await _health(sessions, dead)
    assert health.open_until == clock.now() + timedelta(seconds=30)
    sock.close()


async def test_a_truncated_body_is_retried_and_applied_once(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
) -> None:
    await reference_server.add_fault("truncate", times=1, path="/v1/visits")
    await reference_server.add_fault("incomplete_json", times=1, path="/v1/staff")
    report = await poll()
    assert report.status is RunStatus.SUCCEEDED, report.error
    assert await _visits(sessions, supplied) == 24
    assert report.rejected == 0


async def test_a_page_that_never_arrives_whole_applies_nothing(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
) -> None:
    await poll()
    async with sessions() as session:
        cursor_before = await session.scalar(
            select(ConnectorCursor.cursor).where(
                ConnectorCursor.instance_id == supplied.instance_id,
                ConnectorCursor.feed == "visits",
            )
        )
    for n in range(3):
        await reference_server.put_record("visits", _visit(f"VIS-90{n}"))
    await reference_server.add_fault("truncate", times=None, path="/v1/visits")
    settings = dataclasses.replace(
        POLL_SETTINGS,
        breaker=BreakerSettings(
            failure_threshold=10, cool_down=timedelta(seconds=30), lease=timedelta(minutes=10)
        ),
    )
    report = await poll(settings)
    assert report.status is RunStatus.FAILED
    assert report.error_code == "UPSTREAM_TRUNCATED_BODY"
    assert await _visits(sessions, supplied) == 24
    async with sessions() as session:
        cursor_after = await session.scalar(
            select(ConnectorCursor.cursor).where(
                ConnectorCursor.instance_id == supplied.instance_id,
                ConnectorCursor.feed == "visits",
            )
        )
        run = await session.get(ConnectorRun, report.run_id)
        assert run is not None
        assert run.status is RunStatus.FAILED
    assert cursor_after == cursor_before

    await reference_server.clear_faults()
    assert (await poll(settings)).status is RunStatus.SUCCEEDED
    assert await _visits(sessions, supplied) == 27


async def test_a_malformed_page_is_kept_and_surfaced_once_and_the_feed_waits(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
) -> None:
    await reference_server.add_fault("malformed_json", times=2, path="/v1/rota-changes")
    first = await poll()
    second = await poll()
    assert first.status is RunStatus.SUCCEEDED  # the other feeds went on
    assert second.status is RunStatus.SUCCEEDED
    rejections = await _rejections(sessions)
    assert len(rejections) == 1  # the same bytes again change nothing
    payload = rejections[0].payload
    assert payload["connector"] == "acme-roster"
    assert payload["channel"] == "poll"
    assert payload["errors"][0]["path"] == "$"
    assert payload["errors"][0]["code"] == "UNMAPPABLE_PAYLOAD"
    async with sessions() as session:
        kept = await session.get(InboundPayload, rejections[0].subject_id)
        assert kept is not None
        assert b"<!-- upstream proxy error -->" in kept.body
        assert kept.status is InboundStatus.REJECTED
        cursor = await session.scalar(
            select(ConnectorCursor.cursor).where(
                ConnectorCursor.instance_id == supplied.instance_id,
                ConnectorCursor.feed == "rota_changes",
            )
        )
        assert cursor is None  # never advanced past a page it could not read
    third = await poll()
    assert third.outcomes["updated"] == 3  # fixed upstream: the three rota changes apply


async def test_unmappable_and_unappliable_records_are_kept_surfaced_and_retried(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
    clock: FixedClock,
) -> None:
    await poll()
    await reference_server.put_record(
        "visits",
        _visit("VIS-BAD", planned_start="2026-11-27 09:00"),  # no offset
    )
    await reference_server.put_record("visits", _visit("VIS-NEW", carers=["STF-2000"]))
    report = await poll()
    assert report.rejected == 2
    rejections = await _rejections(sessions)
    errors = {event.payload["errors"][0]["code"]: event for event in rejections}
    assert set(errors) == {"UNMAPPABLE_PAYLOAD", "UNKNOWN_STAFF"}
    assert errors["UNMAPPABLE_PAYLOAD"].payload["errors"][0]["path"].endswith(".planned_start")
    assert errors["UNKNOWN_STAFF"].payload["errors"][0]["path"].endswith(".carers[0]")
    for event in rejections:
        assert event.organisation_id == supplied.provider_id

    # The same records sent again open nothing new.
    await reference_server.put_record("visits", _visit("VIS-BAD", planned_start="2026-11-27 09:00"))
    await poll()
    assert len(await _rejections(sessions)) == 2

    # The office fixes the cause upstream (the carer is added), then retries the record.
    await reference_server.put_record(
        "staff",
        {
            "id": "STF-2000",
            "given_name": "Nia",
            "family_name": "Roberts",
            "role": "care_worker",
            "active": True,
            "competencies": [],
            "updated_at": "2026-11-22T10:00:00Z",
        },
    )
    await poll()
    unknown_staff_payload = errors["UNKNOWN_STAFF"].subject_id
    async with unit_of_work(sessions) as session:
        retried = await service.retry_payload(
            session,
            office_scope(supplied),
            payload_id=unknown_staff_payload,
            actor="coordinator",
            clock=clock,
        )
        assert retried.status is InboundStatus.APPLIED
    assert await _visits(sessions, supplied) == 25
    async with sessions() as session:
        assert (
            await session.get(InboundPayload, unknown_staff_payload)
        ).status is InboundStatus.APPLIED  # type: ignore[union-attr]


async def test_another_provider_cannot_retry_or_see_the_payload(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
    clock: FixedClock,
) -> None:
    await reference_server.put_record("visits", _visit("VIS-NEW", package_id="PKG-9999"))
    await poll()
    (rejection,) = await _rejections(sessions)
    assert rejection.payload["errors"][0]["code"] == "UNKNOWN_PACKAGE"
    stranger = dataclasses.replace(supplied, provider_id=uuid.uuid4())
    async with unit_of_work(sessions) as session:
        try:
            await service.retry_payload(
                session,
                office_scope(stranger),
                payload_id=rejection.subject_id,
                actor="someone",
                clock=clock,
            )
        except service.InboundPayloadNotFound:
            pass
        else:
            raise AssertionError("a foreign payload must answer like a missing one")


async def test_a_visit_the_hub_would_not_staff_is_rejected_whole(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
) -> None:
    """Grace's medication competence is restricted: the hub's assignment gate refuses her for
    a medication call, so the record is rejected and its visit is not half-created."""
    await poll()
    await reference_server.put_record(
        "visits",
        _visit(
            "VIS-MED",
            tasks=[
                {
                    "code": "medication",
                    "description": "Administer medicines from the blister pack",
                    "requires_competency": "medication",
                }
            ],
        ),
    )
    report = await poll()
    assert report.rejected == 1
    (rejection,) = await _rejections(sessions)
    assert rejection.payload["errors"][0]["code"] == "ASSIGNMENT_REFUSED"
    assert "VIS-MED" in rejection.payload["summary"]
    assert await _visits(sessions, supplied) == 24
