"""Devices over GraphQL: registration by the carer (idempotent, refused for another carer's
device), revocation by the office (its later commands quarantined, not lost), the outbox-health
ping and the office's view of unsynced work, the quarantine list with the whole payload (an
access-logged read) and its append-only resolution, and NFC/QR tags registered to a home."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.models import Event
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from hub.mobile.canonical import canonical_time
from hub.mobile.models import CommandResolution, Device
from hub.organisations.models import Organisation
from hub.people.models import Person
from hub.staff.models import StaffMember
from hub.visits.models import Visit
from tests import builders
from tests.mobile.app_client import document_id, trusted_only_settings
from tests.mobile.command_builder import Phone, visit_gid
from tests.support.graphql import GraphQLClient, GraphQLResponse
from tests.support.identity import Identities

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

REVOKE = """
mutation Revoke($input: RevokeDeviceInput!) {
  revokeDevice(input: $input) {
    __typename
    ... on Device { deviceId status revokedAt revokedReason lastSeq carer { name } }
    ... on UserError { code message }
  }
}"""

UNSYNCED = """
query Unsynced($first: Int, $after: String) {
  unsyncedWork(first: $first, after: $after) {
    nodes { deviceId outboxDepth oldestPendingAt outboxReportedAt lastSeenAt clockOffsetMs
            carer { name } }
    pageInfo { hasNextPage endCursor }
  }
}"""

DEVICES = """
query Devices($status: [DeviceStatus!]) {
  devices(status: $status) { nodes { deviceId status platform model appVersion lastSeq } }
}"""

QUARANTINED = """
query Quarantined($resolved: Boolean, $first: Int, $after: String) {
  quarantinedCommands(resolved: $resolved, first: $first, after: $after) {
    nodes {
      id seq commandId code message flags bodyType receivedAt payload
      carer { name } visit { id } resolution { outcome note resolvedBy }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""

RESOLVE = """
mutation Resolve($input: ResolveQuarantinedCommandInput!) {
  resolveQuarantinedCommand(input: $input) {
    __typename
    ... on QuarantinedCommand { id resolution { outcome note resolvedBy resolvedAt } }
    ... on UserError { code message }
  }
}"""

TAG = """
mutation Tag($input: RegisterPresenceTagInput!) {
  registerPresenceTag(input: $input) {
    __typename
    ... on PresenceTag { id kind label active }
    ... on UserError { code message }
  }
}"""


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return trusted_only_settings(database_url, redis_url, tmp_path)


@dataclass
class Office:
    provider: Organisation
    other_provider: Organisation
    person: Person
    anna: StaffMember
    ben: StaffMember
    visit: Visit


@pytest.fixture
async def office(sessions: SessionFactory, clock: FixedClock) -> Office:
    clock.current = START + timedelta(minutes=5)
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name="Riverside Homecare")
        other = await builders.create_organisation(session, name="Hilltop Care")
        contract = await builders.create_contract(session, provider=provider)
        person = await builders.create_person(session, latitude=53.4808, longitude=-2.2426)
        package = await builders.create_package(session, contract=contract, person=person)
        anna = await builders.create_staff(
            session, organisation=provider, given_name="Anna", family_name="Shaw"
        )
        ben = await builders.create_staff(
            session, organisation=provider, given_name="Ben", family_name="Okafor"
        )
        visit = await builders.create_visit(
            session, package=package, carers=(anna,), planned_start=START
        )
    return Office(provider, other, person, anna, ben, visit)


class App:
    def __init__(self, http: httpx.AsyncClient, token: str, phone: Phone) -> None:
        self.http = http
        self.token = token
        self.phone = phone

    async def run(self, name: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"documentId": document_id(name), "variables": variables},
            headers={"authorization": f"Bearer {self.token}"},
        )
        data: dict[str, Any] = GraphQLResponse(response.status_code, response.json()).ok()
        return data

    async def register(self) -> dict[str, Any]:
        data = await self.run(
            "RegisterDevice",
            {
                "input": {
                    "deviceId": str(self.phone.device_id),
                    "platform": "ios",
                    "model": "iPhone 15",
                    "appVersion": self.phone.app_version,
                    "protocolVersion": 2,
                }
            },
        )
        result: dict[str, Any] = data["registerDevice"]
        return result

    async def ping(self, at: datetime, depth: int, oldest: datetime | None) -> dict[str, Any]:
        variables: dict[str, Any] = {
            "deviceId": str(self.phone.device_id),
            "appVersion": self.phone.app_version,
            "protocolVersion": 2,
            "sentAt": self.phone.reading(at),
            "outboxDepth": depth,
        }
        if oldest is not None:
            variables["oldestPendingAt"] = canonical_time(oldest + self.phone.wall_skew)
        result: dict[str, Any] = (await self.run("ReportOutbox", {"input": variables}))[
            "reportOutbox"
        ]
        return result

    async def upload(self, at: datetime) -> dict[str, Any]:
        data = await self.run("SubmitCommands", {"input": self.phone.batch(at)})
        result: dict[str, Any] = data["submitCommands"]
        if result["__typename"] == "SubmitCommandsPayload":
            self.phone.acknowledge(result["ackedThroughSeq"])
        return result


async def app_for(
    http: httpx.AsyncClient, identities: Identities, carer: StaffMember, **phone: Any
) -> App:
    token = await identities.token(
        Role.CARER, organisation_id=carer.organisation_id, staff_id=carer.id
    )
    return App(http, token, Phone(**phone))


async def office_client(
    http: httpx.AsyncClient, identities: Identities, organisation: Organisation
) -> GraphQLClient:
    token = await identities.token(Role.COORDINATOR, organisation_id=organisation.id)
    return GraphQLClient(http, token=token)


async def run(client: GraphQLClient, document: str, **variables: Any) -> dict[str, Any]:
    data = (await client.execute(document, variables)).ok()
    result: dict[str, Any] = next(iter(data.values()))
    return result


# --- registration --------------------------------------------------------------------------


async def test_registration_binds_the_device_to_the_carer_once(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    office: Office,
) -> None:
    anna = await app_for(http, identities, office.anna)
    first = await anna.register()
    again = await anna.register()
    ben = await app_for(http, identities, office.ben)
    ben.phone = anna.phone  # Ben's app presents Anna's device id
    taken = await ben.register()

    assert first["__typename"] == again["__typename"] == "DeviceRegistration"
    assert first["device"]["lastSeq"] == 0
    assert taken["__typename"] == "ConflictError"
    assert taken["code"] == "DEVICE_REGISTERED_TO_ANOTHER_CARER"
    async with sessions() as session:
        device = await session.get(Device, anna.phone.device_id)
        registered = (
            await session.scalars(select(Event).where(Event.type == "mobile.device_registered"))
        ).all()
    assert device is not None
    assert (device.staff_id, device.organisation_id) == (office.anna.id, office.provider.id)
    assert (device.platform, device.model) == ("ios", "iPhone 15")
    assert len(registered) == 1


async def test_a_revoked_device_stays_revoked_and_its_commands_are_kept(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    office: Office,
) -> None:
    """F37 through the office's mutation and the app's upload."""
    anna = await app_for(http, identities, office.anna)
    await anna.register()
    coordinator = await office_client(http, identities, office.provider)
    outsider = await office_client(http, identities, office.other_provider)
    device_id = str(anna.phone.device_id)

    foreign = await run(outsider, REVOKE, input={"deviceId": device_id, "reason": "lost"})
    blank = await run(coordinator, REVOKE, input={"deviceId": device_id, "reason": " "})
    revoked = await run(
        coordinator, REVOKE, input={"deviceId": device_id, "reason": "reported lost on the bus"}
    )
    again = await run(coordinator, REVOKE, input={"deviceId": device_id, "reason": "again"})
    reregistered = await anna.register()
    anna.phone.check_in(office.visit.id, START + timedelta(minutes=2))
    upload = await anna.upload(clock.now())

    assert foreign["code"] == "DEVICE_NOT_FOUND"
    assert blank["__typename"] == "InvalidInputError"
    assert revoked["status"] == "REVOKED"
    assert revoked["revokedReason"] == "reported lost on the bus"
    assert revoked["carer"]["name"] == "Anna Shaw"
    assert again["revokedReason"] == "reported lost on the bus"  # revoking again changes nothing
    assert reregistered["device"]["status"] == "REVOKED"
    assert [(r["status"], r["code"]) for r in upload["results"]] == [
        ("QUARANTINED", "REVOKED_DEVICE")
    ]
    listed = await run(coordinator, QUARANTINED, resolved=False)
    [entry] = listed["nodes"]
    assert entry["code"] == "REVOKED_DEVICE"
    assert entry["payload"]["body"]["checkInV1"]["visitId"] == visit_gid(office.visit.id)
    assert entry["visit"]["id"] == encode_global_id("Visit", office.visit.id)
    assert entry["carer"]["name"] == "Anna Shaw"
    assert (await run(coordinator, DEVICES, status=["REVOKED"]))["nodes"][0][
        "deviceId"
    ] == device_id
    forbidden = await GraphQLClient(http, token=anna.token).execute(
        REVOKE, {"input": {"deviceId": device_id, "reason": "x"}}
    )
    assert forbidden.errors  # a carer's token runs trusted documents only


# --- outbox health ---------------------------------------------------------------------------


async def test_the_office_sees_which_carers_hold_unsynced_work_and_since_when(
    http: httpx.AsyncClient,
    identities: Identities,
    clock: FixedClock,
    office: Office,
) -> None:
    anna = await app_for(http, identities, office.anna, wall_skew=timedelta(minutes=-10))
    ben = await app_for(http, identities, office.ben)
    for app in (anna, ben):
        await app.register()
    coordinator = await office_client(http, identities, office.provider)
    outsider = await office_client(http, identities, office.other_provider)

    pinged = await anna.ping(clock.now(), 4, START + timedelta(minutes=1))
    await ben.ping(clock.now(), 1, START + timedelta(minutes=3))
    both = await run(coordinator, UNSYNCED)
    first_page = await run(coordinator, UNSYNCED, first=1)
    second_page = await run(
        coordinator, UNSYNCED, first=1, after=first_page["pageInfo"]["endCursor"]
    )

    assert pinged["__typename"] == "OutboxReported"
    assert pinged["clockOffsetMs"] == 10 * 60 * 1000
    assert pinged["serverTime"] == clock.now().isoformat()
    # The longest-waiting first; Anna's phone is 10 minutes slow, so her time is corrected.
    assert [
        (n["carer"]["name"], n["outboxDepth"], n["oldestPendingAt"]) for n in both["nodes"]
    ] == [
        ("Anna Shaw", 4, (START + timedelta(minutes=1)).isoformat()),
        ("Ben Okafor", 1, (START + timedelta(minutes=3)).isoformat()),
    ]
    assert [n["carer"]["name"] for n in first_page["nodes"] + second_page["nodes"]] == [
        "Anna Shaw",
        "Ben Okafor",
    ]
    assert second_page["pageInfo"]["hasNextPage"] is False
    assert (await run(outsider, UNSYNCED))["nodes"] == []

    # Ben's phone syncs its one command: it leaves the list.
    ben.phone.hydration(office.visit.id, START + timedelta(minutes=3), 150)
    clock.advance(timedelta(minutes=1))
    await ben.upload(clock.now())
    after = await run(coordinator, UNSYNCED)
    assert [n["carer"]["name"] for n in after["nodes"]] == ["Anna Shaw"]


async def test_a_ping_from_an_unregistered_device_is_refused(
    http: httpx.AsyncClient, identities: Identities, clock: FixedClock, office: Office
) -> None:
    anna = await app_for(http, identities, office.anna)
    answer = await anna.ping(clock.now(), 2, None)
    assert answer["__typename"] == "DeviceNotRegisteredError"
    assert answer["serverTime"] == clock.now().isoformat()


# --- quarantine review -----------------------------------------------------------------------


async def test_the_office_reads_quarantined_commands_whole_and_resolves_them_once(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    office: Office,
) -> None:
    anna = await app_for(http, identities, office.anna)
    await anna.register()
    anna.phone.record(
        "painScoreV1",
        {"visitId": visit_gid(office.visit.id), "score": 12, "location": "knee"},
        at=START + timedelta(minutes=3),
    )
    anna.phone.record(
        "hydrationV1", {"visitId": visit_gid(office.visit.id), "fluidMl": -5}, at=START
    )
    upload = await anna.upload(clock.now())
    assert [r["code"] for r in upload["results"]] == ["VALIDATION_FAILED"] * 2
    coordinator = await office_client(http, identities, office.provider)
    outsider = await office_client(http, identities, office.other_provider)

    async with sessions() as session:
        logged_before = len((await session.scalars(select(AccessLogEntry))).all())
    page = await run(coordinator, QUARANTINED, first=1)
    [entry] = page["nodes"]
    rest = await run(coordinator, QUARANTINED, first=1, after=page["pageInfo"]["endCursor"])
    resolved = await run(
        coordinator,
        RESOLVE,
        input={
            "id": entry["id"],
            "outcome": "RECORDED_ELSEWHERE",
            "note": "Pain score 8 entered by the office after calling Anna",
        },
    )
    twice = await run(
        coordinator, RESOLVE, input={"id": entry["id"], "outcome": "NOT_REQUIRED", "note": "x"}
    )
    foreign = await run(
        outsider, RESOLVE, input={"id": entry["id"], "outcome": "NOT_REQUIRED", "note": "x"}
    )
    unresolved = await run(coordinator, QUARANTINED, resolved=False)
    done = await run(coordinator, QUARANTINED, resolved=True)

    assert entry["seq"] == 1
    assert entry["bodyType"] == "painScoreV1"
    assert entry["payload"]["body"]["painScoreV1"] == {
        "visitId": visit_gid(office.visit.id),
        "score": 12,
        "location": "knee",
    }
    assert "values.score" in entry["message"]
    assert [n["seq"] for n in rest["nodes"]] == [2]
    assert resolved["__typename"] == "QuarantinedCommand"
    assert resolved["resolution"]["outcome"] == "RECORDED_ELSEWHERE"
    assert twice["code"] == "COMMAND_ALREADY_RESOLVED"
    assert foreign["code"] == "QUARANTINED_COMMAND_NOT_FOUND"
    assert [n["seq"] for n in unresolved["nodes"]] == [2]
    assert [n["seq"] for n in done["nodes"]] == [1]
    assert done["nodes"][0]["resolution"]["note"].startswith("Pain score 8")
    async with sessions() as session:
        rows = (await session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id))).all()
    # Every read of a payload naming the person was attributed to the reader.
    reads = rows[logged_before:]
    assert reads
    assert all(office.person.id in row.person_ids for row in reads)
    assert "quarantinedCommands" in reads[0].fields
    with pytest.raises(DBAPIError, match="append-only"):
        async with unit_of_work(sessions) as session:
            await session.execute(text("UPDATE command_resolutions SET note = 'changed'"))
    async with sessions() as session:
        [resolution] = (await session.scalars(select(CommandResolution))).all()
    assert resolution.note.startswith("Pain score 8")


