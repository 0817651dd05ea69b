"""Long files: applied a chunk per transaction with progress on the batch, resumable after an
interruption, handed to the worker when too big for a request, and imported from the command
line with progress lines."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from arq.jobs import Job, JobStatus
from sqlalchemy import func, select
from starlette.applications import Starlette

from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.events.models import Event
from hub.graphql.ids import decode_global_id
from hub.kit.time import FixedClock
from hub.la_imports import service, tasks
from hub.la_imports.models import BatchStatus, ImportFormat, PortalImportBatch
from hub.tenancy import AccessScope
from tests.la_imports.conftest import FILES, World, domain_counts, file_bytes
from tests.support.processes import hub_env, run_hub

HEADER = (
    "Package Reference,Change Type,Effective Date,NHS Number,Family Name,Given Name,"
    "Date of Birth,Service Type,Start Date,Weekly Hours,Visits per Day,Time Critical,"
    "Double Handed,Provider ODS"
)


def _long_file(rows: int) -> bytes:
    """`rows` rows: the first two valid, the rest refused by the file check (a date that does
    not exist), which keeps the test fast while every row still goes through the batch."""
    lines = [
        HEADER,
        "NV-PKG-101,new,01/12/2026,9990000018,Hartley,Margaret,14/03/1938,Homecare,01/12/2026,"
        "10,4,Y,N,AB1C2",
        "NV-PKG-102,new,01/12/2026,9990000026,Begum,Rashida,02/11/1941,Homecare,01/12/2026,"
        "14,4,N,N,AB1C2",
    ]
    lines += [f"NV-PKG-{n:04d},end,31/02/2026,9990000034" for n in range(1000, 1000 + rows - 2)]
    return ("\r\n".join(lines) + "\r\n").encode()


async def _batch(sessions: SessionFactory, batch_id: uuid.UUID) -> PortalImportBatch:
    async with read_only(sessions) as session:
        batch = await session.get(PortalImportBatch, batch_id)
    assert batch is not None
    return batch


async def test_a_file_too_long_for_a_request_is_applied_by_the_worker(
    world: World, sessions: SessionFactory, clock: FixedClock, app: Starlette
) -> None:
    rows = service.INLINE_ROW_LIMIT + 1
    returned = await world.import_file("long.csv", content=_long_file(rows))

    assert (returned["status"], returned["totalRows"], returned["processedRows"]) == (
        "PROCESSING",
        rows,
        0,
    )
    _, batch_id = decode_global_id(returned["id"])
    job = Job(tasks.job_id(batch_id), app.state.runtime.redis)
    assert await job.status() is JobStatus.queued

    result = await tasks.process_batch({"sessions": sessions, "clock": clock}, str(batch_id))

    assert result == {
        "batch_id": str(batch_id),
        "status": "completed",
        "processed": rows,
        "total": rows,
    }
    batch = await _batch(sessions, batch_id)
    assert (batch.applied_rows, batch.invalid_rows, batch.processed_rows) == (2, rows - 2, rows)
    # A second run of the job (arq retries) finds nothing left to do.
    again = await tasks.process_batch({"sessions": sessions, "clock": clock}, str(batch_id))
    assert again["processed"] == rows
    assert (await domain_counts(sessions))["packages"] == 2


async def test_rows_are_applied_a_chunk_at_a_time_with_progress(
    world: World, sessions: SessionFactory, clock: FixedClock
) -> None:
    seen: list[tuple[int, int, int, int]] = []

    progress = await service.import_file(
        sessions,
        scope=AccessScope.system(),
        actor="test",
        clock=clock,
        contract_id=world.contract,
        format=ImportFormat.CSV,
        filename="brokerage_mixed.csv",
        content=file_bytes("brokerage_mixed.csv"),
        chunk_size=3,
        on_progress=lambda p: seen.append((p.processed, p.applied, p.invalid, p.total)),
    )

    assert progress.status is BatchStatus.COMPLETED
    assert seen == [(3, 2, 1, 7), (6, 4, 2, 7), (7, 4, 3, 7)]


async def test_an_interrupted_import_resumes_where_it_stopped_from_the_archive(
    world: World, sessions: SessionFactory, clock: FixedClock
) -> None:
    started = await service.start_import(
        sessions,
        scope=AccessScope.system(),
        actor="test",
        clock=clock,
        contract_id=world.contract,
        format=ImportFormat.CSV,
        filename="brokerage_mixed.csv",
        content=file_bytes("brokerage_mixed.csv"),
    )

    class Stop(Exception):
        pass

    def stop(_: service.Progress) -> None:
        raise Stop

    with pytest.raises(Stop):
        await service.process(
            sessions,
            batch_id=started.batch.id,
            clock=clock,
            chunk_size=4,
            parsed=started.parsed,
            on_progress=stop,
        )
    halfway = await _batch(sessions, started.batch.id)
    resumed = await service.process(sessions, batch_id=started.batch.id, clock=clock)

    assert (halfway.status, halfway.processed_rows) == (BatchStatus.PROCESSING, 4)
    assert (resumed.status, resumed.processed, resumed.applied, resumed.invalid) == (
        BatchStatus.COMPLETED,
        7,
        4,
        3,
    )
    async with read_only(sessions) as session:
        commissions = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.type == "portal.commission_recorded")
        )
    assert commissions == 4  # no row applied twice


@pytest.mark.slow
async def test_the_command_line_imports_with_progress_and_a_report(
    world: World, database_url: str, tmp_path: Path
) -> None:
    env = hub_env(HUB_DATABASE_URL=database_url, HUB_DATA_DIR=str(tmp_path / "hub"))
    path = str(FILES / "brokerage_mixed.csv")

    first = await asyncio.to_thread(
        run_hub, "import-portal", path, "--contract", "NV-HC-2026", "--chunk-size", "4", env=env
    )
    second = await asyncio.to_thread(
        run_hub, "import-portal", path, "--contract", "NV-HC-2026", env=env
    )
    unknown = await asyncio.to_thread(run_hub, "import-portal", path, "--contract", "NOPE", env=env)

    assert first.returncode == 5, first.stderr
    assert "4/7 rows: 3 applied, 0 unchanged, 1 invalid" in first.stderr
    assert "7/7 rows: 4 applied, 0 unchanged, 3 invalid" in first.stderr
    assert "row 4, effective_date: not a real calendar date" in first.stderr
    assert "row 8, provider_ods: XY999 is not the provider on contract NV-HC-2026" in first.stderr
    assert "7 rows, 4 applied, 0 unchanged, 3 invalid, 1 with warnings" in first.stdout
    # The row with warnings is named, as the invalid ones are, once per warning.
    warnings = [line for line in first.stderr.splitlines() if ": warning: " in line]
    assert [line.split(": warning: ")[0] for line in warnings] == [
        "  row 5, nhs_number",
        "  row 5, service_type",
    ], first.stderr
    assert second.returncode == 5
    assert "7 rows, 0 applied, 4 unchanged, 3 invalid" in second.stdout
    assert unknown.returncode == 2
    assert "no contract 'NOPE'" in unknown.stderr
