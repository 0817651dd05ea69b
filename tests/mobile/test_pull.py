"""The rota pull (`mobileChanges`) and the visit detail (`mobileVisit`), driven as the app
drives them: trusted documents by id, a registered device, the server's cursor.

The clock stands at Monday 2026-11-23 09:00 UTC (09:00 in London, GMT): the window is
Sunday 22 to Monday 30 November."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from hub.mobile import devices, pull
from hub.people import service as people
from hub.people.sealing import sealer_for
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from hub.visits import service as visits
from tests import builders
from tests.mobile.app_client import AppClient, install_app, register_device, trusted_only_settings
from tests.support.identity import Identities

ADMIN = AccessScope.system()


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def gid(kind: str, value: uuid.UUID) -> str:
    return encode_global_id(kind, value)


@dataclass
class Rota:
    anna: StaffMember  # the carer under test
    ben: StaffMember  # her colleague
    p1: uuid.UUID  # key safe 4321, visited now
    p2: uuid.UUID  # key safe 9876, visited this afternoon
    p3: uuid.UUID
    yesterday: uuid.UUID  # 22 Nov 08:00, P1
    now: uuid.UUID  # 23 Nov 09:15, P1: its access window is open at 09:00
    afternoon: uuid.UUID  # 23 Nov 14:00, P2
    last_day: uuid.UUID  # 30 Nov 20:00, P3
    beyond: uuid.UUID  # 1 Dec 08:00, P3: enters the window tomorrow
    too_old: uuid.UUID  # 21 Nov, P2
    cancelled: uuid.UUID  # 24 Nov, P1, cancelled before the first pull
    bens: uuid.UUID  # 23 Nov 10:00, P3, Ben's
    unassigned: uuid.UUID  # 25 Nov 10:00, P3, nobody's yet
    package_p3: uuid.UUID

    def mine(self) -> set[str]:
        return {gid("Visit", v) for v in (self.yesterday, self.now, self.afternoon, self.last_day)}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """The production rule: carers run trusted documents only."""
    return trusted_only_settings(database_url, redis_url, tmp_path)


@pytest.fixture
async def rota(sessions: SessionFactory, settings: Settings) -> Rota:
    sealer = sealer_for(settings)
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        contract = await builders.create_contract(session, provider=provider)
        anna = await builders.create_staff(session, organisation=provider)
        ben = await builders.create_staff(session, organisation=provider)
        ids = [uuid.uuid4() for _ in range(3)]
        codes = ["4321", "9876", "1111"]
        persons = [
            await builders.create_person(
                session,
                id=person_id,
                key_safe_sealed=sealer.seal(person_id, people.KEY_SAFE_FIELD, code),
                access_details_sealed=sealer.seal(
                    person_id, people.ACCESS_DETAILS_FIELD, f"Side door ({code})"
                ),
            )
            for person_id, code in zip(ids, codes, strict=True)
        ]
        packages = [
            await builders.create_package(session, contract=contract, person=person)
            for person in persons
        ]

        async def visit(package: int, start: datetime, *carers: StaffMember, **extra: Any) -> Any:
            return (
                await builders.create_visit(
                    session, package=packages[package], carers=carers, planned_start=start, **extra
                )
            ).id

        tasks = [
            {"code": "personal_care", "description": "Washing and dressing", "requires": None},
            {"code": "meal", "description": "Breakfast", "requires": None},
        ]
        return Rota(
            anna=anna,
            ben=ben,
            p1=ids[0],
            p2=ids[1],
            p3=ids[2],
            yesterday=await visit(0, at(22, 8), anna),
            now=await visit(0, at(23, 9, 15), anna, tasks=tasks),
            afternoon=await visit(1, at(23, 14), anna),
            last_day=await visit(2, at(30, 20), anna),
            beyond=await visit(2, datetime(2026, 12, 1, 8, tzinfo=UTC), anna),
            too_old=await visit(1, at(21, 8), anna),
            cancelled=await visit(0, at(24, 8), anna, cancelled_at=at(20, 8)),
            bens=await visit(2, at(23, 10), ben),
            unassigned=await visit(2, at(25, 10)),
            package_p3=packages[2].id,
        )


@pytest.fixture
async def anna(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    rota: Rota,
) -> AppClient:
    return await install_app(http, identities, sessions, clock, rota.anna)


def visit_ids(*pages: dict[str, Any]) -> set[str]:
    return {visit["id"] for page in pages for visit in page["visits"]}


def tombstones(*pages: dict[str, Any]) -> dict[str, str]:
    return {t["visitId"]: t["reason"] for page in pages for t in page["tombstones"]}


def people_by_id(*pages: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {person["id"]: person for page in pages for person in page["people"]}


async def access_rows(sessions: SessionFactory) -> list[AccessLogEntry]:
    async with sessions() as session:
        result = await session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id))
        return list(result.all())


# --- the first pull -----------------------------------------------------------------------------


async def test_the_first_pull_is_the_whole_window_of_this_carer(
    anna: AppClient, rota: Rota, sessions: SessionFactory, clock: FixedClock
) -> None:
    before = len(await access_rows(sessions))
    page = await anna.pull()
    assert page["__typename"] == "MobileChanges"
    assert page["reset"] is True
    assert page["resetReason"] == "FIRST_PULL"
    assert page["hasMore"] is False
    assert page["window"] == {"firstDay": "2026-11-22", "lastDay": "2026-11-30"}
    assert page["serverTime"] == clock.now().isoformat()
    assert page["minAppVersion"] == "1.0.0"
    # Hers, in the window, not cancelled: not Ben's, not the 21st, not 1 December.
    assert visit_ids(page) == rota.mine()
    assert [v["plannedStart"] for v in page["visits"]] == sorted(
        v["plannedStart"] for v in page["visits"]
    )
    assert page["tombstones"] == []

    now = next(v for v in page["visits"] if v["id"] == gid("Visit", rota.now))
    assert now["personId"] == gid("Person", rota.p1)
    assert now["status"] == "SCHEDULED"
    assert now["localDate"] == "2026-11-23"
    assert [(t["index"], t["description"]) for t in now["tasks"]] == [
        (0, "Washing and dressing"),
        (1, "Breakfast"),
    ]
    assert now["accessFrom"] == at(23, 8, 45).isoformat()
    assert now["accessUntil"] == at(23, 10, 15).isoformat()
    assert now["facts"] == []

    persons = people_by_id(page)
    assert set(persons) == {gid("Person", p) for p in (rota.p1, rota.p2, rota.p3)}
    # The key-safe code only inside a visit window: P1 is visited at 09:15, P2 at 14:00.
    assert persons[gid("Person", rota.p1)]["keySafeCode"] == "4321"
    assert persons[gid("Person", rota.p1)]["accessDetails"] == "Side door (4321)"
    assert persons[gid("Person", rota.p2)]["keySafeCode"] is None
    assert persons[gid("Person", rota.p2)]["accessDetails"] is None
    assert all("nhsNumber" not in person for person in persons.values())

    # One access-log row for the whole pull: the people and the codes opened.
    rows = (await access_rows(sessions))[before:]
    assert len(rows) == 1
    [row] = rows
    assert row.role == "carer"
    assert {"mobileChanges", "keySafeCode", "accessDetails"} <= set(row.fields)
    assert {rota.p1, rota.p2, rota.p3} <= set(row.person_ids)


async def test_a_carer_sees_only_their_own_visits(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    rota: Rota,
) -> None:
    ben = await install_app(http, identities, sessions, clock, rota.ben)
    page = await ben.pull()
    assert visit_ids(page) == {gid("Visit", rota.bens)}
    assert set(people_by_id(page)) == {gid("Person", rota.p3)}
    foreign = (
        await ben.run(
            "VisitDetail",
            {"deviceId": ben.device_id, "appVersion": "1.0.0", "visitId": gid("Visit", rota.now)},
        )
    ).ok()["mobileVisit"]
    assert foreign["__typename"] == "NotFoundError"


# --- incremental pulls --------------------------------------------------------------------------


async def test_an_unchanged_rota_sends_nothing_but_the_open_access_window(
    anna: AppClient, rota: Rota
) -> None:
    first = await anna.pull()
    again = await anna.pull(first["cursor"])
    assert again["reset"] is False
    assert again["resetReason"] is None
    assert again["visits"] == []
    assert again["tombstones"] == []
    # P1's access window is open now: the person comes again so the code is there at the door.
    assert set(people_by_id(again)) == {gid("Person", rota.p1)}


async def test_assignments_and_cancellations_arrive_as_visits_and_tombstones(
    anna: AppClient, rota: Rota, sessions: SessionFactory, clock: FixedClock
) -> None:
    first = await anna.pull()
    async with unit_of_work(sessions) as session:
        await visits.assign_carers(
            session,
            scope=ADMIN,
            actor="test",
            clock=clock,
            visit_id=rota.unassigned,
            staff_ids=[rota.anna.id],
        )
        await visits.assign_carers(
            session,
            scope=ADMIN,
            actor="test",
            clock=clock,
            visit_id=rota.afternoon,
            staff_ids=[rota.ben.id],
        )
        await visits.cancel_visit(
            session,
            scope=ADMIN,
            actor="test",
            clock=clock,
            visit_id=rota.last_day,
            reason="person in hospital",
        )
        # Someone else's visit changing says nothing to Anna.
        await visits.cancel_visit(
            session, scope=ADMIN, actor="test", clock=clock, visit_id=rota.bens, reason="moved"
        )
    changes = await anna.pull(first["cursor"])
    assert changes["reset"] is False
    assert visit_ids(changes) == {gid("Visit", rota.unassigned)}
    assert tombstones(changes) == {
        gid("Visit", rota.afternoon): "UNASSIGNED",
        gid("Visit", rota.last_day): "CANCELLED",
    }
    assert gid("Person", rota.p3) in people_by_id(changes)
    # Nothing more after that.
    quiet = await anna.pull(changes["cursor"])
    assert quiet["visits"] == []
    assert quiet["tombstones"] == []


async def test_person_changes_reach_the_carers_of_that_person(
    anna: AppClient, rota: Rota, sessions: SessionFactory, clock: FixedClock
) -> None:
    first = await anna.pull()
    async with unit_of_work(sessions) as session:
        await people.update_risks(
            session,
            ADMIN,
            rota.p3,
            risks=people.RiskFlags(falls=True, lone_working=True),
            actor="test",
            clock=clock,
        )
    changes = await anna.pull(first["cursor"])
    assert changes["visits"] == []
    updated = people_by_id(changes)[gid("Person", rota.p3)]
    assert updated["riskFlags"]["falls"] is True
    assert updated["riskFlags"]["loneWorking"] is True


async def test_the_window_moves_with_the_days(
    anna: AppClient, rota: Rota, clock: FixedClock
) -> None:
    first = await anna.pull()
    clock.advance(timedelta(days=1))
    changes = await anna.pull(first["cursor"])
    assert changes["reset"] is False
    assert changes["window"] == {"firstDay": "2026-11-23", "lastDay": "2026-12-01"}
    assert visit_ids(changes) == {gid("Visit", rota.beyond)}
    assert tombstones(changes) == {gid("Visit", rota.yesterday): "OUT_OF_WINDOW"}


async def test_a_change_committed_late_with_a_lower_event_id_is_not_missed(
    anna: AppClient, rota: Rota, sessions: SessionFactory, clock: FixedClock
) -> None:
    """Two offices assign at once; the first to write commits last. A pull in between must
    not move its cursor past the late transaction's event."""
    first = await anna.pull()
    async with sessions() as slow, slow.begin():
        await visits.assign_carers(
            slow,
            scope=ADMIN,
            actor="slow office",
            clock=clock,
            visit_id=rota.unassigned,
            staff_ids=[rota.anna.id],
        )  # its event has the lower id, and is not committed yet
        async with unit_of_work(sessions) as quick:
            await visits.assign_carers(
                quick,
                scope=ADMIN,
                actor="quick office",
                clock=clock,
                visit_id=rota.afternoon,
                staff_ids=[rota.ben.id],
            )
        between = await anna.pull(first["cursor"])
        # The quick change may show now or next time; the slow one cannot show yet.
        assert gid("Visit", rota.unassigned) not in visit_ids(between)
    after = await anna.pull(between["cursor"])
    assert gid("Visit", rota.unassigned) in visit_ids(after)
    assert tombstones(between, after) == {gid("Visit", rota.afternoon): "UNASSIGNED"}


