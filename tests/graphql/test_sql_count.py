"""N+1 guard: the number of SQL statements for a representative nested read must not grow with
the list sizes. Counted, not timed (feasibility-and-baseline.md §7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import FixedClock
from hub.organisations.models import OrganisationKind
from hub.staff.competency import CompetencyStatus
from tests import builders
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities
from tests.support.sqlcount import counting_statements

BOARD = """
query Board {
  contracts(first: 10) {
    nodes {
      name
      carePackages(first: 20) {
        reference
        nextVisits(first: 3) {
          plannedStart
          status
          assignedCarers { givenName competencies { competence effectiveStatus } }
        }
      }
    }
  }
}
"""


async def _world(sessions: SessionFactory, clock: FixedClock, contracts: int, packages: int) -> str:
    async with unit_of_work(sessions) as session:
        commissioner = await builders.create_organisation(
            session, kind=OrganisationKind.LOCAL_AUTHORITY
        )
        provider = await builders.create_organisation(session)
        carers = [
            await builders.create_staff(
                session,
                organisation=provider,
                competencies={
                    "medication": CompetencyStatus.EVIDENCED,
                    "safeguarding": CompetencyStatus.REVALIDATED,
                },
            )
            for _ in range(3)
        ]
        for _ in range(contracts):
            contract = await builders.create_contract(
                session, commissioner=commissioner, provider=provider
            )
            for p in range(packages):
                package = await builders.create_package(session, contract=contract)
                for v in range(4):
                    await builders.create_visit(
                        session,
                        package=package,
                        planned_start=clock.now() + timedelta(hours=2 + v * 6),
                        carers=(carers[(p + v) % 3],),
                    )
    return str(commissioner.id)


async def _count(client: GraphQLClient, app: Starlette) -> tuple[int, Any]:
    with counting_statements(app.state.runtime.engine) as log:
        data = (await client.execute(BOARD)).ok()
    return len(log.queries()), data


async def test_statement_count_does_not_grow_with_list_sizes(
    app: Starlette,
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
) -> None:
    client = GraphQLClient(http, token=await identities.token(Role.ADMIN))
    await _world(sessions, clock, contracts=1, packages=2)
    small, small_data = await _count(client, app)

    await _world(sessions, clock, contracts=3, packages=6)
    large, large_data = await _count(client, app)

    def packages(data: Any) -> list[Any]:
        return [p for c in data["contracts"]["nodes"] for p in c["carePackages"]]

    assert (len(packages(small_data)), len(packages(large_data))) == (2, 20)  # then 2 + 3 x 6
    visits = [v for p in packages(large_data) for v in p["nextVisits"]]
    assert len(visits) == 60
    assert all(v["assignedCarers"][0]["competencies"] for v in visits)
    # One statement per level (plus the account lookup), whatever the sizes: measured 6.
    assert large == small
    assert large <= 8
