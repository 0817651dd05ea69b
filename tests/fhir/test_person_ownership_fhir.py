"""The FHIR door, written as the attack: a second organisation's partner system, with its own
client token, sends referrals naming a person another office registered — by NHS number, with
the same or another identity — and reuses another partner's referral identifier. It learns
nothing of the record and nothing of the other partner's referral."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy import select

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.graphql.ids import encode_global_id
from hub.organisations.models import OrganisationKind
from hub.people.models import PersonLink
from hub.referrals.models import Referral
from tests import builders
from tests.fhir.conftest import Partner, encode, make_partner, payload
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

# The number the example referral carries for its patient (Margaret Hartley).
NHS_NUMBER = "9990000018"
# What office A holds and the partner never sent (the second referral below sends the family
# name and date of birth itself, so they are the partner's own words there).
SECRETS = ("Edith", "4 Mill Lane", "NV1 1AA", "Mary Crawley", "4242")

REGISTER = """mutation($input: RegisterPersonInput!) {
    registerPerson(input: $input) { __typename ... on Person { id } }
}"""
NODE = "query($id: ID!) { node(id: $id) { id } person(id: $id) { id } }"


async def _registered_elsewhere(
    http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory
) -> uuid.UUID:
    """Office A (another provider, not the one referrals are addressed to) registers Edith
    with the number the example referral will carry."""
    async with unit_of_work(sessions) as session:
        office_a = await builders.create_organisation(
            session, kind=OrganisationKind.PROVIDER, name="Northvale Homecare"
        )
    office = GraphQLClient(
        http, token=await identities.token(Role.COORDINATOR, organisation_id=office_a.id)
    )
    answer = (
        await office.execute(
            REGISTER,
            {
                "input": {
                    "givenName": "Edith",
                    "familyName": "Crawley",
                    "dateOfBirth": "1938-05-02",
                    "nhsNumber": NHS_NUMBER,
                    "address": {"line1": "4 Mill Lane", "town": "Northvale", "postcode": "NV1 1AA"},
                    "contacts": [{"name": "Mary Crawley"}],
                    "keySafeCode": "4242",
                }
            },
        )
    ).ok()["registerPerson"]
    assert answer["__typename"] == "Person"
    async with read_only(sessions) as session:
        link = await session.scalar(
            select(PersonLink).where(PersonLink.organisation_id == office_a.id)
        )
    assert link is not None
    return link.person_id


def _id(response: httpx.Response) -> str:
    """The referral's id, from where the answer says it lives."""
    location = response.headers.get("location") or response.headers["content-location"]
    return str(location).rsplit("/", 1)[1]


def _shows_nothing_of_edith(text: str, person_id: uuid.UUID) -> None:
    for secret in (*SECRETS, str(person_id)):
        assert secret not in text, secret


async def test_a_referral_naming_another_tenants_person_shows_nothing_of_them(
    partner: Partner,
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    provider: uuid.UUID,
) -> None:
    person_id = await _registered_elsewhere(http, identities, sessions)

    # Once with the example's own identity, once with Edith's: neither reaches her record.
    other_identity = payload("gp_referral")
    other_identity["identifier"][0]["value"] = "000000070001"
    patient = other_identity["contained"][0]
    patient["name"][0]["family"] = "Crawley"
    patient["birthDate"] = "1938-05-02"
    sent = [
        await partner.post("ServiceRequest", encode(payload("gp_referral"))),
        await partner.post("ServiceRequest", encode(other_identity)),
    ]

    for response in sent:
        assert response.status_code == 201, response.text
        _shows_nothing_of_edith(response.text, person_id)
        task = await partner.get(f"Task/{_id(response)}")
        assert task.status_code == 200
        _shows_nothing_of_edith(task.text, person_id)
        request = await partner.get(f"ServiceRequest/{_id(response)}")
        _shows_nothing_of_edith(request.text, person_id)
    async with read_only(sessions) as session:
        referrals = (await session.scalars(select(Referral))).all()
        links = (
            await session.scalars(
                select(PersonLink).where(PersonLink.organisation_id == partner.organisation_id)
            )
        ).all()
    # A referral never becomes a link to a person by its NHS number.
    assert [row.person_id for row in referrals] == [None, None]
    assert links == []
    # Neither the partner nor the provider it referred to can read Edith.
    provider_office = GraphQLClient(
        http, token=await identities.token(Role.COORDINATOR, organisation_id=provider)
    )
    partner_graphql = GraphQLClient(http, token=partner.token)
    for client in (partner_graphql, provider_office):
        read = await client.execute(NODE, {"id": encode_global_id("Person", person_id)})
        assert read.data["node"] is None
        assert read.data.get("person") is None


async def test_another_partners_identifier_is_neither_refused_nor_revealed(
    partner: Partner, http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory
) -> None:
    first = await partner.post("ServiceRequest", encode(payload("gp_referral")))
    other = await make_partner(http, identities, sessions, ods_code="Y99903")

    # Partner B sends the same identifier with its own patient.
    document = payload("gp_referral")
    document["contained"][0]["name"][0]["family"] = "Someone"
    reused = await other.post("ServiceRequest", encode(document))
    fresh = payload("gp_referral")
    fresh["identifier"][0]["value"] = "000000079999"
    unused = await other.post("ServiceRequest", encode(fresh))

    # The same answer whether or not another partner used the identifier.
    assert reused.status_code == unused.status_code == 201
    assert [issue.get("code") for issue in json.loads(reused.text).get("issue", [])] == [
        issue.get("code") for issue in json.loads(unused.text).get("issue", [])
    ]
    assert _id(first) not in reused.text
    assert "Hartley" not in reused.text
    # Partner B's searches find only its own referral under that identifier; a re-send of its
    # own is still recognised as one.
    found = (await other.get("Task", identifier="https://fhir.nhs.uk/Id/UBRN|000000070000")).json()
    assert [entry["resource"]["id"] for entry in found["entry"]] == [_id(reused)]
    again = await other.post("ServiceRequest", encode(document))
    assert again.status_code == 200, again.text
    assert _id(again) == _id(reused)
