"""Every quarantined command opens, or adds to, one data-quality case for the carer's office:
a phone whose recordings wait for review is seen on the office's case list without anyone
opening `quarantinedCommands`. Real uploads (the shipped manifest over HTTP), the governance
event rules as the worker runs them, the office's own GraphQL view."""

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
from hub.governance.runner import run_event_rules
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation
from hub.staff.models import StaffMember
from hub.visits.models import Visit
from tests import builders
from tests.mobile.app_client import trusted_only_settings
from tests.mobile.test_outbox_never_blocked import App, unknown_enum
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

OFFICE_CASES = """
query Cases {
  exceptionCases(rule: [DATA_QUALITY], first: 20) {
    nodes { id title status subjectType details timeline { type relation payload } }
  }
}"""

ACKNOWLEDGE = """
mutation Acknowledge($input: AcknowledgeCaseInput!) {
  acknowledgeCase(input: $input) { __typename }
}"""

RESOLVE = """
mutation Resolve($input: ResolveCaseInput!) {
  resolveCase(input: $input) {
    __typename
    ... on ExceptionCase { status }
    ... on UserError { code message }
  }
}"""


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return trusted_only_settings(database_url, redis_url, tmp_path)


async def office_with_carers(
    sessions: SessionFactory, name: str, carers: int
) -> tuple[Organisation, list[StaffMember], Visit]:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, name=name)
        contract = await builders.create_contract(session, provider=provider)
        person = await builders.create_person(session, latitude=53.4808, longitude=-2.2426)
        package = await builders.create_package(session, contract=contract, person=person)
        staff = [await builders.create_staff(session, organisation=provider) for _ in range(carers)]
        visit = await builders.create_visit(
            session, package=package, carers=tuple(staff), planned_start=START
        )
    return provider, staff, visit


async def phone_of(http: httpx.AsyncClient, identities: Identities, carer: StaffMember) -> App:
    subject = await identities.register(
        Role.CARER, organisation_id=carer.organisation_id, staff_id=carer.id
    )
    app = App(http, identities.mint(subject, ttl=timedelta(hours=2)))
    await app.register()
    return app


async def quarantine_one(app: App, visit: Visit, clock: FixedClock) -> dict[str, Any]:
    app.phone.hydration(visit.id, START + timedelta(minutes=1), 100)
    unknown_enum(app.phone, visit, START + timedelta(minutes=2))
    result = await app.upload(clock.now())
    app.phone.acknowledge(result["ackedThroughSeq"])
    assert [r["status"] for r in result["results"]] == ["APPLIED", "QUARANTINED"]
    return result


async def office_cases(office: GraphQLClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await office.execute(OFFICE_CASES)).ok()["exceptionCases"][
        "nodes"
    ]
    return found


async def test_quarantines_open_one_data_quality_case_per_carers_office(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
) -> None:
    clock.current = START + timedelta(minutes=5)
    riverside, (ann, bob), riverside_visit = await office_with_carers(sessions, "Riverside", 2)
    hilltop, (cat,), hilltop_visit = await office_with_carers(sessions, "Hilltop", 1)
    office = GraphQLClient(
        http, token=await identities.token(Role.COORDINATOR, organisation_id=riverside.id)
    )
    other_office = GraphQLClient(
        http, token=await identities.token(Role.COORDINATOR, organisation_id=hilltop.id)
    )

    await quarantine_one(await phone_of(http, identities, ann), riverside_visit, clock)
    await run_event_rules(sessions, clock)
    after_first = await office_cases(office)
    bobs_phone = await phone_of(http, identities, bob)
    await quarantine_one(bobs_phone, riverside_visit, clock)
    await quarantine_one(await phone_of(http, identities, cat), hilltop_visit, clock)
    await run_event_rules(sessions, clock)
    again = await run_event_rules(sessions, clock)  # replaying changes nothing

    riverside_cases = await office_cases(office)
    hilltop_cases = await office_cases(other_office)
    assert again.opened == 0
    assert len(after_first) == 1
    # Bob's quarantine joined the case Ann's opened; Hilltop's office has its own.
    assert [c["id"] for c in riverside_cases] == [after_first[0]["id"]]
    case = riverside_cases[0]
    assert case["status"] == "OPEN"
    assert case["subjectType"] == "carer_app_quarantine"
    assert case["details"]["first_code"] == "VALIDATION_FAILED"
    quarantines = [e for e in case["timeline"] if e["type"] == "mobile.command_quarantined"]
    assert [e["relation"] for e in quarantines] == ["opened", "evidence"]
    assert {e["payload"]["staff_id"] for e in quarantines} == {str(ann.id), str(bob.id)}
    assert len(hilltop_cases) == 1
    assert hilltop_cases[0]["id"] != case["id"]

    # Once the office has resolved it, the next quarantine opens a new case.
    taken = await office.execute(ACKNOWLEDGE, {"input": {"caseId": case["id"]}})
    assert taken.ok()["acknowledgeCase"]["__typename"] == "ExceptionCase"
    resolved = await office.execute(
        RESOLVE,
        {
            "input": {
                "caseId": case["id"],
                "outcomeCode": "payload_corrected",
                "fields": {"correctionReference": "re-entered by the office"},
            }
        },
    )
    assert resolved.ok()["resolveCase"].get("status") == "RESOLVED", resolved.body
    await quarantine_one(bobs_phone, riverside_visit, clock)
    await run_event_rules(sessions, clock)
    after = await office_cases(office)
    assert sorted(c["status"] for c in after) == ["OPEN", "RESOLVED"]
