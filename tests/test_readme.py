"""The README's examples are what a newcomer pastes first: they must stay valid, and they must
answer on the demo dataset on whatever day they are tried, with the variables the README's own
commands print for that day."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, validate
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.demo import DEMO_CONTRACT_REFERENCE, demo_id, load_demo
from hub.governance.runner import run_due_visit_scan
from hub.graphql.ids import encode_global_id
from hub.graphql.schema import schema
from hub.kit.time import LONDON, FixedClock
from hub.organisations import repository as organisations
from hub.organisations.models import Organisation
from tests import builders
from tests.support.asgi import websocket_connect
from tests.support.graphql import GraphQLClient, SubscriptionSession
from tests.support.identity import Identities
from tests.support.processes import hub_env, run_hub

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PROVIDER = demo_id("organisation:provider")


def graphql_blocks() -> dict[str, str]:
    """The README's GraphQL examples by operation name."""
    blocks: dict[str, str] = {}
    for block in re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.DOTALL):
        (operation,) = [
            d for d in parse(block).definitions if isinstance(d, OperationDefinitionNode)
        ]
        assert operation.name is not None, block
        assert operation.name.value not in blocks, f"two examples named {operation.name.value}"
        blocks[operation.name.value] = block
    return blocks


def shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def variables_commands() -> list[str]:
    """The README's one-line commands that print a query's variables for today."""
    return [line for line in shell_lines() if line.startswith(".venv/bin/python -c ")]


def run_variables_command(line: str) -> dict[str, Any]:
    """Runs the command as a reader would (with this interpreter in place of .venv's)."""
    program, flag, code = shlex.split(line)
    assert (program, flag) == (".venv/bin/python", "-c")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    variables: dict[str, Any] = json.loads(result.stdout)
    return variables


def london_midnight(days: int = 0) -> datetime:
    today = datetime.now(LONDON).date() + timedelta(days=days)
    return datetime.combine(today, time(0, 0), tzinfo=LONDON)


# --- without a database ------------------------------------------------------------------------


def test_every_graphql_example_in_the_readme_validates() -> None:
    blocks = graphql_blocks()
    assert len(blocks) >= 3
    for block in blocks.values():
        errors = validate(schema._schema, parse(block))
        assert errors == [], (block, [e.message for e in errors])


def test_the_variables_commands_print_today_and_tomorrow_evening_in_london() -> None:
    today, tomorrow_evening = (run_variables_command(line) for line in variables_commands())
    assert {k: datetime.fromisoformat(v) for k, v in today.items()} == {
        "from": london_midnight(),
        "to": london_midnight(1),
    }
    assert {k: datetime.fromisoformat(v) for k, v in tomorrow_evening.items()} == {
        "from": london_midnight(1) + timedelta(hours=21),
        "to": london_midnight(1) + timedelta(hours=22),
    }
    # Fixed dates in example variables answer nothing on a later day.
    assert not re.search(r'"(?:from|to)": "\d{4}-', README.read_text())


def test_the_supplier_walk_through_leaves_nothing_untracked_in_the_checkout() -> None:
    paths = [
        match
        for line in shell_lines()
        for match in re.findall(r"--(?:out|records) (\S+)", line)
        if match != "-"
    ]
    assert paths, "the supplier walk-through writes and serves a dataset file"
    for path in paths:
        ignored = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", path], cwd=ROOT, check=False
        )
        assert ignored.returncode == 0, f"{path} would be left untracked in the checkout"


def test_the_feed_example_says_how_to_start_from_the_beginning_and_to_resume() -> None:
    text = README.read_text()
    assert '"after": "0.0"' in text
    assert '"after": "<cursor>"' in text
    assert "after: $after" in graphql_blocks()["Exceptions"]


# --- against the demo, today ---------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    """Today, not the suite's fixed day: the README must work on whatever day it is read."""
    return FixedClock(datetime.now(UTC))


@pytest.fixture
async def demo(sessions: SessionFactory, clock: FixedClock, settings: Settings) -> None:
    await load_demo(sessions, clock, settings)


async def as_role(
    http: httpx.AsyncClient, identities: Identities, role: Role, organisation_id: uuid.UUID
) -> GraphQLClient:
    return GraphQLClient(http, token=await identities.token(role, organisation_id=organisation_id))


async def council_id(sessions: SessionFactory) -> uuid.UUID:
    async with read_only(sessions) as session:
        council = await organisations.get_by_name(session, "Northvale City Council")
    assert council is not None, "the README's commissioner organisation is not in the demo"
    return council.id


