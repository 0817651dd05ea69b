"""Exception cases over GraphQL/HTTP: the filtered, paginated list with tenancy per role, a
case's timeline and its exportable audit pack (access-logged), the handling mutations with typed
errors by __typename, and each contract's policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.audit.models import AccessLogEntry
from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.governance.models import ExceptionCase
from hub.governance.runner import run_due_visit_scan, run_event_rules
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from hub.visits.facts import ObservationKind
from tests.governance.conftest import Field, World, add_visit
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities
from tests.support.sqlcount import counting_statements

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

CASE_FIELDS = """
  __typename
  ... on ExceptionCase {
    id rule title severity status level ownerRole owner personId openedAt dueAt overdue
    allowedCommands requiresSafeguardingDecision
    outcome { code label fields note }
    actions { id kind description completedAt completionNote }
    contract { reference }
  }
  ... on UserError { code message }
  ... on InvalidInputError { field }
"""


def mutation(name: str, input_type: str) -> str:
    return f"""
    mutation Run($input: {input_type}!) {{
      {name}(input: $input) {{ {CASE_FIELDS} }}
    }}"""


LIST = """
query Cases($contract: ID, $rule: [CaseRule!], $status: [CaseStatus!],
            $severity: [CaseSeverity!], $overdue: Boolean, $first: Int, $after: String) {
  exceptionCases(contractId: $contract, rule: $rule, status: $status, severity: $severity,
                 overdue: $overdue, first: $first, after: $after) {
    nodes { id rule severity status }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _client(
    http: httpx.AsyncClient, identities: Identities, role: Role, organisation: uuid.UUID
) -> GraphQLClient:
    return GraphQLClient(http, token=await identities.token(role, organisation_id=organisation))


async def _open_cases(
    sessions: SessionFactory, clock: FixedClock, world: World, field: Field
) -> dict[str, ExceptionCase]:
    """A missed visit (late + missed cases) and a fall (observation case), on the contract."""
    missed = await add_visit(sessions, world, START)
    observed = await add_visit(sessions, world, START + timedelta(minutes=50))
    clock.current = START + timedelta(minutes=61)
    await run_due_visit_scan(sessions, clock)
    await field.check_in(observed, START + timedelta(minutes=51))
    await field.observe(observed, ObservationKind.FALL, {"injury": True}, note="Fell in kitchen")
    await run_event_rules(sessions, clock)
    async with read_only(sessions) as session:
        rows = (await session.scalars(select(ExceptionCase))).all()
    cases = {row.rule: row for row in rows}
    assert set(cases) == {"visit_late", "visit_missed", "observation_trigger"}, set(cases)
    assert cases["visit_late"].visit_id == missed.id
    return cases


def gid(row: ExceptionCase) -> str:
    return encode_global_id("ExceptionCase", row.id)


async def test_lists_filter_and_page_within_each_callers_tenancy(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    world: World,
    field: Field,
) -> None:
    cases = await _open_cases(sessions, clock, world, field)
    office = await _client(http, identities, Role.COORDINATOR, world.provider.id)
    commissioner = await _client(http, identities, Role.COMMISSIONER, world.commissioner.id)
    outsider = await _client(http, identities, Role.COMMISSIONER, world.other_commissioner.id)

    everything = (await office.execute(LIST)).ok()["exceptionCases"]["nodes"]
    assert len(everything) == 3
    assert (await commissioner.execute(LIST)).ok()["exceptionCases"]["nodes"] == everything
    assert (await outsider.execute(LIST)).ok()["exceptionCases"]["nodes"] == []
    contract = encode_global_id("Contract", world.contract.id)
    other = encode_global_id("Contract", world.other_contract.id)
    assert (
        len((await office.execute(LIST, {"contract": contract})).ok()["exceptionCases"]["nodes"])
        == 3
    )
    assert (await office.execute(LIST, {"contract": other})).ok()["exceptionCases"]["nodes"] == []

    def ids(data: Any) -> set[str]:
        return {node["id"] for node in data["exceptionCases"]["nodes"]}

    assert ids((await office.execute(LIST, {"rule": ["VISIT_MISSED"]})).ok()) == {
        gid(cases["visit_missed"])
    }
    assert ids((await office.execute(LIST, {"severity": ["HIGH"]})).ok()) == {
        gid(cases["visit_missed"]),
        gid(cases["observation_trigger"]),
    }
    assert ids((await office.execute(LIST, {"status": ["RESOLVED"]})).ok()) == set()
    assert ids((await office.execute(LIST, {"overdue": True})).ok()) == set()
    clock.advance(timedelta(minutes=31))  # past the 30-minute acknowledgement due time
    assert len(ids((await office.execute(LIST, {"overdue": True})).ok())) == 3

    # Pages of one, newest first, each cursor continuing where the last page ended.
    seen: list[str] = []
    after = None
    for _ in range(3):
        page = (await office.execute(LIST, {"first": 1, "after": after})).ok()["exceptionCases"]
        seen.extend(node["id"] for node in page["nodes"])
        after = page["pageInfo"]["endCursor"]
    assert page["pageInfo"]["hasNextPage"] is False
    assert seen == [node["id"] for node in everything]
    assert len(set(seen)) == 3

    # Supplier clients (like carers, whose app may only send trusted documents) see no cases.
    supplier = GraphQLClient(
        http,
        token=await identities.token(
            Role.SUPPLIER_CLIENT, organisation_id=world.provider.id, scopes=("changes:read",)
        ),
    )
    refused = await supplier.execute(LIST)
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_handling_a_case_over_graphql_with_typed_errors(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    world: World,
    field: Field,
) -> None:
    cases = await _open_cases(sessions, clock, world, field)
    missed = gid(cases["visit_missed"])
    office = await _client(http, identities, Role.COORDINATOR, world.provider.id)
    manager = await _client(http, identities, Role.REGISTERED_MANAGER, world.provider.id)
    commissioner = await _client(http, identities, Role.COMMISSIONER, world.commissioner.id)

    early = (
        await office.execute(
            mutation("resolveCase", "ResolveCaseInput"),
            {"input": {"caseId": missed, "outcomeCode": "person_declined_visit"}},
        )
    ).ok()["resolveCase"]
    assert early["__typename"] == "ConflictError"
    assert early["code"] == "ILLEGAL_CASE_TRANSITION"
    assert "acknowledge it first" in early["message"]

    refused = await commissioner.execute(
        mutation("acknowledgeCase", "AcknowledgeCaseInput"), {"input": {"caseId": missed}}
    )
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"

    acked = (
        await office.execute(
            mutation("acknowledgeCase", "AcknowledgeCaseInput"),
            {"input": {"caseId": missed, "note": "calling the carer"}},
        )
    ).ok()["acknowledgeCase"]
    assert acked["status"] == "ACKNOWLEDGED"
    assert "RESOLVE" in acked["allowedCommands"]
    assert "RECONCILE" not in acked["allowedCommands"]  # the system's move, not a person's
    assert "RECORD_SAFEGUARDING_DECISION" not in acked["allowedCommands"]

    bad = (
        await office.execute(
            mutation("resolveCase", "ResolveCaseInput"),
            {
                "input": {
                    "caseId": missed,
                    "outcomeCode": "covered_by_alternative_worker",
                    "fields": {"coveredWithinMinutes": 35},
                }
            },
        )
    ).ok()["resolveCase"]
    assert bad["__typename"] == "InvalidInputError"
    assert bad["field"] == "fields.alternativeWorker"

    resolved = (
        await office.execute(
            mutation("resolveCase", "ResolveCaseInput"),
            {
                "input": {
                    "caseId": missed,
                    "outcomeCode": "covered_by_alternative_worker",
                    "fields": {"coveredWithinMinutes": 35, "alternativeWorker": "J. Patel"},
                    "note": "Covered from the next round",
                }
            },
        )
    ).ok()["resolveCase"]
    assert resolved["status"] == "RESOLVED"
    assert resolved["outcome"] == {
        "code": "covered_by_alternative_worker",
        "label": "covered by alternative worker",
        "fields": {"coveredWithinMinutes": 35, "alternativeWorker": "J. Patel"},
        "note": "Covered from the next round",
    }

    added = (
        await office.execute(
            mutation("addCaseAction", "AddCaseActionInput"),
            {
                "input": {
                    "caseId": missed,
                    "kind": "LEARNING",
                    "description": "Supervision with the carer on contacting the office",
                    "ownerRole": "REGISTERED_MANAGER",
                    "dueAt": (clock.now() + timedelta(days=7)).isoformat(),
                }
            },
        )
    ).ok()["addCaseAction"]
    [action] = added["actions"]
    assert action["kind"] == "LEARNING"
    blocked = (
        await manager.execute(
            mutation("closeCase", "CloseCaseInput"), {"input": {"caseId": missed}}
        )
    ).ok()["closeCase"]
    assert (blocked["__typename"], blocked["code"]) == ("ConflictError", "ACTIONS_OUTSTANDING")
    completed = (
        await office.execute(
            mutation("completeCaseAction", "CompleteCaseActionInput"),
            {"input": {"actionId": action["id"], "note": "Supervision held 24 Nov"}},
        )
    ).ok()["completeCaseAction"]
    assert completed["actions"][0]["completionNote"] == "Supervision held 24 Nov"
    closed = (
        await manager.execute(
            mutation("closeCase", "CloseCaseInput"), {"input": {"caseId": missed}}
        )
    ).ok()["closeCase"]
    assert closed["status"] == "CLOSED"
    assert closed["allowedCommands"] == []

    wrong_type = (
        await office.execute(
            mutation("acknowledgeCase", "AcknowledgeCaseInput"),
            {"input": {"caseId": encode_global_id("Visit", uuid.uuid4())}},
        )
    ).ok()["acknowledgeCase"]
    assert (wrong_type["__typename"], wrong_type["field"]) == ("InvalidInputError", "caseId")
    foreign = (
        await office.execute(
            mutation("acknowledgeCase", "AcknowledgeCaseInput"),
            {"input": {"caseId": encode_global_id("ExceptionCase", uuid.uuid4())}},
        )
    ).ok()["acknowledgeCase"]
    assert (foreign["__typename"], foreign["code"]) == ("NotFoundError", "CASE_NOT_FOUND")


TIMELINE = """
query Case($id: ID!) {
  exceptionCase(id: $id) {
    id title visit { id status } details
    timeline { eventId type relation occurredAt recordedAt actor payload }
    auditPack
  }
  node(id: $id) { id }
}"""


async def test_a_sampled_case_replays_as_a_timeline_and_exports_as_an_audit_pack(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    world: World,
    field: Field,
) -> None:
    cases = await _open_cases(sessions, clock, world, field)
    late = cases["visit_late"]
    office = await _client(http, identities, Role.COORDINATOR, world.provider.id)
    await office.execute(
        mutation("acknowledgeCase", "AcknowledgeCaseInput"), {"input": {"caseId": gid(late)}}
    )
    # The carer's check-in at 08:10 was stuck on a phone without signal; it arrives at 09:45.
    clock.current = START + timedelta(minutes=105)
    visit_id = late.visit_id
    assert visit_id is not None
    async with read_only(sessions) as session:
        from hub.visits.models import Visit

        visit = await session.get(Visit, visit_id)
    assert visit is not None
    await field.check_in(visit, START + timedelta(minutes=10))
    await run_event_rules(sessions, clock)

    commissioner = await _client(http, identities, Role.COMMISSIONER, world.commissioner.id)
    async with read_only(sessions) as session:
        before = len((await session.scalars(select(AccessLogEntry))).all())
    data = (await commissioner.execute(TIMELINE, {"id": gid(late)})).ok()
    case = data["exceptionCase"]
    assert data["node"] == {"id": gid(late)}
    assert case["visit"]["status"] == "IN_PROGRESS"
    timeline = case["timeline"]
    # The visit was planned by a builder (no plan events): the judgement that opened the case,
    # the case's own events and the fact.
    assert [(e["type"], e["relation"]) for e in timeline] == [
        ("visit.late", "opened"),
        ("case.opened", "lifecycle"),
        ("case.acknowledged", "lifecycle"),
        ("visit.checked_in", "reconciled"),
        ("case.reconciled", "lifecycle"),
    ]
    assert [int(e["eventId"]) for e in timeline] == sorted(int(e["eventId"]) for e in timeline)
    reconciled = timeline[-1]["payload"]["reconciliation"]
    assert reconciled["kind"] == "on_time_synced_late"
    # Both times are kept: when the carer checked in, and when the hub heard of it.
    assert reconciled["fact_occurred_at"] == (START + timedelta(minutes=10)).isoformat()
    assert reconciled["fact_received_at"] == clock.now().isoformat()

    pack = case["auditPack"]
    assert (pack["format"], pack["version"], pack["timezone"]) == (
        "care-hub/audit-pack",
        1,
        "Europe/London",
    )
    assert set(pack) == {
        "format",
        "version",
        "generatedAt",
        "generatedBy",
        "timezone",
        "case",
        "timeline",
        "actions",
    }
    assert pack["case"]["id"] == str(late.id)
    assert pack["case"]["status"] == "resolved"
    assert pack["case"]["contract"]["reference"] == world.contract.reference
    assert pack["case"]["reconciliation"]["kind"] == "on_time_synced_late"
    assert [e["eventId"] for e in pack["timeline"]] == [e["eventId"] for e in timeline]
    assert pack["timeline"][-1]["occurredAtLocal"].endswith("+00:00")  # GMT in November
    assert pack["generatedBy"].startswith("account:")

    # Reading a person's case history is attributable: one access-log row naming the person.
    async with read_only(sessions) as session:
        rows = (await session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id))).all()
    [row] = rows[before:]
    assert world.person.id in row.person_ids
    assert {"timeline", "auditPack", "details"} <= set(row.fields)