async def test_an_event_with_a_lower_id_from_a_younger_transaction_is_not_missed(
    anna: AppClient, rota: Rota, sessions: SessionFactory, clock: FixedClock
) -> None:
    """The case an id cursor gets wrong: an older transaction (it took its transaction id
    first) inserts its event after a younger one did, and commits first. Its event is settled
    while the younger one's lower id is not; the cursor must not pass the younger one."""
    first = await anna.pull()
    async with sessions() as older, older.begin():
        await older.execute(text("SELECT pg_current_xact_id()"))  # takes its id now
        async with sessions() as younger, younger.begin():
            await visits.assign_carers(
                younger,
                scope=ADMIN,
                actor="younger office",
                clock=clock,
                visit_id=rota.unassigned,
                staff_ids=[rota.anna.id],
            )  # the lower event id
            await visits.assign_carers(
                older,
                scope=ADMIN,
                actor="older office",
                clock=clock,
                visit_id=rota.afternoon,
                staff_ids=[rota.ben.id],
            )  # the higher event id
            await older.commit()
            between = await anna.pull(first["cursor"])
            assert tombstones(between) == {gid("Visit", rota.afternoon): "UNASSIGNED"}
            assert gid("Visit", rota.unassigned) not in visit_ids(between)
    after = await anna.pull(between["cursor"])
    assert visit_ids(after) == {gid("Visit", rota.unassigned)}


