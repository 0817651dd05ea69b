"""A carer's outbox can never be blocked (protocol rule 1), over real HTTP as the app uploads:
the carer's token, the trusted documents of the shipped `carer-app@1.0.0` manifest sent by
id, real PostgreSQL. A command the hub cannot apply — one larger than the batch byte cap, one
that fails GraphQL input coercion — is quarantined whole in its place and named; the valid
commands before and after it in the same batch are applied; every answer carries serverTime;
a resend answers DUPLICATE and records nothing twice."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.accounts.models import Role
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import FixedClock
from hub.mobile.canonical import command_hash
from hub.mobile.documents import parse_manifest
from hub.mobile.models import CommandLogEntry, CommandStatus
from hub.organisations.models import Organisation
from hub.staff.models import StaffMember
from hub.visits.models import Visit, VisitFact
from tests import builders
from tests.mobile.app_client import CONTRACT, trusted_only_settings
from tests.mobile.command_builder import Phone, visit_gid
from tests.support.graphql import GraphQLResponse
from tests.support.identity import Identities

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SHIPPED = "carer-app@1.0.0"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return trusted_only_settings(database_url, redis_url, tmp_path)


@functools.cache
def shipped_document(name: str) -> str:
    """The id of an operation in the manifest of the release already on carers' phones."""
    path = CONTRACT / "manifests" / f"{SHIPPED}.json"
    found = {op.name: op for op in parse_manifest(path.read_text(), path.name)}
    return found[name].document_id


class App:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.token = token
        self.phone = Phone()

    async def run(self, name: str, variables: dict[str, Any]) -> GraphQLResponse:
        response = await self.http.post(
            "/graphql",
            json={"documentId": shipped_document(name), "variables": variables},
            headers={"authorization": f"Bearer {self.token}"},
        )
        return GraphQLResponse(response.status_code, response.json())

    async def register(self) -> None:
        answer = await self.run(
            "RegisterDevice",
            {
                "input": {
                    "deviceId": str(self.phone.device_id),
                    "platform": "android",
                    "appVersion": "1.0.0",
                    "protocolVersion": 2,
                }
            },
        )
        assert answer.ok()["registerDevice"]["__typename"] == "DeviceRegistration"

    async def upload(self, at: datetime, **extra: Any) -> dict[str, Any]:
        answer = await self.run("SubmitCommands", {"input": {**self.phone.batch(at), **extra}})
        result: dict[str, Any] = answer.ok()["submitCommands"]
        return result


@pytest.fixture
async def scene(
    sessions: SessionFactory, clock: FixedClock
) -> tuple[Organisation, StaffMember, Visit]:
    clock.current = START + timedelta(minutes=30)
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


@pytest.fixture
async def app(
    http: httpx.AsyncClient, identities: Identities, scene: tuple[Organisation, StaffMember, Visit]
) -> App:
    _, carer, _ = scene
    subject = await identities.register(
        Role.CARER, organisation_id=carer.organisation_id, staff_id=carer.id
    )
    phone_app = App(http, identities.mint(subject, ttl=timedelta(hours=2)))
    await phone_app.register()
    return phone_app


async def log_rows(sessions: SessionFactory) -> list[CommandLogEntry]:
    async with sessions() as session:
        return list(
            await session.scalars(select(CommandLogEntry).order_by(CommandLogEntry.server_seq))
        )


async def facts_of(sessions: SessionFactory, visit: Visit) -> list[VisitFact]:
    async with sessions() as session:
        return list(await session.scalars(select(VisitFact).where(VisitFact.visit_id == visit.id)))


