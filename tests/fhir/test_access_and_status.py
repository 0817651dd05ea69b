"""Who may use the FHIR endpoint (401/403 as OperationOutcome, scopes enforced), and partners
reading their referrals' progress back as a Task: tenancy, search, the received
ServiceRequest, and the access log."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.task import Task
from sqlalchemy import select

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.kit.time import FixedClock
from hub.referrals import service as referrals
from hub.referrals.models import Referral, RiskTier
from hub.tenancy import AccessScope
from tests.fhir.conftest import FHIR_JSON, Partner, encode, make_partner, payload
from tests.fhir.test_intake import brief, outcome_of
from tests.support.identity import Identities

UBRN = "https://fhir.nhs.uk/Id/UBRN"


async def _received(partner: Partner, sessions: SessionFactory) -> Referral:
    response = await partner.post("ServiceRequest", encode(payload("gp_referral")))
    assert response.status_code == 201, response.text
    async with read_only(sessions) as session:
        referral: Referral | None = await session.scalar(select(Referral))
    assert referral is not None
    return referral


async def _access_rows(sessions: SessionFactory) -> list[AccessLogEntry]:
    async with read_only(sessions) as session:
        return list(await session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id)))


# --- who may ---------------------------------------------------------------------------------


async def test_the_capability_statement_is_public_valid_r4(http: httpx.AsyncClient) -> None:
    response = await http.get("/fhir/metadata")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    statement = CapabilityStatement.model_validate(response.json())
    assert statement.fhirVersion == "4.0.1"
    assert statement.rest is not None
    rest = statement.rest[0]
    assert rest.resource is not None
    assert rest.operation is not None
    served = {resource.type for resource in rest.resource}
    assert served == {"ServiceRequest", "Task"}
    assert rest.operation[0].name == "process-message"


async def test_no_token_is_a_401_outcome_with_a_challenge(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/fhir/ServiceRequest",
        content=encode(payload("gp_referral")),
        headers={"content-type": FHIR_JSON},
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert brief(outcome_of(response)) == [("error", "login", None, "UNAUTHENTICATED")]


async def test_a_bad_token_is_a_401_outcome_not_a_graphql_error(http: httpx.AsyncClient) -> None:
    response = await http.get(
        f"/fhir/Task/{uuid.uuid4()}", headers={"authorization": "Bearer not-a-token"}
    )

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    [issue] = outcome_of(response)
    assert issue["code"] == "login"
    assert "x-request-id" in response.headers


async def test_a_partner_without_the_write_scope_gets_403_insufficient_scope(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, provider: uuid.UUID
) -> None:
    reader = await make_partner(
        http, identities, sessions, ods_code="Y99903", scopes=("referrals:read",)
    )

    response = await reader.post("ServiceRequest", encode(payload("gp_referral")))

    assert response.status_code == 403
    assert brief(outcome_of(response)) == [("error", "forbidden", None, "INSUFFICIENT_SCOPE")]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="referrals:write"' in response.headers["www-authenticate"]


async def test_a_partner_without_the_read_scope_cannot_read_status(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, provider: uuid.UUID
) -> None:
    writer = await make_partner(
        http, identities, sessions, ods_code="Y99904", scopes=("referrals:write",)
    )
    referral = await _received(writer, sessions)

    response = await writer.get(f"Task/{referral.id}")

    assert response.status_code == 403
    assert brief(outcome_of(response)) == [("error", "forbidden", None, "INSUFFICIENT_SCOPE")]


async def test_staff_do_not_send_referrals_over_fhir(
    http: httpx.AsyncClient, identities: Identities, provider: uuid.UUID
) -> None:
    token = await identities.token(Role.COORDINATOR, organisation_id=provider)

    response = await http.post(
        "/fhir/ServiceRequest",
        content=encode(payload("gp_referral")),
        headers={"authorization": f"Bearer {token}", "content-type": FHIR_JSON},
    )

    assert response.status_code == 403
    assert brief(outcome_of(response)) == [("error", "forbidden", None, "FORBIDDEN")]


# --- status as a Task ------------------------------------------------------------------------


async def test_a_partner_reads_its_referral_as_a_task_and_the_read_is_logged(
    partner: Partner, sessions: SessionFactory, clock: FixedClock
) -> None:
    referral = await _received(partner, sessions)
    before = len(await _access_rows(sessions))

    response = await partner.get(f"Task/{referral.id}")

    assert response.status_code == 200
    task = response.json()
    Task.model_validate(task)
    assert (task["id"], task["status"], task["intent"], task["priority"]) == (
        str(referral.id),
        "received",
        "order",
        "routine",
    )
    assert task["focus"]["identifier"] == {"system": UBRN, "value": "000000070000"}
    assert task["businessStatus"]["coding"][0]["code"] == "received"
    assert task["owner"]["identifier"]["value"] == "AX123"
    # The practice the referral names (B86044), not the federation whose system sent it.
    assert task["requester"]["identifier"]["value"] == "B86044"
    assert task["for"]["identifier"]["value"] == "9990000018"
    assert task["note"] == [
        {
            "text": "Information still needed for this referral: Consent to referral, "
            "Referrer's telephone or email, Known risks."
        }
    ]
    rows = await _access_rows(sessions)
    assert len(rows) == before + 1
    assert (rows[-1].operation_name, rows[-1].fields, rows[-1].row_count) == (
        "fhir:Task.read",
        ["Task"],
        1,
    )
    assert rows[-1].organisation_id == partner.organisation_id


async def test_the_task_follows_triage_and_the_decision(
    partner: Partner, sessions: SessionFactory, clock: FixedClock, provider: uuid.UUID
) -> None:
    referral = await _received(partner, sessions)
    office = AccessScope(Role.COORDINATOR, provider, None)
    async with unit_of_work(sessions) as session:
        await referrals.triage_referral(
            session,
            scope=office,
            actor="test",
            clock=clock,
            referral_id=referral.id,
            risk_tier=RiskTier.HIGH,
        )
    triaged = (await partner.get(f"Task/{referral.id}")).json()
    async with unit_of_work(sessions) as session:
        await referrals.decide_referral(
            session,
            scope=office,
            actor="test",
            clock=clock,
            referral_id=referral.id,
            decision=referrals.ReferralDecision.EXCLUDE,
            reason="Needs nursing care, outside the homecare pathway",
        )
    excluded = (await partner.get(f"Task/{referral.id}")).json()

    assert triaged["status"] == "in-progress"
    assert triaged["businessStatus"]["coding"][0]["display"] == (
        "Triaged (high risk), awaiting a decision"
    )
    safe_wait_end = referral.received_at + timedelta(days=2)
    assert datetime.fromisoformat(triaged["restriction"]["period"]["end"]) == safe_wait_end
    assert excluded["status"] == "rejected"
    assert excluded["statusReason"] == {"text": "Needs nursing care, outside the homecare pathway"}


async def test_tasks_are_searched_by_identifier_or_focus_within_the_partners_own(
    partner: Partner,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    identities: Identities,
) -> None:
    referral = await _received(partner, sessions)
    stranger = await make_partner(http, identities, sessions, ods_code="Y99905")

    by_identifier = await partner.get("Task", identifier=f"{UBRN}|000000070000")
    by_focus = await partner.get("Task", focus=f"ServiceRequest/{referral.id}")
    by_value_only = await partner.get("Task", identifier="000000070000")
    strangers_search = await stranger.get("Task", identifier=f"{UBRN}|000000070000")
    strangers_read = await stranger.get(f"Task/{referral.id}")

    for response in (by_identifier, by_focus, by_value_only):
        assert response.status_code == 200
        bundle = response.json()
        Bundle.model_validate(bundle)
        assert bundle["type"] == "searchset"
        assert [entry["resource"]["id"] for entry in bundle["entry"]] == [str(referral.id)]
    assert strangers_search.json()["total"] == 0
    assert strangers_read.status_code == 404
    assert brief(outcome_of(strangers_read)) == [("error", "not-found", None, "not-found")]


async def test_a_search_names_its_parameters(partner: Partner) -> None:
    nothing = await partner.get("Task")
    unknown = await partner.get("Task", patient="Patient/1")
    bad_count = await partner.get("Task", identifier="x", _count="1000")

    assert (nothing.status_code, unknown.status_code, bad_count.status_code) == (400, 400, 400)
    assert brief(outcome_of(nothing))[0][3] == "search-parameter-missing"
    assert brief(outcome_of(unknown)) == [
        ("error", "not-supported", "patient", "unknown-search-parameter")
    ]
    assert brief(outcome_of(bad_count)) == [("error", "value", "_count", "invalid-count")]


async def test_the_received_service_request_is_read_back_with_the_hubs_id(
    partner: Partner,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    identities: Identities,
) -> None:
    referral = await _received(partner, sessions)
    stranger = await make_partner(http, identities, sessions, ods_code="Y99906")

    mine = await partner.get(f"ServiceRequest/{referral.id}")
    theirs = await stranger.get(f"ServiceRequest/{referral.id}")
    nonsense = await partner.get("ServiceRequest/not-an-id")

    assert mine.status_code == 200
    body: dict[str, Any] = mine.json()
    assert body["id"] == str(referral.id)
    assert body["contained"][0]["name"][0]["family"] == "Hartley"
    assert body["meta"]["profile"] == [
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-ServiceRequest"
    ]
    assert theirs.status_code == nonsense.status_code == 404


async def test_the_providers_office_reads_the_task_too(
    partner: Partner,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    identities: Identities,
    provider: uuid.UUID,
) -> None:
    referral = await _received(partner, sessions)
    token = await identities.token(Role.COORDINATOR, organisation_id=provider)

    response = await http.get(
        f"/fhir/Task/{referral.id}", headers={"authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200
    assert response.json()["id"] == str(referral.id)