async def test_the_carers_own_uploads_come_back_once_as_server_state(
    anna: AppClient, rota: Rota, sessions: SessionFactory, clock: FixedClock
) -> None:
    """F22: a check-in this phone uploaded comes back as the visit's state and fact, keyed by
    the command id, so the app matches it and shows it once."""
    from hub.visits import facts
    from hub.visits.presence import Verification, VerificationMethod

    first = await anna.pull()
    command_id = uuid.uuid4()
    async with unit_of_work(sessions) as session:
        await facts.record_check_in(
            session,
            scope=AccessScope(Role.CARER, rota.anna.organisation_id, rota.anna.id),
            actor=f"staff:{rota.anna.id}",
            clock=clock,
            fact_id=command_id,
            visit_id=rota.now,
            staff_id=rota.anna.id,
            occurred_at=at(23, 9, 0),
            verification=Verification(method=VerificationMethod.MANUAL, manual_reason="no signal"),
            source="mobile",
            device_id=uuid.UUID(anna.device_id),
        )
    changes = await anna.pull(first["cursor"])
    [visit] = changes["visits"]
    assert visit["id"] == gid("Visit", rota.now)
    assert visit["status"] == "IN_PROGRESS"
    assert visit["checkedInAt"] == at(23, 9, 0).isoformat()
    assert [(fact["id"], fact["kind"]) for fact in visit["facts"]] == [
        (str(command_id), "CHECK_IN")
    ]
    again = await anna.pull(changes["cursor"])
    assert again["visits"] == []