POLICY = """
query Policy($id: ID!) {
  governancePolicy(contractId: $id) {
    ladderIsDefault settingsAreDefault
    ladder { level target afterMinutes }
    settings { painThreshold repeatCount resolveWithinMinutes }
  }
}"""


async def test_the_commissioner_sets_the_contracts_ladder_and_thresholds(
    http: httpx.AsyncClient, identities: Identities, world: World
) -> None:
    contract = encode_global_id("Contract", world.contract.id)
    commissioner = await _client(http, identities, Role.COMMISSIONER, world.commissioner.id)
    office = await _client(http, identities, Role.COORDINATOR, world.provider.id)
    default = (await office.execute(POLICY, {"id": contract})).ok()["governancePolicy"]
    assert default["ladderIsDefault"] is True
    assert [s["target"] for s in default["ladder"]] == [
        "ON_CALL_MANAGER",
        "REGISTERED_MANAGER",
        "COMMISSIONER",
    ]
    ladder = """
    mutation Ladder($input: SetEscalationLadderInput!) {
      setEscalationLadder(input: $input) {
        __typename
        ... on GovernancePolicy { ladder { level target afterMinutes } }
        ... on InvalidInputError { field code }
      }
    }"""
    bad = (
        await commissioner.execute(
            ladder,
            {
                "input": {
                    "contractId": contract,
                    "steps": [
                        {"target": "ON_CALL_MANAGER", "afterMinutes": 30},
                        {"target": "COMMISSIONER", "afterMinutes": 20},
                    ],
                }
            },
        )
    ).ok()["setEscalationLadder"]
    assert (bad["__typename"], bad["field"]) == ("InvalidInputError", "steps[1].afterMinutes")
    good = (
        await commissioner.execute(
            ladder,
            {
                "input": {
                    "contractId": contract,
                    "steps": [
                        {"target": "REGISTERED_MANAGER", "afterMinutes": 20},
                        {"target": "COMMISSIONER", "afterMinutes": 60},
                    ],
                }
            },
        )
    ).ok()["setEscalationLadder"]
    assert good["ladder"] == [
        {"level": 1, "target": "REGISTERED_MANAGER", "afterMinutes": 20},
        {"level": 2, "target": "COMMISSIONER", "afterMinutes": 60},
    ]
    settings = """
    mutation Settings($input: SetCaseRuleSettingsInput!) {
      setCaseRuleSettings(input: $input) {
        __typename
        ... on GovernancePolicy { settings { painThreshold repeatCount } }
        ... on UserError { code }
      }
    }"""
    refused = await office.execute(
        settings, {"input": {"contractId": contract, "painThreshold": 5}}
    )
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
    changed = (
        await commissioner.execute(
            settings, {"input": {"contractId": contract, "painThreshold": 5}}
        )
    ).ok()["setCaseRuleSettings"]
    assert changed["settings"] == {"painThreshold": 5, "repeatCount": 3}
    now = (await office.execute(POLICY, {"id": contract})).ok()["governancePolicy"]
    assert (now["ladderIsDefault"], now["settingsAreDefault"]) == (False, False)
    other = encode_global_id("Contract", world.other_contract.id)
    assert (await commissioner.execute(POLICY, {"id": other})).ok() == {"governancePolicy": None}


BOARD = """
query Board {
  exceptionCases(first: 50) {
    nodes {
      title status overdue
      contract { reference }
      visit { status }
      outcome { label }
      actions { description }
      timeline { type }
    }
  }
}"""


async def test_a_page_of_cases_costs_the_same_statements_whatever_its_size(
    app: Starlette,
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    world: World,
) -> None:
    async def count() -> tuple[int, int]:
        # A fresh token at the clock's now (tokens last an hour; the clock moves by days).
        office = await _client(http, identities, Role.COORDINATOR, world.provider.id)
        with counting_statements(app.state.runtime.engine) as log:
            data = (await office.execute(BOARD)).ok()
        return len(log.queries()), len(data["exceptionCases"]["nodes"])

    async def late_visits(day: int, how_many: int) -> None:
        for n in range(how_many):
            await add_visit(sessions, world, START + timedelta(days=day, minutes=n))
        clock.current = START + timedelta(days=day, minutes=how_many + 16)
        await run_due_visit_scan(sessions, clock)

    await late_visits(0, 2)
    small, small_cases = await count()
    await late_visits(1, 8)
    large, large_cases = await count()
    assert small_cases < large_cases
    assert large == small
