"""The command upload over GraphQL/HTTP, driven as the app drives it: the carer's token, the
trusted documents of mobile_contract/ sent by id, a device registered with `registerDevice`.
The answers carry the server time and the version policy; request-level refusals are typed
union members (F20, F30); the token expiring mid-drain is a 401 and a refreshed token resumes
with nothing lost (F18)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.accounts.models import Role
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import FixedClock
from hub.mobile.canonical import canonical_time
from hub.mobile.models import CommandLogEntry
from hub.organisations.models import Organisation
from hub.staff.models import StaffMember
from hub.visits.models import Visit, VisitFact
from tests import builders
from tests.mobile.app_client import document_id, trusted_only_settings
from tests.mobile.command_builder import Phone
from tests.support.graphql import GraphQLResponse
from tests.support.identity import Identities

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """The production rule: carers run trusted documents only."""
    return trusted_only_settings(database_url, redis_url, tmp_path)


class App:
    """The carers' app: a token (renewable), a phone, and the manifest's documents."""

    def __init__(self, http: httpx.AsyncClient, token: str, phone: Phone) -> None:
        self.http = http
        self.token = token
        self.phone = phone

    async def run(self, name: str, variables: dict[str, Any]) -> GraphQLResponse:
        response = await self.http.post(
            "/graphql",
            json={"documentId": document_id(name), "variables": variables},
            headers={"authorization": f"Bearer {self.token}"},
        )
        return GraphQLResponse(response.status_code, response.json())

    async def register(self) -> dict[str, Any]:
        answer = await self.run(
            "RegisterDevice",
            {
                "input": {
                    "deviceId": str(self.phone.device_id),
                    "platform": "android",
                    "model": "Pixel 8",
                    "appVersion": self.phone.app_version,
                    "protocolVersion": self.phone.protocol_version,
                }
            },
        )
        result: dict[str, Any] = answer.ok()["registerDevice"]
        return result

    async def upload(self, at: datetime, limit: int | None = None) -> GraphQLResponse:
        return await self.run("SubmitCommands", {"input": self.phone.batch(at, limit)})

    async def drain_step(self, at: datetime, limit: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = (await self.upload(at, limit)).ok()["submitCommands"]
        if result["__typename"] == "SubmitCommandsPayload":
            self.phone.acknowledge(result["ackedThroughSeq"])
        return result


@pytest.fixture
async def scene(
    sessions: SessionFactory, clock: FixedClock
) -> tuple[Organisation, StaffMember, Visit]:
    clock.current = START + timedelta(minutes=5)
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


async def carer_app(
    http: httpx.AsyncClient,
    identities: Identities,
    carer: StaffMember,
    *,
    ttl: timedelta = timedelta(hours=1),
    **phone: Any,
) -> tuple[App, str]:
    subject = await identities.register(
        Role.CARER, organisation_id=carer.organisation_id, staff_id=carer.id
    )
    return App(http, identities.mint(subject, ttl=ttl), Phone(**phone)), subject


async def test_register_check_in_and_a_resend_over_the_api(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    _, carer, visit = scene
    app, _ = await carer_app(http, identities, carer)
    registered = await app.register()
    again = await app.register()
    app.phone.check_in(visit.id, START + timedelta(minutes=2))
    app.phone.hydration(visit.id, START + timedelta(minutes=3), 200)
    batch_time = clock.now()

    first = (await app.upload(batch_time)).ok()["submitCommands"]
    resent = (await app.upload(batch_time)).ok()["submitCommands"]

    assert registered["__typename"] == again["__typename"] == "DeviceRegistration"
    assert registered["device"]["deviceId"] == str(app.phone.device_id)
    assert registered["device"]["status"] == "ACTIVE"
    assert registered["serverTime"] == clock.now().isoformat()
    assert first["__typename"] == "SubmitCommandsPayload"
    assert first["serverTime"] == clock.now().isoformat()
    assert first["minAppVersion"] == "1.0.0"
    assert first["drainOnly"] is False
    assert first["clockOffsetMs"] == 0
    assert first["ackedThroughSeq"] == 2
    assert first["stop"] is None
    assert [(r["seq"], r["status"], r["flags"]) for r in first["results"]] == [
        (1, "APPLIED", []),
        (2, "APPLIED", []),
    ]
    assert first["results"][0]["entityIds"] == [app.phone.outbox[0]["commandId"]]
    assert [r["status"] for r in resent["results"]] == ["DUPLICATE", "DUPLICATE"]
    assert [r["firstStatus"] for r in resent["results"]] == ["APPLIED", "APPLIED"]
    assert [r["receiptId"] for r in resent["results"]] == [r["receiptId"] for r in first["results"]]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(VisitFact)) == 2
        logged = (await session.scalars(select(CommandLogEntry))).all()
    # Each row records who sent it, with which app, protocol and trusted document.
    assert {(r.app_version, r.protocol_version, r.document_id) for r in logged} == {
        ("1.0.0", 2, document_id("SubmitCommands"))
    }
    assert len(logged) == 2


async def test_a_token_expiring_mid_drain_is_refused_and_a_new_one_resumes(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    """F18: 401 TOKEN_EXPIRED, the outbox is intact, a refreshed token finishes the drain."""
    _, carer, visit = scene
    app, subject = await carer_app(http, identities, carer, ttl=timedelta(minutes=5))
    await app.register()
    for n in range(6):
        app.phone.hydration(visit.id, START + timedelta(minutes=n), 100)

    first = await app.drain_step(clock.now(), limit=3)
    clock.advance(timedelta(minutes=10))  # past expiry and the 60 s leeway
    refused = await app.upload(clock.now(), limit=3)
    app.token = identities.mint(subject)
    rest = await app.drain_step(clock.now(), limit=3)

    assert first["ackedThroughSeq"] == 3
    assert refused.status_code == 401
    assert refused.errors[0]["extensions"]["code"] == "TOKEN_EXPIRED"
    assert len(app.phone.outbox) == 0
    assert rest["ackedThroughSeq"] == 6
    assert [r["seq"] for r in rest["results"]] == [4, 5, 6]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(VisitFact)) == 6


async def test_request_level_refusals_are_typed_and_carry_the_server_time(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    """F20 (too large), F30 (protocol), an unregistered device; nothing applied by any."""
    _, carer, visit = scene
    app, _ = await carer_app(http, identities, carer)

    app.phone.hydration(visit.id, START, 100)
    unregistered = (await app.upload(clock.now())).ok()["submitCommands"]
    await app.register()
    for n in range(100):
        app.phone.hydration(visit.id, START + timedelta(seconds=n), 10)
    too_large = (await app.upload(clock.now())).ok()["submitCommands"]
    app.phone.protocol_version = 7
    unsupported = (await app.upload(clock.now(), limit=1)).ok()["submitCommands"]

    assert unregistered["__typename"] == "DeviceNotRegisteredError"
    assert unregistered["code"] == "DEVICE_NOT_REGISTERED"
    assert too_large["__typename"] == "BatchTooLargeError"
    assert (too_large["maxCommands"], too_large["maxBytes"]) == (100, 262144)
    assert unsupported["__typename"] == "UnsupportedProtocolError"
    assert unsupported["code"] == "UNSUPPORTED_PROTOCOL"
    assert unsupported["supportedProtocols"] == [2, 1]
    for refusal in (unregistered, too_large, unsupported):
        assert refusal["serverTime"] == clock.now().isoformat()
        assert refusal["minAppVersion"] == "1.0.0"
        assert refusal["message"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CommandLogEntry)) == 0


async def test_an_app_below_the_minimum_drains_its_outbox(
    http: httpx.AsyncClient,
    identities: Identities,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    """F29 (upload side): the upload is accepted and the answer says drainOnly."""
    _, carer, visit = scene
    app, _ = await carer_app(http, identities, carer, app_version="0.9.2")
    await app.register()
    app.phone.check_in(visit.id, START + timedelta(minutes=2))
    answer = await app.drain_step(clock.now())
    assert answer["drainOnly"] is True
    assert answer["minAppVersion"] == "1.0.0"
    assert answer["results"][0]["status"] == "APPLIED"


async def test_the_device_clock_offset_is_measured_and_answered(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    scene: tuple[Organisation, StaffMember, Visit],
) -> None:
    """F23 over the API: a phone 3 h fast; the fact keeps both times."""
    _, carer, visit = scene
    app, _ = await carer_app(http, identities, carer, wall_skew=timedelta(hours=3))
    await app.register()
    app.phone.check_in(visit.id, START + timedelta(minutes=2))
    answer = await app.drain_step(clock.now())
    assert answer["clockOffsetMs"] == -3 * 3600 * 1000
    assert answer["results"][0]["flags"] == ["CLOCK_SKEW_SUSPECT"]
    async with sessions() as session:
        fact = await session.get(VisitFact, uuid.UUID(answer["results"][0]["commandId"]))
    assert fact is not None
    assert canonical_time(fact.occurred_at) == canonical_time(START + timedelta(minutes=2))
    assert fact.device_occurred_at == START + timedelta(hours=3, minutes=2)