async def test_the_readme_queries_answer_on_the_demo_today(
    app: Starlette,
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    demo: None,
) -> None:
    blocks = graphql_blocks()
    today, tomorrow_evening = (run_variables_command(line) for line in variables_commands())
    coordinator = await as_role(http, identities, Role.COORDINATOR, PROVIDER)
    manager = await as_role(http, identities, Role.REGISTERED_MANAGER, PROVIDER)
    commissioner = await as_role(http, identities, Role.COMMISSIONER, await council_id(sessions))

    board = (await coordinator.execute(blocks["MobilisationBoard"])).ok()
    assert board["carePackages"]["nodes"], "the mobilisation board is empty"

    day = (await coordinator.execute(blocks["Today"], today)).ok()
    visits = day["visits"]["nodes"]
    assert visits, "no visits today"
    assert {v["localDate"] for v in visits} == {datetime.now(LONDON).date().isoformat()}
    assert any(v["assignedCarers"] for v in visits)
    assert day["staffMembers"]["nodes"], "no carer with restricted or expired medication"

    contract = (await commissioner.execute(blocks["Contract"])).ok()
    contracts = contract["contracts"]["nodes"]
    assert contracts, "the commissioner sees no contract"
    assert all(c["id"] for c in contracts), "the feed needs the contract's id"
    (rota_contract,) = [c for c in contracts if c["reference"] == DEMO_CONTRACT_REFERENCE]
    assert rota_contract["carePackages"]

    arrived = (await manager.execute(blocks["Arrived"], today)).ok()
    assert arrived["visits"]["nodes"]
    # Tomorrow evening answers too; the 21:30 welfare checks arrive only once CareRoster is
    # connected, so before that none is there.
    evening = (await manager.execute(blocks["Arrived"], tomorrow_evening)).ok()
    assert evening["visits"]["nodes"]
    welfare_check = london_midnight(1) + timedelta(hours=21, minutes=30)
    starts = {datetime.fromisoformat(v["plannedStart"]) for v in evening["visits"]["nodes"]}
    assert welfare_check not in starts
    for name in ("Connector", "Rejected"):
        (await manager.execute(blocks[name])).ok()

    # As a visit passes its tolerance unattended, the worker's scan opens a late case for it;
    # the feed replays the contract's cases from the start with after: "0.0".
    last_start = max(datetime.fromisoformat(v["plannedStart"]) for v in visits)
    opened = await run_due_visit_scan(sessions, FixedClock(last_start + timedelta(minutes=45)))
    assert opened.late_opened > 0
    token = commissioner.token
    assert token is not None
    async with websocket_connect(app) as socket:
        feed = SubscriptionSession(socket)
        assert (await feed.init({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
        await feed.subscribe(
            blocks["Exceptions"], {"contract": rota_contract["id"], "after": "0.0"}
        )
        message = await feed.next_message()
    assert message["type"] == "next", message
    event = message["payload"]["data"]["exceptionFeed"]
    assert event["type"] == "case.opened"
    assert event["rule"] == "VISIT_LATE"


@pytest.mark.slow
async def test_hub_token_takes_the_staff_id_graphql_shows(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    settings: Settings,
    database_url: str,
    provider: uuid.UUID,
) -> None:
    async with unit_of_work(sessions) as session:
        organisation = await session.get(Organisation, provider)
        assert organisation is not None
        await builders.create_staff(session, organisation=organisation)
    coordinator = await as_role(http, identities, Role.COORDINATOR, provider)
    staff = (
        await coordinator.execute("{ staffMembers(first: 1) { nodes { id givenName } } }")
    ).ok()["staffMembers"]["nodes"][0]
    env = hub_env(HUB_DATABASE_URL=database_url, HUB_DATA_DIR=str(settings.data_dir))

    result = run_hub(
        "token", "--role", "carer", "--organisation", "AX123", "--staff", staff["id"], env=env
    )

    assert result.returncode == 0, result.stderr
    carer = GraphQLClient(http, token=result.stdout.strip())
    me = (await carer.execute("{ staffMembers { nodes { id givenName } } }")).ok()
    assert me["staffMembers"]["nodes"] == [staff]


def test_hub_token_refuses_an_id_that_is_not_a_staff_members(tmp_path: Path) -> None:
    visit = encode_global_id("Visit", uuid.uuid4())
    result = run_hub(
        "token", "--role", "carer", "--staff", visit, env=hub_env(HUB_DATA_DIR=str(tmp_path))
    )
    assert result.returncode == 2
    assert "--staff must be a staff member's id as GraphQL shows it" in result.stderr
    assert "Traceback" not in result.stderr
