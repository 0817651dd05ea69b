"""The account lifecycle over real HTTP: admins, and registered managers within their own
organisation, list accounts, switch them off and on and change their roles, each an event;
nobody switches themselves off, the last admin stays, a manager never grants admin, and
registering a switched-off account again does not switch it back on."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.accounts.models import Account, Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.models import Event
from hub.graphql.ids import encode_global_id
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

ACCOUNTS = """
query($first: Int, $after: String, $org: ID, $active: Boolean, $role: Role) {
  accounts(first: $first, after: $after, organisationId: $org, active: $active, role: $role) {
    nodes { id subject role active organisationId }
    pageInfo { hasNextPage endCursor }
  }
}
"""
RESULT = "__typename ... on Account { id subject role active } ... on UserError { code message }"
SWITCH_OFF = (
    "mutation($id: ID!, $reason: String) { switchOffAccount(input: {accountId: $id, "
    f"reason: $reason}}) {{ {RESULT} }} }}"
)
SWITCH_ON = f"mutation($id: ID!) {{ switchOnAccount(input: {{accountId: $id}}) {{ {RESULT} }} }}"
CHANGE_ROLE = (
    "mutation($id: ID!, $role: Role!) { changeAccountRole(input: {accountId: $id, "
    f"role: $role}}) {{ {RESULT} }} }}"
)
REGISTER = (
    "mutation($subject: String!, $role: Role!, $org: ID) { registerAccount(input: {"
    'subject: $subject, role: $role, displayName: "Again", organisationId: $org}) '
    f"{{ {RESULT} }} }}"
)
WHO_AM_I = "{ hub { version } organisations(first: 1) { nodes { id } } }"


@dataclass
class Office:
    provider_a: uuid.UUID
    provider_b: uuid.UUID
    admin: str
    manager_a: str
    coordinator_a: str
    carer_a: str
    manager_b: str
    coordinator_b: str


@pytest.fixture
async def office(identities: Identities, sessions: SessionFactory) -> Office:
    async with unit_of_work(sessions) as session:
        provider_a = await builders.create_organisation(session, name="Provider A")
        provider_b = await builders.create_organisation(session, name="Provider B")
        staff = await builders.create_staff(session, organisation=provider_a)
    return Office(
        provider_a=provider_a.id,
        provider_b=provider_b.id,
        admin=await identities.register(Role.ADMIN),
        manager_a=await identities.register(Role.REGISTERED_MANAGER, organisation_id=provider_a.id),
        coordinator_a=await identities.register(Role.COORDINATOR, organisation_id=provider_a.id),
        carer_a=await identities.register(
            Role.CARER, organisation_id=provider_a.id, staff_id=staff.id
        ),
        manager_b=await identities.register(Role.REGISTERED_MANAGER, organisation_id=provider_b.id),
        coordinator_b=await identities.register(Role.COORDINATOR, organisation_id=provider_b.id),
    )


def caller(http: httpx.AsyncClient, identities: Identities, subject: str) -> GraphQLClient:
    return GraphQLClient(http, token=identities.mint(subject))


async def account_of(sessions: SessionFactory, subject: str) -> Account:
    async with sessions() as session:
        account = await session.scalar(select(Account).where(Account.subject == subject))
    assert account is not None
    return account


async def gid(sessions: SessionFactory, subject: str) -> str:
    return encode_global_id("Account", (await account_of(sessions, subject)).id)


async def change(client: GraphQLClient, document: str, **variables: Any) -> dict[str, Any]:
    data = (await client.execute(document, variables)).ok()
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def account_events(sessions: SessionFactory, subject: str) -> list[Event]:
    account = await account_of(sessions, subject)
    async with sessions() as session:
        return list(
            (
                await session.scalars(
                    select(Event)
                    .where(Event.subject_type == "account", Event.subject_id == account.id)
                    .order_by(Event.id)
                )
            ).all()
        )


async def test_an_admin_switches_an_account_off_and_on_and_each_is_an_event(
    live_http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, office: Office
) -> None:
    admin = caller(live_http, identities, office.admin)
    leaver = caller(live_http, identities, office.coordinator_a)
    assert (await leaver.execute(WHO_AM_I)).ok()
    target = await gid(sessions, office.coordinator_a)

    off = await change(admin, SWITCH_OFF, id=target, reason="left the organisation")
    assert off == {
        "__typename": "Account",
        "id": target,
        "subject": office.coordinator_a,
        "role": "COORDINATOR",
        "active": False,
    }
    refused = await leaver.execute(WHO_AM_I)
    assert refused.status_code == 403
    assert refused.errors[0]["extensions"]["code"] == "ACCOUNT_INACTIVE"
    # Switching off again changes nothing and records nothing.
    assert (await change(admin, SWITCH_OFF, id=target))["active"] is False

    on = await change(admin, SWITCH_ON, id=target)
    assert on["active"] is True
    assert on["role"] == "COORDINATOR"
    assert (await leaver.execute(WHO_AM_I)).ok()

    admin_account = await account_of(sessions, office.admin)
    events = await account_events(sessions, office.coordinator_a)
    assert [e.type for e in events] == [
        "account.registered",
        "account.switched_off",
        "account.switched_on",
    ]
    assert {e.actor for e in events[1:]} == {f"account:{admin_account.id}"}
    assert events[1].payload["reason"] == "left the organisation"
    assert events[1].organisation_id == office.provider_a


async def test_accounts_are_listed_a_page_at_a_time(
    live_http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, office: Office
) -> None:
    admin = caller(live_http, identities, office.admin)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await admin.execute(ACCOUNTS, {"first": 2, "after": after})).ok()["accounts"]
        seen += [node["subject"] for node in page["nodes"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    async with sessions() as session:
        everyone = list((await session.scalars(select(Account.subject).order_by(Account.id))).all())
    assert seen == everyone
    assert pages == (len(everyone) + 1) // 2
    assert len(everyone) == 6  # the office fixture's accounts

    one_org = (
        await admin.execute(ACCOUNTS, {"org": encode_global_id("Organisation", office.provider_b)})
    ).ok()["accounts"]["nodes"]
    assert {n["subject"] for n in one_org} == {office.manager_b, office.coordinator_b}
    await change(admin, SWITCH_OFF, id=await gid(sessions, office.coordinator_b))
    switched_off = (await admin.execute(ACCOUNTS, {"active": False})).ok()["accounts"]["nodes"]
    assert [n["subject"] for n in switched_off] == [office.coordinator_b]

    bad = await admin.execute(ACCOUNTS, {"after": "bm90IGEgY3Vyc29y"})
    assert bad.errors[0]["extensions"]["code"] == "INVALID_CURSOR"


async def test_a_registered_manager_manages_only_staff_accounts_of_their_organisation(
    live_http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, office: Office
) -> None:
    manager = caller(live_http, identities, office.manager_a)
    listed = (await manager.execute(ACCOUNTS)).ok()["accounts"]["nodes"]
    assert {n["subject"] for n in listed} == {
        office.manager_a,
        office.coordinator_a,
        office.carer_a,
    }
    other_org = {"org": encode_global_id("Organisation", office.provider_b)}
    assert (await manager.execute(ACCOUNTS, other_org)).ok()["accounts"]["nodes"] == []

    # Another organisation's account answers exactly like one that does not exist.
    foreign = await change(manager, SWITCH_OFF, id=await gid(sessions, office.coordinator_b))
    missing = await change(manager, SWITCH_OFF, id=encode_global_id("Account", uuid.uuid4()))
    assert foreign["code"] == missing["code"] == "ACCOUNT_NOT_FOUND"
    assert foreign["message"] == missing["message"]
    assert (await account_of(sessions, office.coordinator_b)).active

    # An admin account in the manager's organisation is not theirs to change.
    local_admin = await identities.register(Role.ADMIN, organisation_id=office.provider_a)
    refused = await change(manager, SWITCH_OFF, id=await gid(sessions, local_admin))
    assert refused["code"] == "ACCOUNT_NOT_MANAGEABLE"
    assert (await account_of(sessions, local_admin)).active

    carer = await gid(sessions, office.carer_a)
    assert (await change(manager, SWITCH_OFF, id=carer))["active"] is False
    assert (await change(manager, SWITCH_ON, id=carer))["active"] is True

    coordinator = await gid(sessions, office.coordinator_a)
    raised = await change(manager, CHANGE_ROLE, id=coordinator, role="REGISTERED_MANAGER")
    assert raised["role"] == "REGISTERED_MANAGER"
    promoted = caller(live_http, identities, office.coordinator_a)
    assert (await promoted.execute(ACCOUNTS)).ok()["accounts"]["nodes"]  # now may list


async def test_a_registered_manager_never_grants_admin_not_even_to_themselves(
    live_http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, office: Office
) -> None:
    manager = caller(live_http, identities, office.manager_a)
    other = await change(
        manager, CHANGE_ROLE, id=await gid(sessions, office.coordinator_a), role="ADMIN"
    )
    assert other["code"] == "ROLE_NOT_GRANTABLE"
    themselves = await change(
        manager, CHANGE_ROLE, id=await gid(sessions, office.manager_a), role="ADMIN"
    )
    assert themselves["code"] == "OWN_ACCOUNT"
    # registerAccount is for admins only: no back door.
    register = await manager.execute(
        REGISTER, {"subject": office.manager_a, "role": "ADMIN", "org": None}
    )
    assert register.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await account_of(sessions, office.coordinator_a)).role is Role.COORDINATOR
    assert (await account_of(sessions, office.manager_a)).role is Role.REGISTERED_MANAGER
    assert [e.type for e in await account_events(sessions, office.manager_a)] == [
        "account.registered"
    ]


async def test_nobody_switches_off_or_changes_themselves(
    live_http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, office: Office
) -> None:
    for subject in (office.admin, office.manager_a):
        client = caller(live_http, identities, subject)
        me = await gid(sessions, subject)
        assert (await change(client, SWITCH_OFF, id=me))["code"] == "OWN_ACCOUNT"
        assert (await change(client, CHANGE_ROLE, id=me, role="COORDINATOR"))[
            "code"
        ] == "OWN_ACCOUNT"
        assert (await account_of(sessions, subject)).active


async def test_the_last_admin_stays_an_active_admin(
    live_http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, office: Office
) -> None:
    admin = caller(live_http, identities, office.admin)
    # The only way left to demote the only admin: registering their own subject again.
    demoted = await change(
        admin,
        REGISTER,
        subject=office.admin,
        role="COORDINATOR",
        org=encode_global_id("Organisation", office.provider_a),
    )
    assert demoted["code"] == "LAST_ADMIN"
    assert (await account_of(sessions, office.admin)).role is Role.ADMIN

    # Two admins switching each other off at the same moment: one of them remains.
    second = await identities.register(Role.ADMIN)
    first_client, second_client = admin, caller(live_http, identities, second)
    first_id, second_id = await gid(sessions, office.admin), await gid(sessions, second)
    answers = await asyncio.gather(
        first_client.execute(SWITCH_OFF, {"id": second_id}),
        second_client.execute(SWITCH_OFF, {"id": first_id}),
    )
    async with sessions() as session:
        active_admins = (
            await session.scalars(
                select(Account.subject).where(Account.role == Role.ADMIN, Account.active)
            )
        ).all()
    assert len(active_admins) == 1, answers
    outcomes = [
        answer.data["switchOffAccount"].get("code") or "switched off"
        if answer.data
        else answer.errors[0]["extensions"]["code"]
        for answer in answers
    ]
    # The loser either lost the race inside the database or was already off when it asked.
    assert outcomes.count("switched off") == 1, outcomes
    assert {"LAST_ADMIN", "ACCOUNT_INACTIVE"} & set(outcomes), outcomes


async def test_a_switched_off_account_keeps_its_role_until_switched_on(
    live_http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, office: Office
) -> None:
    admin = caller(live_http, identities, office.admin)
    target = await gid(sessions, office.coordinator_a)
    await change(admin, SWITCH_OFF, id=target)
    refused = await change(admin, CHANGE_ROLE, id=target, role="REGISTERED_MANAGER")
    assert refused["code"] == "ACCOUNT_INACTIVE"
    assert (await account_of(sessions, office.coordinator_a)).role is Role.COORDINATOR
    await change(admin, SWITCH_ON, id=target)
    changed = await change(admin, CHANGE_ROLE, id=target, role="REGISTERED_MANAGER")
    assert changed["role"] == "REGISTERED_MANAGER"
    events = await account_events(sessions, office.coordinator_a)
    assert events[-1].type == "account.role_changed"
    assert events[-1].payload["from"] == "coordinator"
    assert events[-1].payload["to"] == "registered_manager"
    # A role that does not suit the account is refused (a carer needs a staff record).
    unsuitable = await change(admin, CHANGE_ROLE, id=target, role="CARER")
    assert unsuitable["__typename"] == "InvalidInputError"


async def test_registering_a_switched_off_account_again_does_not_switch_it_on(
    live_http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, office: Office
) -> None:
    admin = caller(live_http, identities, office.admin)
    target = await gid(sessions, office.coordinator_a)
    await change(admin, SWITCH_OFF, id=target)
    again = await change(
        admin,
        REGISTER,
        subject=office.coordinator_a,
        role="COORDINATOR",
        org=encode_global_id("Organisation", office.provider_a),
    )
    assert again["__typename"] == "Account"
    assert again["active"] is False
    leaver = caller(live_http, identities, office.coordinator_a)
    assert (await leaver.execute(WHO_AM_I)).errors[0]["extensions"]["code"] == "ACCOUNT_INACTIVE"
    # The same through the accounts service (the path `hub token` and the tests' own helper
    # take): still off.
    await identities.register(
        Role.COORDINATOR, organisation_id=office.provider_a, subject=office.coordinator_a
    )
    assert not (await account_of(sessions, office.coordinator_a)).active


async def test_only_admins_and_registered_managers_manage_accounts(
    live_http: httpx.AsyncClient, identities: Identities, sessions: SessionFactory, office: Office
) -> None:
    coordinator = caller(live_http, identities, office.coordinator_a)
    target = await gid(sessions, office.carer_a)
    for document, variables in (
        (ACCOUNTS, {}),
        (SWITCH_OFF, {"id": target}),
        (SWITCH_ON, {"id": target}),
        (CHANGE_ROLE, {"id": target, "role": "COORDINATOR"}),
    ):
        answer = await coordinator.execute(document, variables)
        assert answer.errors[0]["extensions"]["code"] == "FORBIDDEN", document
    assert (await account_of(sessions, office.carer_a)).active
