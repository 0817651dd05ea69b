"""A referral's priority and who delivered it, through GraphQL: what a worklist shows."""

from __future__ import annotations

import httpx

from hub.accounts.models import Role
from tests.referrals.test_graphql import (
    READ_WRITE,
    Parties,
    client,
    parties,  # noqa: F401 - the fixture
    receive_input,
)
from tests.support.identity import Identities

FIELDS = """
  ... on Referral { id priority referrerOdsCode referrer { name } deliveredBy { name } }
  ... on UserError { code message }
"""
WORKLIST = """
query Urgent { referrals(first: 50, priority: [URGENT, ASAP, STAT]) { nodes { id priority } } }
"""


async def test_an_urgent_referral_is_urgent_in_the_worklist_and_its_deliverer_is_recorded(
    http: httpx.AsyncClient,
    identities: Identities,
    parties: Parties,  # noqa: F811
) -> None:
    partner = await client(http, identities, Role.PARTNER_CLIENT, parties.partner, READ_WRITE)
    office = await client(http, identities, Role.COORDINATOR, parties.provider)
    mutation = (
        "mutation Receive($input: ReceiveReferralInput!) { receiveReferral(input: $input) {"
        + FIELDS
        + "} }"
    )
    urgent = (
        await partner.execute(mutation, {"input": receive_input(parties, priority="URGENT")})
    ).ok()["receiveReferral"]
    routine = (await partner.execute(mutation, {"input": receive_input(parties)})).ok()[
        "receiveReferral"
    ]

    assert urgent["priority"] == "URGENT"
    assert routine["priority"] == "ROUTINE"  # the default when the sender does not say
    # A partner refers as its own organisation and is the one that delivered it.
    assert urgent["referrer"] == {"name": "Northvale GP Federation"}
    assert urgent["deliveredBy"] == {"name": "Northvale GP Federation"}
    worklist = (await office.execute(WORKLIST)).ok()["referrals"]["nodes"]
    assert worklist == [{"id": urgent["id"], "priority": "URGENT"}]