def statuses(result: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    return [(r["seq"], r["status"], r["code"]) for r in result["results"]]


# --- a command larger than the batch byte cap ----------------------------------------------------


async def test_an_oversized_command_is_quarantined_whole_and_the_queue_moves_on(
    app: App,
    sessions: SessionFactory,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    _, _, visit = scene
    phone = app.phone
    phone.hydration(visit.id, START + timedelta(minutes=1), 150)
    huge = phone.record(
        "concernV1",
        {
            "visitId": visit_gid(visit.id),
            "category": "HEALTH",
            "safeguarding": False,
            "description": "x" * (300 * 1024),  # over the 256 KiB cap on its own
        },
        at=START + timedelta(minutes=2),
    )
    phone.hydration(visit.id, START + timedelta(minutes=3), 200)

    # On its own (the app halves the batch down to one): answered, not refused.
    alone = (
        await app.run(
            "SubmitCommands",
            {"input": {**phone.batch(clock.now()), "commands": phone.outbox[:2]}},
        )
    ).ok()["submitCommands"]
    everything = await app.upload(clock.now())

    assert alone["__typename"] == "SubmitCommandsPayload"
    assert statuses(alone) == [(1, "APPLIED", None), (2, "QUARANTINED", "COMMAND_TOO_LARGE")]
    assert everything["__typename"] == "SubmitCommandsPayload"
    assert everything["serverTime"] == clock.now().isoformat()
    assert everything["ackedThroughSeq"] == 3
    assert statuses(everything) == [
        (1, "DUPLICATE", None),
        (2, "DUPLICATE", "COMMAND_TOO_LARGE"),
        (3, "APPLIED", None),
    ]
    assert everything["results"][1]["firstStatus"] == "QUARANTINED"
    rows = await log_rows(sessions)
    kept = next(row for row in rows if row.seq == 2 and row.original)
    assert kept.status is CommandStatus.QUARANTINED
    # Kept whole: the stored command hashes to the app's own hash of it, byte for byte.
    assert command_hash(kept.payload) == command_hash(huge)
    assert kept.payload["body"]["concernV1"]["description"] == "x" * (300 * 1024)
    assert len(await facts_of(sessions, visit)) == 2


# --- commands that fail GraphQL input coercion ----------------------------------------------------


BadCommand = Callable[[Phone, Visit, datetime], dict[str, Any]]


def _record_raw(phone: Phone, at: datetime, body: dict[str, Any]) -> dict[str, Any]:
    command = phone.record("placeholder", {}, at=at)
    command["body"] = body
    phone.head = command_hash(command)
    return command


def no_member(phone: Phone, visit: Visit, at: datetime) -> dict[str, Any]:
    return _record_raw(phone, at, {})


def two_members(phone: Phone, visit: Visit, at: datetime) -> dict[str, Any]:
    return _record_raw(
        phone,
        at,
        {
            "hydrationV1": {"visitId": visit_gid(visit.id), "fluidMl": 100},
            "moodV1": {"visitId": visit_gid(visit.id), "mood": "LOW"},
        },
    )


def wrong_scalar(phone: Phone, visit: Visit, at: datetime) -> dict[str, Any]:
    return phone.record("hydrationV1", {"visitId": visit_gid(visit.id), "fluidMl": "lots"}, at=at)


def unknown_enum(phone: Phone, visit: Visit, at: datetime) -> dict[str, Any]:
    return phone.record("moodV1", {"visitId": visit_gid(visit.id), "mood": "ECSTATIC"}, at=at)


def non_uuid_command_id(phone: Phone, visit: Visit, at: datetime) -> dict[str, Any]:
    command = phone.hydration(visit.id, at, 120)
    command["commandId"] = "hydration-42"
    phone.head = command_hash(command)
    return command


@pytest.mark.parametrize(
    ("make_bad", "named"),
    [
        (no_member, "command.body"),
        (two_members, "command.body"),
        (wrong_scalar, "command.body.hydrationV1.fluidMl"),
        (unknown_enum, "command.body.moodV1.mood"),
        (non_uuid_command_id, "command.commandId"),
    ],
    ids=["oneof-no-member", "oneof-two-members", "wrong-scalar", "unknown-enum", "non-uuid-id"],
)
async def test_a_command_failing_coercion_is_quarantined_in_its_place(
    app: App,
    sessions: SessionFactory,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
    make_bad: BadCommand,
    named: str,
) -> None:
    _, _, visit = scene
    phone = app.phone
    phone.hydration(visit.id, START + timedelta(minutes=1), 150)
    bad = make_bad(phone, visit, START + timedelta(minutes=2))
    phone.hydration(visit.id, START + timedelta(minutes=3), 200)
    sent = json.loads(json.dumps(bad))

    first = await app.upload(clock.now())
    again = await app.upload(clock.now())

    assert first["__typename"] == "SubmitCommandsPayload"
    assert first["serverTime"] == clock.now().isoformat()
    assert first["drainOnly"] is False
    assert first["ackedThroughSeq"] == 3
    assert first["stop"] is None
    assert statuses(first) == [
        (1, "APPLIED", None),
        (2, "QUARANTINED", "VALIDATION_FAILED"),
        (3, "APPLIED", None),
    ]
    quarantined = first["results"][1]
    assert named in quarantined["message"]
    # The chain runs through the quarantined command: the one after it is not a break.
    assert "CHAIN_BREAK" not in first["results"][2]["flags"]
    assert [r["status"] for r in again["results"]] == ["DUPLICATE"] * 3
    assert again["results"][1]["firstStatus"] == "QUARANTINED"
    assert again["results"][1]["receiptId"] == quarantined["receiptId"]

    rows = await log_rows(sessions)
    kept = [row for row in rows if row.status is CommandStatus.QUARANTINED]
    assert len(kept) == 1
    assert kept[0].seq == 2
    assert kept[0].payload == sent  # whole, as the phone sent it
    assert str(kept[0].command_id) == quarantined["commandId"]
    assert len(await facts_of(sessions, visit)) == 2


async def test_the_app_may_hand_a_raw_command_to_the_quarantine_path_itself(
    app: App,
    sessions: SessionFactory,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    """`rawCommands` for a command the app cannot encode; one that turns out valid is
    applied like any other (the hub judges, never the app)."""
    _, _, visit = scene
    phone = app.phone
    phone.hydration(visit.id, START + timedelta(minutes=1), 150)
    bad = unknown_enum(phone, visit, START + timedelta(minutes=2))
    fine = phone.hydration(visit.id, START + timedelta(minutes=3), 200)
    commands = list(phone.outbox)

    result = await app.upload(
        clock.now(),
        commands=[commands[0]],
        rawCommands=[{"seq": 2, "command": bad}, {"seq": 3, "command": fine}],
    )

    assert statuses(result) == [
        (1, "APPLIED", None),
        (2, "QUARANTINED", "VALIDATION_FAILED"),
        (3, "APPLIED", None),
    ]
    assert "command.body.moodV1.mood" in result["results"][1]["message"]
    assert len(await facts_of(sessions, visit)) == 2


async def test_a_bad_command_without_a_usable_seq_takes_its_place_from_its_neighbours(
    app: App,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    _, _, visit = scene
    phone = app.phone
    phone.hydration(visit.id, START + timedelta(minutes=1), 150)
    bad = phone.hydration(visit.id, START + timedelta(minutes=2), 90)
    bad["seq"] = "two"
    phone.head = command_hash(bad)
    phone.hydration(visit.id, START + timedelta(minutes=3), 200)

    result = await app.upload(clock.now())

    assert statuses(result) == [
        (1, "APPLIED", None),
        (2, "QUARANTINED", "VALIDATION_FAILED"),
        (3, "APPLIED", None),
    ]
    assert "command.seq" in result["results"][1]["message"]
