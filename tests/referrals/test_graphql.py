"""Referrals over GraphQL/HTTP: partner clients with scopes, the office's triage flow, typed
errors by __typename, and tenancy through lists, `referral(id:)` and `node(id:)`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.graphql.ids import encode_global_id
from hub.organisations.models import Organisation, OrganisationKind
from hub.people.models import Person
from hub.referrals.models import ReferralSource, ReferralStatus
from tests import builders
from tests.referrals.test_dataset import complete_dataset
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

READ_WRITE = ("referrals:read", "referrals:write")

REFERRAL_FIELDS = """
  __typename
  ... on Referral {
    id reference source status riskTier maximumSafeWaitDays safeWaitEndsAt receivedAt
    decisionReason decidedAt packageId sourceSystem sourceIdentifier
    missingFields { name label }
    referrer { name } provider { name } contract { id }
  }
  ... on UserError { code message }
  ... on InvalidInputError { field }
"""

RECEIVE = f"""
mutation Receive($input: ReceiveReferralInput!) {{
  receiveReferral(input: $input) {{ {REFERRAL_FIELDS} }}
}}"""

TRIAGE = f"""
mutation Triage($input: TriageReferralInput!) {{
  triageReferral(input: $input) {{ {REFERRAL_FIELDS} }}
}}"""

DECIDE = f"""
mutation Decide($input: DecideReferralInput!) {{
  decideReferral(input: $input) {{ {REFERRAL_FIELDS} }}
}}"""

LINK = f"""
mutation Link($input: LinkReferralPackageInput!) {{
  linkReferralPackage(input: $input) {{ {REFERRAL_FIELDS} }}
}}"""

WITHDRAW = f"""
mutation Withdraw($input: WithdrawReferralInput!) {{
  withdrawReferral(input: $input) {{ {REFERRAL_FIELDS} }}
}}"""

VISIBILITY = """
query Visible($id: ID!) {
  referrals(first: 50) { nodes { id } }
  referral(id: $id) { id }
  node(id: $id) { id ... on Referral { reference } }
}"""


@dataclass
class Parties:
    provider: Organisation
    other_provider: Organisation
    partner: Organisation
    other_partner: Organisation
    contract: Contract
    person: Person


@pytest.fixture
async def parties(sessions: SessionFactory) -> Parties:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(
            session, kind=OrganisationKind.PROVIDER, name="Riverside Homecare"
        )
        other_provider = await builders.create_organisation(session, kind=OrganisationKind.PROVIDER)
        partner = await builders.create_organisation(
            session, kind=OrganisationKind.REFERRER, name="Northvale GP Federation"
        )
        other_partner = await builders.create_organisation(session, kind=OrganisationKind.REFERRER)
        contract = await builders.create_contract(session, provider=provider)
        person = await builders.create_person(session)
    return Parties(provider, other_provider, partner, other_partner, contract, person)


async def client(
    http: httpx.AsyncClient,
    identities: Identities,
    role: Role,
    organisation: Organisation | None = None,
    scopes: tuple[str, ...] = (),
) -> GraphQLClient:
    token = await identities.token(
        role, organisation_id=organisation.id if organisation else None, scopes=scopes
    )
    return GraphQLClient(http, token=token)


def gid(type_name: str, value: uuid.UUID) -> str:
    return encode_global_id(type_name, value)


def receive_input(parties: Parties, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "source": "GP",
        "providerId": gid("Organisation", parties.provider.id),
        "minimumDataset": complete_dataset(ReferralSource.GP),
    }
    values.update(overrides)
    return values


async def test_a_partner_sends_reads_and_resends_its_referral_and_no_other_partner_can_see_it(
    http: httpx.AsyncClient, identities: Identities, parties: Parties
) -> None:
    partner = await client(http, identities, Role.PARTNER_CLIENT, parties.partner, READ_WRITE)
    dataset = complete_dataset(ReferralSource.GP)
    del dataset["knownRisks"]
    sent = (
        await partner.execute(RECEIVE, {"input": receive_input(parties, minimumDataset=dataset)})
    ).ok()["receiveReferral"]
    assert sent["__typename"] == "Referral"
    assert sent["status"] == "RECEIVED"
    assert sent["missingFields"] == [{"name": "knownRisks", "label": "Known risks"}]
    assert sent["referrer"] == {"name": "Northvale GP Federation"}
    assert sent["provider"] == {"name": "Riverside Homecare"}

    mine = (await partner.execute(VISIBILITY, {"id": sent["id"]})).ok()
    assert mine["referrals"]["nodes"] == [{"id": sent["id"]}]
    assert mine["referral"] == {"id": sent["id"]}
    assert mine["node"] == {"id": sent["id"], "reference": sent["reference"]}

    other = await client(
        http, identities, Role.PARTNER_CLIENT, parties.other_partner, ("referrals:read",)
    )
    theirs = (await other.execute(VISIBILITY, {"id": sent["id"]})).ok()
    assert theirs == {"referrals": {"nodes": []}, "referral": None, "node": None}
    # Nor can the other partner act on it: a foreign id answers like a missing one.
    withdrawn = (
        await (
            await client(http, identities, Role.PARTNER_CLIENT, parties.other_partner, READ_WRITE)
        ).execute(WITHDRAW, {"input": {"referralId": sent["id"], "reason": "not ours"}})
    ).ok()["withdrawReferral"]
    assert (withdrawn["__typename"], withdrawn["code"]) == ("NotFoundError", "REFERRAL_NOT_FOUND")

    # A re-send (same sourceSystem + sourceIdentifier) returns the first referral.
    partner = await client(http, identities, Role.PARTNER_CLIENT, parties.partner, READ_WRITE)
    payload = receive_input(parties, sourceSystem="e-rs", sourceIdentifier="000011112222")
    first = (await partner.execute(RECEIVE, {"input": payload})).ok()["receiveReferral"]
    again = (await partner.execute(RECEIVE, {"input": payload})).ok()["receiveReferral"]
    assert again["id"] == first["id"]
    assert again["reference"] == first["reference"]
    listed = (await partner.execute(VISIBILITY, {"id": first["id"]})).ok()["referrals"]
    assert listed["nodes"] == [{"id": sent["id"]}, {"id": first["id"]}]

    # The provider it was sent to sees it; another provider does not.
    office = await client(http, identities, Role.COORDINATOR, parties.provider)
    assert (await office.execute(VISIBILITY, {"id": sent["id"]})).ok()["referral"] == {
        "id": sent["id"]
    }
    elsewhere = await client(http, identities, Role.COORDINATOR, parties.other_provider)
    assert (await elsewhere.execute(VISIBILITY, {"id": sent["id"]})).ok() == {
        "referrals": {"nodes": []},
        "referral": None,
        "node": None,
    }

    # Triage places it on the provider's contract; the partner sees the move but not the
    # contract, which is not its to see.
    triaged = (
        await office.execute(
            TRIAGE,
            {
                "input": {
                    "referralId": sent["id"],
                    "riskTier": "LOW",
                    "contractId": gid("Contract", parties.contract.id),
                }
            },
        )
    ).ok()["triageReferral"]
    assert triaged["contract"] == {"id": gid("Contract", parties.contract.id)}
    seen = (
        await partner.execute(
            "query($id: ID!) { referral(id: $id) { status contract { id } } }", {"id": sent["id"]}
        )
    ).ok()["referral"]
    assert seen == {"status": "TRIAGED", "contract": None}


async def test_scopes_bind_partner_clients(
    http: httpx.AsyncClient, identities: Identities, parties: Parties, sessions: SessionFactory
) -> None:
    reader = await client(
        http, identities, Role.PARTNER_CLIENT, parties.partner, ("referrals:read",)
    )
    refused = await reader.execute(RECEIVE, {"input": receive_input(parties)})
    assert refused.data is None
    assert refused.errors[0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
    assert "referrals:write" in refused.errors[0]["message"]

    writer = await client(
        http, identities, Role.PARTNER_CLIENT, parties.partner, ("referrals:write",)
    )
    cannot_read = await writer.execute("{ referrals { nodes { id } } }")
    assert cannot_read.errors[0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"

    # A partner never triages, whatever its scopes.
    triage = await (
        await client(http, identities, Role.PARTNER_CLIENT, parties.partner, READ_WRITE)
    ).execute(
        TRIAGE,
        {"input": {"referralId": gid("Referral", uuid.uuid4()), "riskTier": "HIGH"}},
    )
    assert triage.errors[0]["extensions"]["code"] == "FORBIDDEN"

    # Staff are gated by role alone; a carer may not read referrals at all.
    async with unit_of_work(sessions) as session:
        staff = await builders.create_staff(session, organisation=parties.provider)
    carer = GraphQLClient(
        http,
        token=await identities.token(
            Role.CARER, organisation_id=parties.provider.id, staff_id=staff.id
        ),
    )
    denied = await carer.execute("{ referrals { nodes { id } } }")
    assert denied.errors[0]["extensions"]["code"] == "FORBIDDEN"
    supplier = await client(
        http, identities, Role.SUPPLIER_CLIENT, parties.partner, ("referrals:write",)
    )
    denied = await supplier.execute(RECEIVE, {"input": receive_input(parties)})
    assert denied.errors[0]["extensions"]["code"] == "FORBIDDEN"

    # Partners read the agreed minimum dataset to build their forms.
    partner = await client(
        http, identities, Role.PARTNER_CLIENT, parties.partner, ("referrals:read",)
    )
    data = (
        await partner.execute(
            "{ self: referralMinimumDataset(source: SELF) { name }"
            " all: referralMinimumDataset { name requiredFor } }"
        )
    ).ok()
    assert [f["name"] for f in data["self"]] == [
        "givenName",
        "familyName",
        "dateOfBirth",
        "addressLine1",
        "postcode",
        "contactTelephone",
        "reasonForReferral",
    ]
    by_name = {f["name"]: f["requiredFor"] for f in data["all"]}
    assert by_name["dischargeDate"] == ["HOSPITAL_DISCHARGE"]
    assert by_name["nextOfKin"] == []


async def test_the_office_triages_decides_and_converts_a_referral(
    http: httpx.AsyncClient, identities: Identities, parties: Parties, sessions: SessionFactory
) -> None:
    office = await client(http, identities, Role.REGISTERED_MANAGER, parties.provider)
    received = (
        await office.execute(
            RECEIVE,
            {"input": receive_input(parties, referrerOrganisationId=None, providerId=None)},
        )
    ).ok()["receiveReferral"]
    assert received["referrer"] is None  # received by phone, no referring organisation
    referral_id = received["id"]

    triaged = (
        await office.execute(
            TRIAGE,
            {
                "input": {
                    "referralId": referral_id,
                    "riskTier": "HIGH",
                    "contractId": gid("Contract", parties.contract.id),
                    "note": "discharged today, lives alone",
                }
            },
        )
    ).ok()["triageReferral"]
    assert (triaged["status"], triaged["riskTier"], triaged["maximumSafeWaitDays"]) == (
        "TRIAGED",
        "HIGH",
        2,
    )
    assert triaged["safeWaitEndsAt"] == "2026-11-25T09:00:00+00:00"

    accepted = (
        await office.execute(
            DECIDE,
            {"input": {"referralId": referral_id, "decision": "ACCEPT", "reason": "in criteria"}},
        )
    ).ok()["decideReferral"]
    assert (accepted["status"], accepted["decisionReason"]) == ("ACCEPTED", "in criteria")
    assert accepted["decidedAt"] == "2026-11-23T09:00:00+00:00"

    async with unit_of_work(sessions) as session:
        package = await builders.create_package(
            session, contract=parties.contract, person=parties.person
        )
    converted = (
        await office.execute(
            LINK,
            {"input": {"referralId": referral_id, "packageId": gid("CarePackage", package.id)}},
        )
    ).ok()["linkReferralPackage"]
    assert (converted["status"], converted["packageId"]) == (
        "CONVERTED",
        gid("CarePackage", package.id),
    )

    # Filters: by status and source.
    listed = (
        await office.execute(
            """query($s: [ReferralStatus!], $src: [ReferralSource!]) {
                 referrals(status: $s, source: $src) { nodes { id } } }""",
            {"s": ["CONVERTED"], "src": ["GP"]},
        )
    ).ok()["referrals"]["nodes"]
    assert listed == [{"id": referral_id}]
    none = (
        await office.execute(
            "{ referrals(status: [RECEIVED, TRIAGED]) { nodes { id } } }",
        )
    ).ok()["referrals"]["nodes"]
    assert none == []

    # Reading the dataset of a referral tied to a person is access-logged.
    async with unit_of_work(sessions) as session:
        referral = await builders.create_referral(
            session,
            provider_id=parties.provider.id,
            person_id=parties.person.id,
            minimum_dataset={"givenName": "Edith"},
            status=ReferralStatus.TRIAGED,
        )
    office = await client(http, identities, Role.COORDINATOR, parties.provider)
    data = (
        await office.execute(
            "query Dataset($id: ID!) { referral(id: $id) { minimumDataset person { id } } }",
            {"id": gid("Referral", referral.id)},
        )
    ).ok()
    assert data["referral"]["minimumDataset"] == {"givenName": "Edith"}
    assert data["referral"]["person"] == {"id": gid("Person", parties.person.id)}
    async with read_only(sessions) as session:
        [entry] = (await session.scalars(select(AccessLogEntry))).all()
    assert entry.person_ids == [parties.person.id]
    assert entry.fields == ["minimumDataset", "person"]
    assert entry.operation_name == "Dataset"


async def test_expected_failures_are_typed_union_members(
    http: httpx.AsyncClient, identities: Identities, parties: Parties, sessions: SessionFactory
) -> None:
    async with unit_of_work(sessions) as session:
        received = await builders.create_referral(session, provider_id=parties.provider.id)
        foreign = await builders.create_referral(session, provider_id=parties.other_provider.id)
    office = await client(http, identities, Role.COORDINATOR, parties.provider)

    illegal = (
        await office.execute(
            DECIDE,
            {
                "input": {
                    "referralId": gid("Referral", received.id),
                    "decision": "EXCLUDE",
                    "reason": "out of area",
                }
            },
        )
    ).ok()["decideReferral"]
    assert illegal["__typename"] == "ConflictError"
    assert illegal["code"] == "ILLEGAL_REFERRAL_TRANSITION"
    assert illegal["message"] == (
        "a referral in status received cannot move to excluded; allowed: triaged, withdrawn "
        "(a referral is decided only after it has been triaged)"
    )

    blank = (
        await office.execute(
            WITHDRAW, {"input": {"referralId": gid("Referral", received.id), "reason": " "}}
        )
    ).ok()["withdrawReferral"]
    assert (blank["__typename"], blank["field"], blank["code"]) == (
        "InvalidInputError",
        "reason",
        "REQUIRED",
    )

    missing = (
        await office.execute(
            TRIAGE, {"input": {"referralId": gid("Referral", foreign.id), "riskTier": "LOW"}}
        )
    ).ok()["triageReferral"]
    assert (missing["__typename"], missing["code"]) == ("NotFoundError", "REFERRAL_NOT_FOUND")

    wrong_kind = (
        await office.execute(
            TRIAGE, {"input": {"referralId": gid("Organisation", foreign.id), "riskTier": "LOW"}}
        )
    ).ok()["triageReferral"]
    assert (wrong_kind["__typename"], wrong_kind["field"]) == ("InvalidInputError", "referralId")

    unknown_field = (
        await office.execute(
            RECEIVE,
            {"input": receive_input(parties, providerId=None, minimumDataset={"dob": "1940"})},
        )
    ).ok()["receiveReferral"]
    assert (unknown_field["__typename"], unknown_field["field"]) == (
        "InvalidInputError",
        "minimumDataset.dob",
    )
    not_object = (
        await office.execute(
            RECEIVE, {"input": receive_input(parties, providerId=None, minimumDataset=[1])}
        )
    ).ok()["receiveReferral"]
    assert (not_object["__typename"], not_object["field"]) == (
        "InvalidInputError",
        "minimumDataset",
    )