# --- resets -------------------------------------------------------------------------------------


async def test_an_expired_cursor_answers_a_reset_with_the_whole_window(
    anna: AppClient, rota: Rota, clock: FixedClock
) -> None:
    """F21 (read side): an old cursor is a reset, nothing else; the app drains its outbox
    before replacing its rota (uploads never depend on the cursor)."""
    first = await anna.pull()
    clock.advance(pull.CURSOR_RETENTION + timedelta(minutes=1))
    page = await anna.pull(first["cursor"])
    assert page["reset"] is True
    assert page["resetReason"] == "EXPIRED"
    assert page["window"]["firstDay"] == "2026-12-22"
    assert page["tombstones"] == []


@pytest.mark.parametrize("mangle", ["flip", "garbage", "payload"])
async def test_a_tampered_cursor_answers_a_reset(anna: AppClient, rota: Rota, mangle: str) -> None:
    cursor = (await anna.pull())["cursor"]
    body, _, signature = cursor.partition(".")
    tampered = {
        "flip": f"{body}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}",
        "garbage": "not-a-cursor",
        "payload": f"{body[:-4]}AAAA.{signature}",
    }[mangle]
    page = await anna.pull(tampered)
    assert page["reset"] is True
    assert page["resetReason"] == "INVALID"
    assert visit_ids(page) == rota.mine()


