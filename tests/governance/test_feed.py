"""The exception feed over graphql-transport-ws: replay after a cursor then live, resuming
after a dropped socket with nothing missed and nothing twice, no event skipped when
transactions commit out of order, and authorisation at subscribe time and for every event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update
from starlette.applications import Starlette

from hub.accounts.models import Account, Role
from hub.contracts.models import Contract
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.log import NewEvent, record
from hub.governance.runner import run_due_visit_scan
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from hub.organisations.models import OrganisationKind
from tests import builders
from tests.support.asgi import AsgiWebSocket, websocket_connect
from tests.support.graphql import GraphQLClient, SubscriptionSession
from tests.support.identity import Identities

FEED = """
subscription Feed($contracts: [ID!]!, $after: String, $all: Boolean! = false) {
  exceptionFeed(contractIds: $contracts, after: $after, includeAllEvents: $all) {
    cursor type caseId contractId subjectType status severity rule level occurredAt recordedAt
  }
}
"""
FROM_THE_BEGINNING = "0.0"


@dataclass
class Setting:
    council: uuid.UUID
    provider: uuid.UUID
    contract: uuid.UUID
    other_contract: uuid.UUID  # same commissioner, same provider
    foreign: uuid.UUID  # another commissioner's

    def gid(self, contract: uuid.UUID) -> str:
        return encode_global_id("Contract", contract)


@pytest.fixture
async def setting(sessions: SessionFactory) -> Setting:
    async with unit_of_work(sessions) as session:
        council = await builders.create_organisation(session, kind=OrganisationKind.LOCAL_AUTHORITY)
        provider = await builders.create_organisation(session, kind=OrganisationKind.PROVIDER)
        contract = await builders.create_contract(session, commissioner=council, provider=provider)
        other = await builders.create_contract(session, commissioner=council, provider=provider)
        foreign = await builders.create_contract(session)
    return Setting(council.id, provider.id, contract.id, other.id, foreign.id)


def case_event(
    contract: uuid.UUID,
    kind: str = "case.opened",
    *,
    case_id: uuid.UUID | None = None,
    status: str = "open",
    severity: str = "high",
    level: int = 0,
) -> NewEvent:
    case = case_id or uuid.uuid4()
    return NewEvent(
        type=kind,
        subject_type="exception_case",
        subject_id=case,
        contract_id=contract,
        actor="system:governance",
        occurred_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        payload={
            "case_id": str(case),
            "rule": "visit_late",
            "status": status,
            "severity": severity,
            "level": level,
        },
    )


async def write(sessions: SessionFactory, *events: NewEvent) -> None:
    """Each event in a transaction of its own, committed in the order given."""
    for event in events:
        async with unit_of_work(sessions) as session:
            await record(session, event)


async def write_cases(sessions: SessionFactory, contract: uuid.UUID, *kinds: str) -> None:
    await write(sessions, *(case_event(contract, kind) for kind in kinds))


async def open_feed(
    socket: AsgiWebSocket, token: str, variables: dict[str, Any]
) -> SubscriptionSession:
    session = SubscriptionSession(socket)
    ack = await session.init({"authorization": f"Bearer {token}"})
    assert ack["type"] == "connection_ack", ack
    await session.subscribe(FEED, variables)
    return session


async def next_event(session: SubscriptionSession, timeout: float = 5.0) -> dict[str, Any]:
    message = await session.next_message(timeout)
    assert message["type"] == "next", message
    assert not message["payload"].get("errors"), message["payload"]["errors"]
    event: dict[str, Any] = message["payload"]["data"]["exceptionFeed"]
    return event


async def next_error(session: SubscriptionSession) -> dict[str, Any]:
    message = await session.next_message()
    assert message["type"] == "next", message
    assert message["payload"]["data"] is None
    error: dict[str, Any] = message["payload"]["errors"][0]
    return error


async def nothing_arrives(session: SubscriptionSession, seconds: float) -> bool:
    try:
        await session.next_message(seconds)
    except TimeoutError:
        return True
    return False


async def commissioner_token(identities: Identities, setting: Setting) -> str:
    return await identities.token(Role.COMMISSIONER, organisation_id=setting.council)


# --- replay, live, resume -------------------------------------------------------------------


async def test_replays_after_a_cursor_then_streams_live_with_the_case_fields(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    token = await commissioner_token(identities, setting)
    case_id = uuid.uuid4()
    await write(
        sessions,
        case_event(setting.contract, "case.opened", case_id=case_id),
        case_event(setting.contract, "case.acknowledged", case_id=case_id, status="acknowledged"),
    )
    async with websocket_connect(app) as socket:
        feed = await open_feed(
            socket, token, {"contracts": [setting.gid(setting.contract)], "after": "0.0"}
        )
        opened = await next_event(feed)
        acknowledged = await next_event(feed)
        await write(
            sessions,
            case_event(
                setting.contract, "case.escalated", case_id=case_id, status="escalated", level=1
            ),
        )
        escalated = await next_event(feed)
    assert [opened["type"], acknowledged["type"], escalated["type"]] == [
        "case.opened",
        "case.acknowledged",
        "case.escalated",
    ]
    assert escalated == {
        "cursor": escalated["cursor"],
        "type": "case.escalated",
        "caseId": encode_global_id("ExceptionCase", case_id),
        "contractId": setting.gid(setting.contract),
        "subjectType": "exception_case",
        "status": "ESCALATED",
        "severity": "HIGH",
        "rule": "VISIT_LATE",
        "level": 1,
        "occurredAt": "2026-11-23T09:00:00+00:00",
        "recordedAt": escalated["recordedAt"],
    }
    assert len({opened["cursor"], acknowledged["cursor"], escalated["cursor"]}) == 3


async def test_resuming_from_the_last_cursor_gives_exactly_the_missed_events_in_order(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    """The Done-when of issue 6 item 4."""
    token = await commissioner_token(identities, setting)
    contracts = [setting.gid(setting.contract), setting.gid(setting.other_contract)]
    await write_cases(sessions, setting.contract, "case.opened")
    async with websocket_connect(app) as socket:
        feed = await open_feed(socket, token, {"contracts": contracts, "after": "0.0"})
        received = [await next_event(feed)]
        await write_cases(sessions, setting.other_contract, "case.opened")
        await write_cases(sessions, setting.contract, "case.acknowledged")
        received += [await next_event(feed), await next_event(feed)]
    # The socket is gone. More happens, on both contracts and elsewhere.
    await write_cases(sessions, setting.contract, "case.escalated")
    await write_cases(sessions, setting.foreign, "case.opened")
    await write_cases(sessions, setting.other_contract, "case.acknowledged")
    await write_cases(sessions, setting.contract, "case.resolved")
    last = received[-1]["cursor"]
    async with websocket_connect(app) as socket:
        feed = await open_feed(socket, token, {"contracts": contracts, "after": last})
        missed = [await next_event(feed) for _ in range(3)]
        # Then live again, and the next message is the new event: nothing was repeated.
        await write_cases(sessions, setting.contract, "case.closed")
        after_resume = await next_event(feed)

    assert [(e["type"], e["contractId"]) for e in received] == [
        ("case.opened", contracts[0]),
        ("case.opened", contracts[1]),
        ("case.acknowledged", contracts[0]),
    ]
    assert [(e["type"], e["contractId"]) for e in missed] == [
        ("case.escalated", contracts[0]),
        ("case.acknowledged", contracts[1]),
        ("case.resolved", contracts[0]),
    ]
    assert after_resume["type"] == "case.closed"
    cursors = [e["cursor"] for e in [*received, *missed, after_resume]]
    assert len(set(cursors)) == len(cursors)


async def test_only_case_events_are_streamed_unless_all_events_are_asked_for(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    token = await commissioner_token(identities, setting)
    visit = NewEvent(
        type="visit.checked_in",
        subject_type="visit",
        subject_id=uuid.uuid4(),
        contract_id=setting.contract,
        actor="test",
        occurred_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
    )
    await write(sessions, visit, case_event(setting.contract, "case.opened"))
    seen: dict[bool, list[tuple[str, str | None]]] = {}
    for include_all in (False, True):
        async with websocket_connect(app) as socket:
            feed = await open_feed(
                socket,
                token,
                {"contracts": [setting.gid(setting.contract)], "after": "0.0", "all": include_all},
            )
            count = 2 if include_all else 1
            events = [await next_event(feed) for _ in range(count)]
            seen[include_all] = [(e["type"], e["caseId"] and "case") for e in events]
    assert seen[False] == [("case.opened", "case")]
    assert seen[True] == [("visit.checked_in", None), ("case.opened", "case")]


async def test_a_case_the_scan_opens_and_the_office_acknowledges_reaches_the_feed(
    app: Starlette,
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    setting: Setting,
    clock: FixedClock,
) -> None:
    """The governance engine's own events, end to end: the due-visit scan opens a late case,
    the provider's office acknowledges it through GraphQL, the commissioner sees both."""
    async with unit_of_work(sessions) as session:
        contract = await session.get_one(Contract, setting.contract)
        package = await builders.create_package(session, contract=contract)
        # Planned 08:00, nobody came; at 09:00 it is 45 minutes past the 15-minute tolerance.
        await builders.create_visit(session, package=package)
    token = await commissioner_token(identities, setting)
    office = GraphQLClient(
        http, token=await identities.token(Role.COORDINATOR, organisation_id=setting.provider)
    )
    async with websocket_connect(app) as socket:
        feed = await open_feed(
            socket, token, {"contracts": [setting.gid(setting.contract)], "after": "0.0"}
        )
        scanned = await run_due_visit_scan(sessions, clock)
        opened = await next_event(feed)
        answer = await office.execute(
            "mutation($c: ID!) { acknowledgeCase(input: {caseId: $c}) "
            "{ ... on ExceptionCase { status } } }",
            {"c": opened["caseId"]},
        )
        acknowledged = await next_event(feed)
    assert scanned.late_opened == 1
    assert answer.ok() == {"acknowledgeCase": {"status": "ACKNOWLEDGED"}}
    assert (opened["type"], opened["rule"], opened["status"]) == (
        "case.opened",
        "VISIT_LATE",
        "OPEN",
    )
    assert (acknowledged["type"], acknowledged["status"], acknowledged["caseId"]) == (
        "case.acknowledged",
        "ACKNOWLEDGED",
        opened["caseId"],
    )


