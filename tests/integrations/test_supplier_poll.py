"""Polling the reference supplier server over real loopback HTTP into the care graph."""

from __future__ import annotations

from sqlalchemy import func, select

from hub.db.engine import SessionFactory
from hub.events.models import Event
from hub.integrations.models import (
    ConnectorCursor,
    ConnectorHealth,
    ExternalRef,
    InboundPayload,
    InboundStatus,
    RunStatus,
)
from hub.staff.models import StaffMember
from hub.visits.models import Visit, VisitAssignment, VisitFact
from tests.connectors.servers import ReferenceServerHandle
from tests.integrations.conftest import Poller, Supplied


async def _count(sessions: SessionFactory, query: object) -> int:
    async with sessions() as session:
        return int(await session.scalar(query) or 0)  # type: ignore[call-overload]


async def test_happy_path_pulls_every_feed_into_the_graph(
    poll: Poller, supplied: Supplied, sessions: SessionFactory
) -> None:
    report = await poll()
    assert report.error_code is None, report.error
    assert report.status is RunStatus.SUCCEEDED
    assert report.rejected == 0
    assert report.outcomes["created"] == 6 + 24 + 6  # staff, visits, visit events
    assert report.outcomes["linked"] == 4  # packages
    async with sessions() as session:
        refs = dict(
            (
                await session.execute(
                    select(ExternalRef.entity_type, func.count())
                    .where(ExternalRef.instance_id == supplied.instance_id)
                    .group_by(ExternalRef.entity_type)
                )
            ).all()
        )
        assert refs == {"staff": 6, "package": 4, "visit": 24, "rota_change": 3, "visit_event": 6}
        staff = (
            await session.scalars(
                select(StaffMember).where(StaffMember.organisation_id == supplied.provider_id)
            )
        ).all()
        assert {member.external_id for member in staff} == {f"STF-100{n}" for n in range(1, 7)}
        visits = (
            await session.scalars(
                select(Visit).where(Visit.package_id.in_(supplied.package_ids.values()))
            )
        ).all()
        assert len(visits) == 24
        assert sum(visit.cancelled_at is not None for visit in visits) == 1  # RC-5003
        assignments = await session.scalar(
            select(func.count())
            .select_from(VisitAssignment)
            .where(VisitAssignment.visit_id.in_([visit.id for visit in visits]))
        )
        # 4 days x (1 + 1 + 1 + 2 + 2) carers, plus RC-5001 staffing the unallocated lunch call
        assert assignments == 4 * 7 + 1
        facts = (
            await session.scalars(
                select(VisitFact).where(VisitFact.source == "supplier:acme-roster")
            )
        ).all()
        assert len(facts) == 6
        checked_in = [visit for visit in visits if visit.checked_in_at is not None]
        assert len(checked_in) == 3
        cursors = (
            await session.scalars(
                select(ConnectorCursor).where(ConnectorCursor.instance_id == supplied.instance_id)
            )
        ).all()
        assert {cursor.feed for cursor in cursors if cursor.cursor} == {
            "staff",
            "packages",
            "visits",
            "rota_changes",
            "visit_events",
        }
        pages = (
            await session.scalars(
                select(InboundPayload).where(InboundPayload.connector == "acme-roster")
            )
        ).all()
        # staff 1, packages 1, visits 3 (page size 10), rota changes 1, visit events 1
        assert len(pages) == 7
        assert {page.status for page in pages} == {InboundStatus.APPLIED}


async def test_a_second_poll_changes_nothing(
    poll: Poller, supplied: Supplied, sessions: SessionFactory
) -> None:
    await poll()
    events_before = await _count(sessions, select(func.count()).select_from(Event))
    report = await poll()
    assert report.status is RunStatus.SUCCEEDED
    assert report.applied == 0
    assert await _count(sessions, select(func.count()).select_from(Event)) == events_before


async def test_pagination_follows_cursors_across_runs(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
) -> None:
    await poll()
    requests_before = await reference_server.requests_to("/v1/visits")
    await reference_server.put_record(
        "visits",
        {
            "id": "VIS-901",
            "package_id": "PKG-2002",
            "planned_start": "2026-11-27T09:00:00Z",
            "planned_end": "2026-11-27T09:30:00Z",
            "status": "scheduled",
            "time_critical": False,
            "carers": ["STF-1003"],
            "tasks": [],
        },
    )
    report = await poll()
    assert report.outcomes["created"] == 1
    # One page from the saved cursor, not the whole feed again.
    assert await reference_server.requests_to("/v1/visits") == requests_before + 1


async def test_a_pull_that_cannot_be_made_records_a_failed_run(
    poll: Poller, supplied: Supplied, sessions: SessionFactory
) -> None:
    """No token in the environment: the run fails with a reason the office can act on."""
    report = await poll.run_with_environ({})
    assert report.status is RunStatus.FAILED
    assert report.error_code == "CONNECTOR_NOT_CONFIGURED"
    async with sessions() as session:
        health = await session.scalar(
            select(ConnectorHealth).where(ConnectorHealth.instance_id == supplied.instance_id)
        )
        assert health is not None
        assert health.last_error_code == "CONNECTOR_NOT_CONFIGURED"
        assert health.consecutive_failures == 0  # not the upstream's fault
