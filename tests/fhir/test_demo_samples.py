"""The connector's own samples (`connectors/nhs_referrals/samples/`) against the demo contract
that `hub serve --demo` loads: the valid ones are accepted, each invalid one is refused (or
warned about) exactly as the partner README says, and what arrives shows up in GraphQL as sent:
an urgent discharge as urgent, the referrer the referral names beside the system that
delivered it. Over real HTTP (uvicorn on loopback), real PostgreSQL and Redis."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.demo import DEMO_ORGANISATIONS, load_demo
from hub.kit.time import FixedClock
from hub.organisations import repository as organisations
from tests.fhir.conftest import Partner
from tests.fhir.test_intake import brief, outcome_of
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

SAMPLES = Path(__file__).parents[2] / "connectors" / "nhs_referrals" / "samples"
READ_WRITE = ("referrals:read", "referrals:write")

URGENT_REFERRALS = """
query {
  referrals(first: 50, priority: [URGENT]) {
    nodes { reference priority referrerOdsCode referrer { odsCode } deliveredBy { odsCode } }
  }
}
"""
ALL_FHIR_REFERRALS = """
query {
  referrals(first: 100) {
    nodes {
      sourceIdentifier priority referrerOdsCode referrer { odsCode } deliveredBy { odsCode }
    }
  }
}
"""


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@dataclass
class Demo:
    """The demo contract loaded into the test database, and clients of its organisations."""

    gp: Partner
    hospital: Partner
    office: GraphQLClient


async def _id(sessions: SessionFactory, ods_code: str) -> uuid.UUID:
    async with read_only(sessions) as session:
        row = await organisations.get_by_ods_code(session, ods_code)
    assert row is not None, f"the demo has no organisation {ods_code}"
    return row.id


@pytest.fixture
async def demo(
    live: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, clock: FixedClock
) -> Demo:
    await load_demo(sessions, clock)
    by_key = {item.key: item.ods_code for item in DEMO_ORGANISATIONS}
    # The samples address exactly these organisations of the demo.
    assert (by_key["provider"], by_key["gp"], by_key["hospital"]) == ("AX123", "Y99901", "RX9")

    async def partner(ods_code: str) -> Partner:
        organisation_id = await _id(sessions, ods_code)
        token = await identities.token(
            Role.PARTNER_CLIENT, organisation_id=organisation_id, scopes=READ_WRITE
        )
        return Partner(organisation_id, token, live)

    office = await identities.token(Role.COORDINATOR, organisation_id=await _id(sessions, "AX123"))
    return Demo(await partner("Y99901"), await partner("RX9"), GraphQLClient(live, token=office))


def _codes(response: httpx.Response) -> list[tuple[str, str, str | None, str | None]]:
    body = response.json()
    if body["resourceType"] == "Bundle":  # a $process-message answer carries its outcome
        body = next(
            e["resource"]
            for e in body["entry"]
            if e["resource"]["resourceType"] == "OperationOutcome"
        )
        return brief(body["issue"])
    return brief(outcome_of(response))


async def test_the_valid_samples_are_accepted_and_show_in_graphql_as_sent(demo: Demo) -> None:
    gp = await demo.gp.post("ServiceRequest", sample("valid_gp_referral.json"))
    discharge = await demo.hospital.post(
        "$process-message", sample("valid_hospital_discharge_bundle.json")
    )

    assert gp.status_code == 201, gp.text
    assert discharge.status_code == 201, discharge.text
    for response in (gp, discharge):
        assert [issue for issue in _codes(response) if issue[0] in ("error", "warning")] == []

    urgent = (await demo.office.execute(URGENT_REFERRALS)).ok()["referrals"]["nodes"]
    assert [
        (
            row["priority"],
            row["referrerOdsCode"],
            row["referrer"]["odsCode"],
            row["deliveredBy"]["odsCode"],
        )
        for row in urgent
    ] == [("URGENT", "RX9", "RX9", "RX9")]
    rows = (await demo.office.execute(ALL_FHIR_REFERRALS)).ok()["referrals"]["nodes"]
    by_identifier = {row["sourceIdentifier"]: row for row in rows}
    assert by_identifier["000000070000"]["priority"] == "ROUTINE"
    assert by_identifier["000000070000"]["referrer"] == {"odsCode": "Y99901"}


async def test_a_referral_delivered_by_another_system_keeps_the_referrer_it_names(
    demo: Demo,
) -> None:
    # The hospital's system delivers the practice's referral (as a discharge hub might).
    response = await demo.hospital.post("ServiceRequest", sample("valid_gp_referral.json"))

    assert response.status_code == 201, response.text
    [warning] = [issue for issue in _codes(response) if issue[0] == "warning"]
    assert warning == (
        "warning",
        "business-rule",
        "ServiceRequest.contained[1].identifier[0].value",
        "referrer-not-sender",
    )
    rows = (await demo.office.execute(ALL_FHIR_REFERRALS)).ok()["referrals"]["nodes"]
    [row] = [row for row in rows if row["sourceIdentifier"] == "000000070000"]
    assert (row["referrerOdsCode"], row["referrer"], row["deliveredBy"]) == (
        "Y99901",
        {"odsCode": "Y99901"},
        {"odsCode": "RX9"},
    )
    # The delivering system can follow what it sent.
    task = await demo.hospital.get("Task", identifier="https://fhir.nhs.uk/Id/UBRN|000000070000")
    assert task.status_code == 200, task.text
    assert task.json()["total"] == 1
    assert task.json()["entry"][0]["resource"]["requester"]["identifier"]["value"] == "Y99901"
    # The practice it names sees nothing of it: any sender may name any practice, and being
    # named must not make a person visible to an organisation that did not send the referral.
    named = await demo.gp.get("Task", identifier="https://fhir.nhs.uk/Id/UBRN|000000070000")
    assert named.status_code == 200, named.text
    assert named.json()["total"] == 0


# (sample, interaction, HTTP status, first issue) as the partner README's table gives them.
INVALID_SAMPLES: list[tuple[str, str, int, tuple[str, str, str]]] = [
    (
        "invalid_nhs_number_check_digit.json",
        "$process-message",
        201,
        ("warning", "value", "Bundle.entry[2].resource.identifier[0].value"),
    ),
    (
        "invalid_missing_patient.json",
        "ServiceRequest",
        422,
        ("error", "required", "ServiceRequest.subject"),
    ),
    (
        "invalid_wrong_resource_type.json",
        "ServiceRequest",
        400,
        ("error", "not-supported", "Patient"),
    ),
    (
        "invalid_r5_element.json",
        "ServiceRequest",
        400,
        ("error", "structure", "ServiceRequest.reason"),
    ),
    (
        "invalid_malformed_date.json",
        "$process-message",
        400,
        ("error", "value", "Bundle.entry[2].resource.birthDate"),
    ),
]


async def test_each_invalid_sample_is_answered_as_the_partner_readme_says(demo: Demo) -> None:
    # One demo for all of them (loading it is the slow part); each sample is independent.
    for name, interaction, status, expected in INVALID_SAMPLES:
        response = await demo.hospital.post(interaction, sample(name))

        assert response.status_code == status, (name, response.text)
        issues: list[Any] = [issue[:3] for issue in _codes(response)]
        assert issues[0] == expected, name
        assert json.loads(response.content)  # always an answer the sender can read
