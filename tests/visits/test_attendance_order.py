"""Check-in and check-out as real uploads (the carer's app over HTTP, the shipped manifest),
read back by the office: a check-out timed before the check-in keeps both times as reported,
is flagged CHECK_OUT_BEFORE_CHECK_IN and shows on the visit as `attendanceOutOfOrder` (the
visit never shows a check-in time that did not happen); a check-out synced the next morning
is flagged LATE_SYNC, one synced at the door is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.accounts.models import Role
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation
from hub.staff.models import StaffMember
from hub.visits.models import Visit
from tests import builders
from tests.mobile.app_client import trusted_only_settings
from tests.mobile.test_outbox_never_blocked import App
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # planned 08:00-08:30

OFFICE_VIEW = """
query Visit($id: ID!) {
  visit(id: $id) {
    status checkedInAt checkedOutAt attendanceOutOfOrder
    facts { kind occurredAt receivedAt flags }
  }
}"""


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return trusted_only_settings(database_url, redis_url, tmp_path)


@pytest.fixture
async def scene(
    sessions: SessionFactory, clock: FixedClock
) -> tuple[Organisation, StaffMember, Visit]:
    clock.current = START
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        contract = await builders.create_contract(session, provider=provider)
        person = await builders.create_person(session, latitude=53.4808, longitude=-2.2426)
        package = await builders.create_package(session, contract=contract, person=person)
        carer = await builders.create_staff(session, organisation=provider)
        visit = await builders.create_visit(
            session, package=package, carers=(carer,), planned_start=START
        )
    return provider, carer, visit


async def carer_and_office(
    http: httpx.AsyncClient, identities: Identities, provider: Organisation, carer: StaffMember
) -> tuple[App, GraphQLClient]:
    subject = await identities.register(
        Role.CARER, organisation_id=carer.organisation_id, staff_id=carer.id
    )
    app = App(http, identities.mint(subject, ttl=timedelta(hours=20)))
    await app.register()
    coordinator = await identities.register(Role.COORDINATOR, organisation_id=provider.id)
    office = GraphQLClient(http, token=identities.mint(coordinator, ttl=timedelta(hours=20)))
    return app, office


async def office_view(office: GraphQLClient, visit: Visit) -> dict[str, Any]:
    answer = await office.execute(OFFICE_VIEW, {"id": encode_global_id("Visit", visit.id)})
    found: dict[str, Any] = answer.ok()["visit"]
    return found


async def test_a_check_out_before_the_check_in_keeps_both_times_and_the_office_sees_it(
    http: httpx.AsyncClient,
    identities: Identities,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    provider, carer, visit = scene
    app, office = await carer_and_office(http, identities, provider, carer)
    # A check-out tapped by mistake at 08:03, the real check-in at 08:05: both uploaded late.
    app.phone.check_out(visit.id, START + timedelta(minutes=3))
    app.phone.check_in(visit.id, START + timedelta(minutes=5))
    clock.current = START + timedelta(minutes=6)

    result = await app.upload(clock.now())
    seen = await office_view(office, visit)

    assert [(r["status"], r["flags"]) for r in result["results"]] == [
        ("APPLIED", []),
        ("APPLIED", ["CHECK_OUT_BEFORE_CHECK_IN"]),
    ]
    assert seen["checkedOutAt"] == (START + timedelta(minutes=3)).isoformat()
    # The check-in time the carer reported, not one moved to fit the check-out.
    assert seen["checkedInAt"] == (START + timedelta(minutes=5)).isoformat()
    assert seen["attendanceOutOfOrder"] is True
    assert seen["status"] == "COMPLETED"
    check_in = next(f for f in seen["facts"] if f["kind"] == "CHECK_IN")
    assert check_in["flags"] == ["CHECK_OUT_BEFORE_CHECK_IN"]


async def test_a_check_out_timed_before_the_standing_check_in_is_flagged(
    http: httpx.AsyncClient,
    identities: Identities,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    provider, carer, visit = scene
    app, office = await carer_and_office(http, identities, provider, carer)
    app.phone.check_in(visit.id, START + timedelta(minutes=10))
    clock.current = START + timedelta(minutes=11)
    await app.upload(clock.now())
    app.phone.acknowledge(1)
    before = await office_view(office, visit)
    app.phone.check_out(visit.id, START + timedelta(minutes=4))
    clock.current = START + timedelta(minutes=12)

    result = await app.upload(clock.now())
    seen = await office_view(office, visit)

    assert before["attendanceOutOfOrder"] is False
    assert result["results"][0]["flags"] == ["CHECK_OUT_BEFORE_CHECK_IN"]
    assert seen["checkedInAt"] == (START + timedelta(minutes=10)).isoformat()
    assert seen["checkedOutAt"] == (START + timedelta(minutes=4)).isoformat()
    assert seen["attendanceOutOfOrder"] is True


async def test_a_check_out_synced_fourteen_hours_late_is_a_late_sync(
    http: httpx.AsyncClient,
    identities: Identities,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    provider, carer, visit = scene
    app, office = await carer_and_office(http, identities, provider, carer)
    app.phone.check_in(visit.id, START + timedelta(minutes=1))
    clock.current = START + timedelta(minutes=2)
    at_the_door = await app.upload(clock.now())
    app.phone.acknowledge(at_the_door["ackedThroughSeq"])
    app.phone.check_out(visit.id, START + timedelta(minutes=29))
    clock.current = START + timedelta(minutes=29, hours=14)  # no signal until the next morning

    late = await app.upload(clock.now())
    seen = await office_view(office, visit)

    assert at_the_door["results"][0]["flags"] == []
    assert late["results"][0]["flags"] == ["LATE_SYNC"]
    check_out = next(f for f in seen["facts"] if f["kind"] == "CHECK_OUT")
    assert check_out["flags"] == ["LATE_SYNC"]
    assert check_out["occurredAt"] == (START + timedelta(minutes=29)).isoformat()
    assert check_out["receivedAt"] == clock.now().isoformat()


async def test_a_check_out_synced_soon_after_the_visit_is_not_late(
    http: httpx.AsyncClient,
    identities: Identities,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    provider, carer, visit = scene
    app, _ = await carer_and_office(http, identities, provider, carer)
    app.phone.check_in(visit.id, START + timedelta(minutes=1))
    clock.current = START + timedelta(minutes=2)
    app.phone.acknowledge((await app.upload(clock.now()))["ackedThroughSeq"])
    app.phone.check_out(visit.id, START + timedelta(minutes=29))
    clock.current = START + timedelta(minutes=29, hours=1)  # an hour after the visit's end

    result = await app.upload(clock.now())

    assert [r["flags"] for r in result["results"]] == [[]]