# --- out-of-order commits -------------------------------------------------------------------


async def test_a_lower_id_committed_last_is_neither_skipped_nor_reordered(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    token = await commissioner_token(identities, setting)
    async with websocket_connect(app) as socket:
        feed = await open_feed(
            socket, token, {"contracts": [setting.gid(setting.contract)], "after": "0.0"}
        )
        slow = sessions()
        await slow.begin()
        first = await record(slow, case_event(setting.contract, "case.opened"))
        await write_cases(sessions, setting.contract, "case.acknowledged")  # commits first
        # The committed event waits for the open transaction that holds the lower id.
        assert await nothing_arrives(feed, 0.5)
        await slow.commit()
        await slow.close()
        delivered = [await next_event(feed), await next_event(feed)]
    assert [e["type"] for e in delivered] == ["case.opened", "case.acknowledged"]
    assert delivered[0]["cursor"].endswith(f".{first.id}")


async def test_an_older_transaction_inserting_after_a_younger_one_skips_nothing(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    token = await commissioner_token(identities, setting)
    older = sessions()
    await older.begin()
    await older.execute(text("SELECT pg_current_xact_id()"))  # it wrote something else first
    younger = sessions()
    await younger.begin()
    await record(younger, case_event(setting.contract, "case.opened"))  # the lower id
    await record(older, case_event(setting.contract, "case.escalated"))  # the higher id
    await older.commit()
    await older.close()
    async with websocket_connect(app) as socket:
        feed = await open_feed(
            socket, token, {"contracts": [setting.gid(setting.contract)], "after": "0.0"}
        )
        escalated = await next_event(feed)
        await younger.commit()
        await younger.close()
        opened = await next_event(feed)
    # A resumed feed from the first cursor gets the second, too: the cursor did not pass it.
    async with websocket_connect(app) as socket:
        feed = await open_feed(
            socket,
            token,
            {"contracts": [setting.gid(setting.contract)], "after": escalated["cursor"]},
        )
        resumed = await next_event(feed)
    assert (escalated["type"], opened["type"], resumed["type"]) == (
        "case.escalated",
        "case.opened",
        "case.opened",
    )


# --- authorisation --------------------------------------------------------------------------


async def test_the_provider_office_watches_its_own_contract(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    token = await identities.token(Role.COORDINATOR, organisation_id=setting.provider)
    await write_cases(sessions, setting.contract, "case.opened")
    async with websocket_connect(app) as socket:
        feed = await open_feed(
            socket, token, {"contracts": [setting.gid(setting.contract)], "after": "0.0"}
        )
        assert (await next_event(feed))["type"] == "case.opened"


async def test_another_organisations_contract_answers_like_a_missing_one(
    app: Starlette, identities: Identities, setting: Setting
) -> None:
    token = await commissioner_token(identities, setting)
    answers = []
    for contract in (setting.foreign, uuid.uuid4()):
        async with websocket_connect(app) as socket:
            feed = await open_feed(
                socket, token, {"contracts": [setting.gid(setting.contract), setting.gid(contract)]}
            )
            error = await next_error(feed)
            answers.append((error["extensions"]["code"], error["message"].split(" ")[:2]))
    assert answers[0] == answers[1] == ("CONTRACT_NOT_FOUND", ["no", "contract"])


def _invalid_request(case: str, setting: Setting) -> dict[str, Any]:
    if case == "no contracts":
        return {"contracts": []}
    if case == "51 contracts":
        return {"contracts": [setting.gid(uuid.uuid4()) for _ in range(51)]}
    if case == "not a contract id":
        return {"contracts": [encode_global_id("Visit", setting.contract)]}
    return {"contracts": [setting.gid(setting.contract)], "after": "yesterday"}


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("no contracts", "NO_CONTRACTS"),
        ("51 contracts", "TOO_MANY_CONTRACTS"),
        ("not a contract id", "INVALID_ID"),
        ("a foreign cursor", "INVALID_CURSOR"),
    ],
)
async def test_the_contracts_and_the_cursor_are_validated(
    app: Starlette, identities: Identities, setting: Setting, case: str, code: str
) -> None:
    token = await commissioner_token(identities, setting)
    async with websocket_connect(app) as socket:
        feed = await open_feed(socket, token, _invalid_request(case, setting))
        error = await next_error(feed)
    assert error["extensions"]["code"] == code


async def test_a_carer_may_not_subscribe(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    async with unit_of_work(sessions) as session:
        staff = await builders.create_staff(session, organisation_id=setting.provider)
    token = await identities.token(Role.CARER, organisation_id=setting.provider, staff_id=staff.id)
    async with websocket_connect(app) as socket:
        feed = await open_feed(socket, token, {"contracts": [setting.gid(setting.contract)]})
        message = await feed.next_message()
    # Refused by the field's permission, or before it by the carers' trusted-document policy.
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert message["type"] == "error" or message["payload"]["data"] is None
    assert errors[0]["extensions"]["code"] in ("FORBIDDEN", "PERSISTED_DOCUMENT_REQUIRED")


async def test_an_account_switched_off_mid_stream_gets_no_further_event(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    subject = await identities.register(Role.COMMISSIONER, organisation_id=setting.council)
    token = identities.mint(subject)
    await write_cases(sessions, setting.contract, "case.opened")
    async with websocket_connect(app) as socket:
        feed = await open_feed(
            socket, token, {"contracts": [setting.gid(setting.contract)], "after": "0.0"}
        )
        assert (await next_event(feed))["type"] == "case.opened"
        async with unit_of_work(sessions) as db:
            await db.execute(update(Account).where(Account.subject == subject).values(active=False))
        await write_cases(sessions, setting.contract, "case.acknowledged")
        error = await next_error(feed)
        assert error["extensions"]["code"] == "AUTHORISATION_LOST"
        assert (await feed.next_message())["type"] == "complete"


async def test_a_contract_that_stops_being_visible_mid_stream_ends_the_feed(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    token = await commissioner_token(identities, setting)
    await write_cases(sessions, setting.other_contract, "case.opened")
    async with websocket_connect(app) as socket:
        feed = await open_feed(
            socket,
            token,
            {
                "contracts": [setting.gid(setting.contract), setting.gid(setting.other_contract)],
                "after": "0.0",
            },
        )
        assert (await next_event(feed))["type"] == "case.opened"
        async with unit_of_work(sessions) as session:
            stranger = await builders.create_organisation(
                session, kind=OrganisationKind.LOCAL_AUTHORITY
            )
            await session.execute(
                update(Contract)
                .where(Contract.id == setting.contract)
                .values(commissioner_id=stranger.id)
            )
        # Only the still-visible contract gets an event; the feed must stop, not deliver it.
        await write_cases(sessions, setting.other_contract, "case.acknowledged")
        error = await next_error(feed)
    assert error["extensions"]["code"] == "CONTRACT_NOT_FOUND"
    assert setting.gid(setting.contract) in error["message"]


async def test_many_events_replay_in_batches_in_order(
    app: Starlette, identities: Identities, sessions: SessionFactory, setting: Setting
) -> None:
    token = await commissioner_token(identities, setting)
    async with unit_of_work(sessions) as session:
        for index in range(250):  # more than two read batches
            await record(session, case_event(setting.contract, "case.opened", level=index))
    async with websocket_connect(app) as socket:
        feed = await open_feed(
            socket, token, {"contracts": [setting.gid(setting.contract)], "after": "0.0"}
        )
        levels = [(await next_event(feed))["level"] for _ in range(250)]
        assert await nothing_arrives(feed, 0.2)
    assert levels == list(range(250))
