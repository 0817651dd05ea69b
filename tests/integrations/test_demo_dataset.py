"""`hub supplier-demo-records`: the demo provider's rota as the reference server's dataset, and
what polling it does — carers and visits link to the hub's own, new calls and check-ins arrive.
This is the README's supplier walk-through, end to end over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.supplier_rest.reference_server import create_app, load_records
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.integrations import service
from hub.integrations.demo import supplier_dataset
from hub.integrations.models import ConnectorKind
from hub.kit.time import FixedClock
from hub.organisations.models import OrganisationKind
from hub.staff.competency import CompetencyStatus
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from hub.visits.models import Visit
from tests import builders
from tests.connectors.servers import ServerThread
from tests.integrations.conftest import Poller


@pytest.fixture
def dataset_server() -> Iterator[list[ServerThread]]:
    servers: list[ServerThread] = []
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


async def test_the_demo_rota_flows_into_the_graph(
    sessions: SessionFactory,
    clock: FixedClock,
    poll: Poller,
    dataset_server: list[ServerThread],
    tmp_path: Path,
) -> None:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session, kind=OrganisationKind.PROVIDER)
        contract = await builders.create_contract(session, provider=provider)
        package = await builders.create_package(session, contract=contract, reference="NV-PKG-0001")
        carer = await builders.create_staff(
            session,
            organisation=provider,
            external_source="careroster",
            external_id="RS-0001",
            competencies={"medication": CompetencyStatus.EVIDENCED},
            expires_on=date(2027, 1, 10),
        )
        morning = await builders.create_visit(
            session,
            package=package,
            carers=(carer,),
            planned_start=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
        )
        await builders.create_visit(
            session,
            package=package,
            carers=(carer,),
            planned_start=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        )
    async with read_only(sessions) as session:
        dataset = await supplier_dataset(
            session, organisation_id=provider.id, staff_source="careroster", clock=clock
        )
    assert [len(dataset[feed]) for feed in ("staff", "packages", "visits", "visit_events")] == [
        1,
        1,
        3,  # two the hub has, one late welfare check it has not
        2,  # the 07:00 visit's check-in and check-out; the 12:00 one has not started
    ]
    path = tmp_path / "careroster.json"
    path.write_text(json.dumps(dataset))
    server = ServerThread(create_app(records=load_records(path)))
    server.start()
    dataset_server.append(server)

    async with unit_of_work(sessions) as session:
        instance = await service.register_instance(
            session,
            AccessScope.system(),
            organisation_id=provider.id,
            kind=ConnectorKind.SUPPLIER_REST,
            name="careroster",
            base_url=server.url,
            webhook_secrets_env=None,
            credentials_env="CONNECTOR_ACME_ROSTER_TOKEN",
            poll_interval_seconds=60,
            enabled=True,
            actor="test",
            clock=clock,
        )
    report = await poll(instance_id=instance.id)
    assert report.error is None
    assert report.rejected == 0
    assert report.outcomes["linked"] == 1 + 1 + 2  # carer, package, the two visits
    assert report.outcomes["created"] == 1 + 2  # the welfare check, check-in and check-out
    async with sessions() as session:
        staff = (
            await session.scalars(
                select(StaffMember).where(StaffMember.organisation_id == provider.id)
            )
        ).all()
        assert [member.id for member in staff] == [carer.id]  # linked, not duplicated
        visits = (await session.scalars(select(Visit).where(Visit.package_id == package.id))).all()
        assert len(visits) == 3
        checked = next(visit for visit in visits if visit.id == morning.id)
        assert checked.checked_in_at == datetime(2026, 11, 23, 7, 4, tzinfo=UTC)
        assert checked.checked_out_at == datetime(2026, 11, 23, 7, 30, tzinfo=UTC)


def test_a_dataset_file_must_name_ids_and_times_with_offsets(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"visits": [{"id": "V1", "updated_at": "2026-11-23T09:00:00"}]}))
    with pytest.raises(SystemExit, match=r"visits\[0\]\.updated_at needs an offset"):
        load_records(path)
    path.write_text(json.dumps({"staff": [{"updated_at": "2026-11-23T09:00:00Z"}]}))
    with pytest.raises(SystemExit, match=r"staff\[0\] has no string id"):
        load_records(path)
    path.write_text(json.dumps({"staff": []}))
    assert load_records(path)["visits"] == []