async def test_a_cursor_from_another_device_or_carer_answers_a_reset(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    anna: AppClient,
    rota: Rota,
) -> None:
    cursor = (await anna.pull())["cursor"]
    second_phone = uuid.uuid4()
    await register_device(sessions, clock, rota.anna, second_phone)
    other = AppClient(http, anna.token, device_id=str(second_phone), renew=anna.renew)
    moved = await other.pull(cursor)
    assert moved["resetReason"] == "OTHER_DEVICE"
    assert visit_ids(moved) == rota.mine()

    ben = await install_app(http, identities, sessions, clock, rota.ben)
    borrowed = await ben.pull(cursor)
    assert borrowed["resetReason"] == "OTHER_DEVICE"
    assert visit_ids(borrowed) == {gid("Visit", rota.bens)}


async def test_a_phone_too_far_behind_gets_the_window_afresh(
    anna: AppClient,
    rota: Rota,
    sessions: SessionFactory,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await anna.pull()
    monkeypatch.setattr(pull, "MAX_CHANGE_EVENTS", 1)
    async with unit_of_work(sessions) as session:
        for visit_id in (rota.unassigned, rota.afternoon):
            await visits.assign_carers(
                session,
                scope=ADMIN,
                actor="test",
                clock=clock,
                visit_id=visit_id,
                staff_ids=[rota.ben.id if visit_id == rota.afternoon else rota.anna.id],
            )
    page = await anna.pull(first["cursor"])
    assert page["reset"] is True
    assert page["resetReason"] == "TOO_MANY_CHANGES"
    expected = (rota.mine() - {gid("Visit", rota.afternoon)}) | {gid("Visit", rota.unassigned)}
    assert visit_ids(page) == expected


# --- pages --------------------------------------------------------------------------------------


async def test_pages_cover_the_window_once_and_keep_the_reset(anna: AppClient, rota: Rota) -> None:
    pages = await anna.pull_all(limit=3)
    assert [len(page["visits"]) for page in pages] == [3, 1]
    assert [page["hasMore"] for page in pages] == [True, False]
    assert all(page["reset"] and page["resetReason"] == "FIRST_PULL" for page in pages)
    assert visit_ids(*pages) == rota.mine()
    quiet = await anna.pull(pages[-1]["cursor"])
    assert quiet["reset"] is False
    assert quiet["visits"] == []


async def test_incremental_pages_put_tombstones_first(
    anna: AppClient, rota: Rota, sessions: SessionFactory, clock: FixedClock
) -> None:
    first = await anna.pull()
    async with unit_of_work(sessions) as session:
        await visits.assign_carers(
            session,
            scope=ADMIN,
            actor="test",
            clock=clock,
            visit_id=rota.unassigned,
            staff_ids=[rota.anna.id],
        )
        for visit_id in (rota.afternoon, rota.last_day):
            await visits.cancel_visit(
                session, scope=ADMIN, actor="test", clock=clock, visit_id=visit_id, reason="ill"
            )
    pages = await anna.pull_all(first["cursor"], limit=2)
    assert [(len(p["tombstones"]), len(p["visits"])) for p in pages] == [(2, 0), (0, 1)]
    assert all(page["reset"] is False for page in pages)
    assert visit_ids(*pages) == {gid("Visit", rota.unassigned)}


@pytest.mark.parametrize("limit", [0, 201])
async def test_the_page_size_is_bounded(anna: AppClient, limit: int) -> None:
    refused = await anna.pull(limit=limit)
    assert refused["__typename"] == "InvalidInputError"
    assert refused["code"] == "PAGE_SIZE"
    assert refused["field"] == "limit"


# --- the visit detail ---------------------------------------------------------------------------


async def test_the_key_safe_code_shows_only_inside_the_visit_window(
    anna: AppClient, rota: Rota, clock: FixedClock, sessions: SessionFactory
) -> None:
    afternoon = gid("Visit", rota.afternoon)
    first = await anna.pull()
    assert (await anna.visit(afternoon))["person"]["keySafeCode"] is None  # 09:00

    clock.current = at(23, 13, 35)  # 25 minutes before 14:00
    detail = await anna.visit(afternoon)
    assert detail["__typename"] == "MobileVisitDetail"
    assert detail["person"]["keySafeCode"] == "9876"
    assert detail["visit"]["id"] == afternoon
    # A pull inside the window brings the person with the code, though nothing changed.
    during = await anna.pull(first["cursor"])
    assert during["visits"] == []
    assert people_by_id(during)[gid("Person", rota.p2)]["keySafeCode"] == "9876"

    clock.current = at(23, 15, 1)  # the visit ended at 14:30, plus 30 minutes, plus one
    assert (await anna.visit(afternoon))["person"]["keySafeCode"] is None
    later = await anna.pull(during["cursor"])
    assert gid("Person", rota.p2) not in people_by_id(later)


async def test_the_visit_detail_writes_one_access_row(
    anna: AppClient, rota: Rota, sessions: SessionFactory
) -> None:
    before = len(await access_rows(sessions))
    detail = await anna.visit(gid("Visit", rota.now))
    assert detail["person"]["id"] == gid("Person", rota.p1)
    assert detail["visit"]["status"] == "SCHEDULED"
    rows = (await access_rows(sessions))[before:]
    assert len(rows) == 1
    assert "mobileVisit" in rows[0].fields
    assert rows[0].person_ids == [rota.p1]


async def test_an_unregistered_or_revoked_device_reads_nothing(
    http: httpx.AsyncClient,
    anna: AppClient,
    rota: Rota,
    sessions: SessionFactory,
    clock: FixedClock,
) -> None:
    stranger = AppClient(http, anna.token, device_id=str(uuid.uuid4()), renew=anna.renew)
    unknown = await stranger.pull()
    assert unknown["__typename"] == "DeviceNotRegisteredError"
    assert unknown["code"] == "DEVICE_NOT_REGISTERED"
    assert unknown["serverTime"] == clock.now().isoformat()
    malformed = await anna.run("RotaPull", {"deviceId": "phone-1", "appVersion": "1.0.0"})
    assert malformed.data is None
    assert "UUID" in malformed.errors[0]["message"]

    async with unit_of_work(sessions) as session:
        await devices.revoke_device(
            session,
            scope=AccessScope(Role.COORDINATOR, rota.anna.organisation_id, None),
            actor="office",
            clock=clock,
            device_id=uuid.UUID(anna.device_id),
            reason="lost on the bus",
        )
    for refused in (await anna.pull(), await anna.visit(gid("Visit", rota.now))):
        assert refused["__typename"] == "DeviceRevokedError"
        assert refused["code"] == "DEVICE_REVOKED"
        assert refused["drainOnly"] is False
