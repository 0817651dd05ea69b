"""Importing brokerage exports over GraphQL: valid rows applied through the packages and people
services, invalid rows kept with an exact row-level report, identical re-imports changing
nothing, corrected rows superseding the invalid ones they replace."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.events.models import Event
from hub.integrations.models import InboundPayload, InboundStatus
from hub.la_imports.models import PortalImportRow, RowStatus
from hub.packages.lifecycle import PackageStatus
from hub.packages.models import CarePackage
from hub.packages.triage import Rag
from hub.people.models import NhsNumberStatus, Person
from tests.la_imports.conftest import World, domain_counts, file_bytes

# (row, column, code, severity) of every problem brokerage_mixed.csv has, in report order.
MIXED_REPORT = [
    (4, "effective_date", "invalid_date", "error"),
    (4, "weekly_hours", "invalid_number", "error"),
    (4, "visits_per_day", "out_of_range", "error"),
    (4, "time_critical", "invalid_code", "error"),
    (5, "nhs_number", "nhs_number_check_failed", "warning"),
    (5, "service_type", "invalid_code", "warning"),
    (7, "package_reference", "package_unknown", "error"),
    (8, "provider_ods", "provider_not_on_contract", "error"),
]


def report(rows: list[dict[str, Any]]) -> list[tuple[int, str | None, str, str]]:
    return [
        (row["rowNumber"], problem["column"], problem["code"], problem["severity"])
        for row in rows
        for problem in row["problems"]
    ]


async def packages_by_reference(sessions: SessionFactory) -> dict[str, CarePackage]:
    async with read_only(sessions) as session:
        rows = await session.scalars(select(CarePackage))
        return {row.reference: row for row in rows}


async def test_a_mixed_csv_applies_valid_rows_and_reports_the_rest_exactly(
    world: World, sessions: SessionFactory
) -> None:
    batch = await world.import_file("brokerage_mixed.csv")

    assert batch["__typename"] == "PortalImport"
    assert {key: batch[key] for key in ("status", "totalRows", "processedRows")} == {
        "status": "COMPLETED",
        "totalRows": 7,
        "processedRows": 7,
    }
    assert (batch["appliedRows"], batch["unchangedRows"], batch["invalidRows"]) == (4, 0, 3)
    assert batch["warningRows"] == 1
    assert batch["ignoredColumns"] == ["Notes"]
    problems = await world.rows(batch["id"], with_problems=True)
    assert report(problems) == MIXED_REPORT
    by_row = {row["rowNumber"]: row for row in problems}
    assert by_row[7]["problems"][0]["problem"] == (
        "no package NV-PKG-009 on contract NV-HC-2026; its 'new' row must be imported first"
    )
    assert by_row[8]["problems"][0]["problem"] == (
        "XY999 is not the provider on contract NV-HC-2026 (its ODS code is AB1C2); import "
        "this row under the contract with that provider"
    )
    assert by_row[8]["problems"][0]["rawValue"] == "XY999"
    invalid = await world.rows(batch["id"], status=["INVALID"])
    assert [row["rowNumber"] for row in invalid] == [4, 7, 8]
    # A row the file check refused keeps every cell exactly as given, in the file's order.
    assert invalid[0]["cells"][:4] == [
        {"column": "Package Reference", "value": "NV-PKG-003"},
        {"column": "Change Type", "value": "new"},
        {"column": "Effective Date", "value": "31/02/2026"},
        {"column": "NHS Number", "value": "9990000034"},
    ]
    assert invalid[0]["packageReference"] == "NV-PKG-003"
    assert invalid[0]["effectiveDate"] is None


async def test_applied_rows_become_packages_people_and_commission_events(
    world: World, sessions: SessionFactory
) -> None:
    await world.import_file("brokerage_mixed.csv")

    packages = await packages_by_reference(sessions)
    assert sorted(packages) == ["NV-PKG-001", "NV-PKG-002", "NV-PKG-004"]
    first = packages["NV-PKG-001"]
    assert (first.contract_id, first.provider_id, first.status, first.starts_on) == (
        world.contract,
        world.provider,
        PackageStatus.REFERRED,
        date(2026, 12, 1),
    )
    # No address comes with a brokerage export: the gap is recorded, never invented.
    assert first.information_gaps == ["access_details"]
    assert first.rag is Rag.AMBER
    async with read_only(sessions) as session:
        person = await session.get(Person, first.person_id)
        flagged = await session.get(Person, packages["NV-PKG-004"].person_id)
        commissions = list(
            await session.scalars(
                select(Event).where(Event.type == "portal.commission_recorded").order_by(Event.id)
            )
        )
    assert person is not None
    assert flagged is not None
    assert (person.nhs_number, person.nhs_number_status, person.postcode) == (
        "9990000018",
        NhsNumberStatus.UNVERIFIED,
        "ZZ99 3WZ",
    )
    assert (person.nhs_number_source, person.given_name) == ("la-portal:NV-HC-2026", "Margaret")
    assert flagged.nhs_number_status is NhsNumberStatus.FAILED_CHECK
    assert [(event.payload["rowNumber"], event.payload["changeType"]) for event in commissions] == [
        (2, "new"),
        (3, "new"),
        (5, "new"),
        (6, "change"),
    ]
    change = commissions[3]
    assert change.subject_id == first.id
    assert change.contract_id == world.contract
    assert change.payload["terms"]["weeklyHours"] == "12.75"
    assert commissions[0].payload["terms"] == {
        "serviceType": "Homecare",
        "startDate": "2026-12-01",
        "weeklyHours": "10.5",
        "visitsPerDay": 4,
        "timeCritical": True,
        "doubleHanded": False,
        "providerOds": "AB1C2",
    }


async def test_the_file_is_archived_exactly_as_received(
    world: World, sessions: SessionFactory
) -> None:
    await world.import_file("brokerage_mixed.csv")

    async with read_only(sessions) as session:
        [kept] = list(await session.scalars(select(InboundPayload)))
    assert bytes(kept.body) == file_bytes("brokerage_mixed.csv")
    assert (kept.connector, kept.channel.value, kept.status) == (
        "la_portal",
        "upload",
        InboundStatus.APPLIED,
    )
    assert kept.outcome is not None
    assert (kept.outcome["applied"], kept.outcome["invalid"]) == (4, 3)


async def test_importing_the_same_file_again_changes_nothing(
    world: World, sessions: SessionFactory
) -> None:
    first = await world.import_file("brokerage_mixed.csv")
    before = await domain_counts(sessions)

    second = await world.import_file("brokerage_mixed.csv")

    assert await domain_counts(sessions) == before
    assert (second["appliedRows"], second["unchangedRows"], second["invalidRows"]) == (0, 4, 3)
    assert second["fileHash"] == first["fileHash"]
    # The same report: the file still has the same problems.
    assert report(await world.rows(second["id"], with_problems=True)) == MIXED_REPORT
    unchanged = await world.rows(second["id"], status=["UNCHANGED"])
    originals = {row["rowNumber"]: row["id"] for row in await world.rows(first["id"])}
    assert [(row["rowNumber"], row["appliedRowId"]) for row in unchanged] == [
        (number, originals[number]) for number in (2, 3, 5, 6)
    ]
    # The first import's invalid rows now point at the second's: one open row per problem.
    superseded = await world.rows(first["id"], status=["SUPERSEDED"])
    current = {row["rowNumber"]: row["id"] for row in await world.rows(second["id"])}
    assert [(row["rowNumber"], row["supersededById"]) for row in superseded] == [
        (number, current[number]) for number in (4, 7, 8)
    ]
    async with read_only(sessions) as session:
        archived = list(await session.scalars(select(InboundPayload)))
    assert len(archived) == 1  # the same bytes, kept once


async def test_a_corrected_file_applies_the_corrected_rows_and_supersedes_the_invalid_ones(
    world: World, sessions: SessionFactory
) -> None:
    first = await world.import_file("brokerage_mixed.csv")

    corrected = await world.import_file("brokerage_corrected.csv")

    assert (corrected["appliedRows"], corrected["unchangedRows"], corrected["invalidRows"]) == (
        2,
        4,
        1,
    )
    applied = await world.rows(corrected["id"], status=["APPLIED"])
    assert [(row["rowNumber"], row["packageReference"]) for row in applied] == [
        (4, "NV-PKG-003"),
        (8, "NV-PKG-005"),
    ]
    superseded = {
        row["rowNumber"]: row["supersededById"]
        for row in await world.rows(first["id"], status=["SUPERSEDED"])
    }
    by_number = {row["rowNumber"]: row["id"] for row in await world.rows(corrected["id"])}
    assert superseded == {4: by_number[4], 7: by_number[7], 8: by_number[8]}
    assert sorted(await packages_by_reference(sessions)) == [
        "NV-PKG-001",
        "NV-PKG-002",
        "NV-PKG-003",
        "NV-PKG-004",
        "NV-PKG-005",
    ]
    # The old invalid rows are kept as they were, not edited away.
    async with read_only(sessions) as session:
        old = await session.scalar(
            select(PortalImportRow).where(
                PortalImportRow.row_number == 4, PortalImportRow.status == RowStatus.SUPERSEDED
            )
        )
    assert old is not None
    assert [problem["code"] for problem in old.problems] == [
        "invalid_date",
        "invalid_number",
        "out_of_range",
        "invalid_code",
    ]


async def test_the_invalid_rows_csv_imports_again_once_corrected(
    world: World, sessions: SessionFactory
) -> None:
    first = await world.import_file("brokerage_mixed.csv")
    response = await world.commissioner.execute(
        "query($id: ID!) { portalImport(id: $id) { invalidRowsCsv } }", {"id": first["id"]}
    )
    returned = response.ok()["portalImport"]["invalidRowsCsv"]
    lines = returned.splitlines()
    assert lines[0].startswith("row,Package Reference,Change Type,Effective Date,NHS Number")
    assert lines[0].endswith(",problems")
    assert lines[1].startswith("4,NV-PKG-003,new,31/02/2026,9990000034,")
    # Rows the hub refused are written in canonical columns, under the same headers.
    assert [line.split(",")[0] for line in lines[1:]] == ["4", "7", "8"]

    fixed = (
        returned.replace("31/02/2026", "01/12/2026")
        .replace(",abc,30,maybe,", ",7,3,N,")
        .replace("XY999", "AB1C2")
    )
    again = await world.import_file("corrections.csv", content=fixed.encode())

    assert (again["appliedRows"], again["invalidRows"]) == (2, 1)
    assert again["ignoredColumns"] == ["row", "Notes", "problems"]


async def test_a_json_export_is_imported_with_its_own_row_numbers(
    world: World, sessions: SessionFactory
) -> None:
    batch = await world.import_file("brokerage_changes.json")

    assert (batch["appliedRows"], batch["invalidRows"]) == (2, 2)
    assert batch["ignoredColumns"] == ["Broker"]
    assert report(await world.rows(batch["id"], with_problems=True)) == [
        (3, "visits_per_day", "not_a_value", "error"),
        (3, "nhs_number", "nhs_number_malformed", "error"),
        (3, "weekly_hours", "out_of_range", "error"),
        (4, None, "not_a_row", "error"),
    ]
    package = (await packages_by_reference(sessions))["NV-PKG-010"]
    assert package.status is PackageStatus.ENDED  # its 'new' row, then its 'end' row


async def test_a_text_upload_is_archived_as_its_utf8_bytes(
    world: World, sessions: SessionFactory
) -> None:
    text = file_bytes("brokerage_corrected.csv").decode("utf-8")
    response = await world.commissioner.execute(
        """mutation($input: ImportPortalFileInput!) {
             importPortalFile(input: $input) { ... on PortalImport { appliedRows filename } }
           }""",
        {
            "input": {
                "contractId": world.contract_gid,
                "format": "CSV",
                "filename": "C:\\exports\\brokerage.csv",
                "content": text,
            }
        },
    )

    # Every row but the 'end' of a package the hub does not hold.
    assert response.ok()["importPortalFile"] == {"appliedRows": 6, "filename": "brokerage.csv"}
    async with read_only(sessions) as session:
        [kept] = list(await session.scalars(select(InboundPayload)))
    assert bytes(kept.body) == text.encode("utf-8")


async def test_rows_come_a_page_at_a_time(world: World) -> None:
    batch = await world.import_file("brokerage_mixed.csv")
    page = """query($id: ID!, $after: String) {
      portalImport(id: $id) {
        rows(first: 3, after: $after) { nodes { rowNumber } pageInfo { hasNextPage endCursor } }
      }
    }"""

    numbers: list[int] = []
    after = None
    pages = 0
    while True:
        rows = (await world.commissioner.execute(page, {"id": batch["id"], "after": after})).ok()
        connection = rows["portalImport"]["rows"]
        numbers += [node["rowNumber"] for node in connection["nodes"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]

    assert (numbers, pages) == ([2, 3, 4, 5, 6, 7, 8], 3)
