"""The app's whole loop on trusted documents only: register, upload, ping, pull. What it
uploads comes back from the pull once, as server state (F22); uploads never depend on the pull
cursor (F21); a mutation document is never run over GET (F31)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.accounts.models import Role
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.graphql.schema import schema
from hub.kit.time import FixedClock
from hub.mobile import pull
from hub.mobile.models import CommandLogEntry
from hub.organisations.models import Organisation
from hub.staff.models import StaffMember
from tests import builders
from tests.mobile.app_client import AppClient, document_id, trusted_only_settings
from tests.mobile.command_builder import Phone
from tests.support.identity import Identities


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """The production rule: carers run trusted documents only."""
    return trusted_only_settings(database_url, redis_url, tmp_path)


@pytest.fixture
async def carer_and_visit(
    sessions: SessionFactory, clock: FixedClock
) -> tuple[StaffMember, uuid.UUID]:
    async with unit_of_work(sessions) as session:
        contract = await builders.create_contract(session)
        provider = await session.get(Organisation, contract.provider_id)
        carer = await builders.create_staff(session, organisation=provider)
        package = await builders.create_package(session, contract=contract)
        visit = await builders.create_visit(
            session,
            package=package,
            carers=(carer,),
            planned_start=clock.now() + timedelta(minutes=10),
        )
    return carer, visit.id


@pytest.fixture
async def installed(
    http: httpx.AsyncClient, identities: Identities, carer_and_visit: tuple[StaffMember, uuid.UUID]
) -> tuple[AppClient, Phone]:
    """A freshly installed app, registered through its own RegisterDevice document."""
    carer, _ = carer_and_visit
    subject = await identities.register(
        Role.CARER, organisation_id=carer.organisation_id, staff_id=carer.id
    )
    phone = Phone()
    client = AppClient(
        http,
        identities.mint(subject),
        device_id=str(phone.device_id),
        renew=lambda: identities.mint(subject),
    )
    registered = (
        await client.run(
            "RegisterDevice",
            {
                "input": {
                    "deviceId": str(phone.device_id),
                    "platform": "android",
                    "appVersion": "1.0.0",
                    "protocolVersion": 2,
                }
            },
        )
    ).ok()["registerDevice"]
    assert registered["__typename"] == "DeviceRegistration"
    assert registered["device"]["deviceId"] == str(phone.device_id)
    return client, phone


async def submit(client: AppClient, phone: Phone, clock: FixedClock) -> dict[str, Any]:
    answer: dict[str, Any] = (
        await client.run("SubmitCommands", {"input": phone.batch(clock.now())})
    ).ok()["submitCommands"]
    return answer


async def test_an_uploaded_check_in_comes_back_once_as_server_state(
    installed: tuple[AppClient, Phone],
    carer_and_visit: tuple[StaffMember, uuid.UUID],
    clock: FixedClock,
) -> None:
    client, phone = installed
    _, visit_id = carer_and_visit
    first = await client.pull()
    assert first["visits"][0]["status"] == "SCHEDULED"

    check_in = phone.check_in(visit_id, clock.now())
    uploaded = await submit(client, phone, clock)
    assert uploaded["__typename"] == "SubmitCommandsPayload"
    [result] = uploaded["results"]
    assert result["status"] == "APPLIED"
    # The response is lost; the phone sends the same batch again (F1): a duplicate, no new fact.
    again = await submit(client, phone, clock)
    assert [r["status"] for r in again["results"]] == ["DUPLICATE"]
    phone.acknowledge(again["ackedThroughSeq"])

    changes = await client.pull(first["cursor"])
    [visit] = changes["visits"]
    assert visit["id"] == encode_global_id("Visit", visit_id)
    assert visit["status"] == "IN_PROGRESS"
    assert visit["checkedInAt"] == clock.now().isoformat()
    assert [(fact["id"], fact["kind"]) for fact in visit["facts"]] == [
        (check_in["commandId"], "CHECK_IN")
    ]
    assert (await client.pull(changes["cursor"]))["visits"] == []

    ping = (
        await client.run(
            "ReportOutbox",
            {
                "input": {
                    "deviceId": client.device_id,
                    "appVersion": "1.0.0",
                    "protocolVersion": 2,
                    "sentAt": phone.reading(clock.now()),
                    "outboxDepth": 0,
                }
            },
        )
    ).ok()["reportOutbox"]
    assert ping["__typename"] == "OutboxReported"
    assert ping["serverTime"] == clock.now().isoformat()


async def test_uploads_never_depend_on_the_pull_cursor(
    installed: tuple[AppClient, Phone],
    carer_and_visit: tuple[StaffMember, uuid.UUID],
    clock: FixedClock,
) -> None:
    """F21: an app that never pulled, or whose cursor expired, uploads all the same; the upload
    carries no cursor at all, so a reset can never cost the outbox anything."""
    client, phone = installed
    _, visit_id = carer_and_visit
    upload_input = schema._schema.get_type("SubmitCommandsInput")
    assert upload_input is not None
    assert not any("cursor" in name.lower() for name in upload_input.fields)  # type: ignore[attr-defined]

    phone.check_in(visit_id, clock.now())
    never_pulled = await submit(client, phone, clock)
    assert [r["status"] for r in never_pulled["results"]] == ["APPLIED"]
    phone.acknowledge(never_pulled["ackedThroughSeq"])

    cursor = (await client.pull())["cursor"]
    clock.advance(pull.CURSOR_RETENTION + timedelta(hours=1))
    phone.hydration(visit_id, clock.now() - timedelta(hours=1), fluid_ml=200)
    reset = await client.pull(cursor)
    assert reset["resetReason"] == "EXPIRED"
    after_reset = await submit(client, phone, clock)
    assert [r["status"] for r in after_reset["results"]] == ["APPLIED"]
    assert after_reset["ackedThroughSeq"] == 2


async def test_a_mutation_document_over_get_is_405(
    http: httpx.AsyncClient, installed: tuple[AppClient, Phone], clock: FixedClock
) -> None:
    client, phone = installed
    response = await http.get(
        "/graphql",
        params={
            "documentId": document_id("SubmitCommands"),
            "variables": json.dumps({"input": phone.batch(clock.now())}),
        },
        headers=client.headers,
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_the_command_log_records_the_trusted_document_that_uploaded(
    installed: tuple[AppClient, Phone],
    carer_and_visit: tuple[StaffMember, uuid.UUID],
    clock: FixedClock,
    sessions: SessionFactory,
) -> None:
    client, phone = installed
    _, visit_id = carer_and_visit
    phone.check_in(visit_id, clock.now())
    await submit(client, phone, clock)
    async with sessions() as session:
        recorded = (await session.scalars(select(CommandLogEntry.document_id))).all()
    assert recorded == [document_id("SubmitCommands")]