# --- presence tags ---------------------------------------------------------------------------


async def test_a_tag_registered_by_the_office_verifies_a_check_in(
    http: httpx.AsyncClient,
    identities: Identities,
    clock: FixedClock,
    office: Office,
) -> None:
    coordinator = await office_client(http, identities, office.provider)
    person_id = encode_global_id("Person", office.person.id)
    tag = await run(
        coordinator,
        TAG,
        input={"personId": person_id, "kind": "NFC", "value": "04:A2:1B:33", "label": "hall"},
    )
    taken = await run(
        coordinator, TAG, input={"personId": person_id, "kind": "NFC", "value": "04a21b33"}
    )
    outsider = await office_client(http, identities, office.other_provider)
    hidden = await run(outsider, TAG, input={"personId": person_id, "kind": "QR", "value": "qr-1"})
    anna = await app_for(http, identities, office.anna)
    await anna.register()
    anna.phone.check_in(
        office.visit.id, START + timedelta(minutes=2), method="NFC", tag="04:a2:1b:33"
    )
    upload = await anna.upload(clock.now())

    assert tag["__typename"] == "PresenceTag"
    assert (tag["kind"], tag["label"], tag["active"]) == ("NFC", "hall", True)
    assert taken["code"] == "PRESENCE_TAG_TAKEN"
    assert hidden["code"] == "PERSON_NOT_FOUND"
    assert upload["results"][0]["flags"] == []
    assert uuid.UUID(upload["results"][0]["commandId"])
