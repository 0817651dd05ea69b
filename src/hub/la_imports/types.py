"""GraphQL output types of the la_imports domain and their `from_model` mappers."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from connectors.la_portal import COLUMN_NAMES
from connectors.la_portal.columns import column_key
from hub.audit.service import AccessRecorder, nhs_number_of
from hub.contracts.loaders import contract_loader, contract_type
from hub.contracts.types import Contract
from hub.db.uow import read_only
from hub.errors import InvalidInput
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.graphql.pagination import Connection, build_connection, decode_cursor, page_size
from hub.la_imports import repository
from hub.la_imports.models import BatchStatus as BatchStatusValue
from hub.la_imports.models import ImportFormat as FormatValue
from hub.la_imports.models import PortalImportBatch as BatchRow
from hub.la_imports.models import PortalImportRow as RowRow
from hub.la_imports.models import RowStatus as RowStatusValue

PACKAGE_TYPE = "CarePackage"
PERSON_TYPE = "Person"


@strawberry.enum(description="The file format of a brokerage export.")
class PortalImportFormat(Enum):
    CSV = FormatValue.CSV.value
    JSON = FormatValue.JSON.value


@strawberry.enum(description="Where an import is.")
class PortalImportStatus(Enum):
    PROCESSING = strawberry.enum_value(
        BatchStatusValue.PROCESSING.value,
        description="Rows are being applied; `processedRows` of `totalRows` are done.",
    )
    COMPLETED = strawberry.enum_value(
        BatchStatusValue.COMPLETED.value, description="Every row has its status."
    )
    REJECTED = strawberry.enum_value(
        BatchStatusValue.REJECTED.value,
        description="The file could not be read at all (see `errorMessage`); it is kept in the "
        "inbound archive and raised as a data-quality case.",
    )


@strawberry.enum(description="What became of one row of an imported file.")
class PortalImportRowStatus(Enum):
    APPLIED = strawberry.enum_value(RowStatusValue.APPLIED.value, description="Applied now.")
    UNCHANGED = strawberry.enum_value(
        RowStatusValue.UNCHANGED.value,
        description="The same row was applied by an earlier import; nothing was done.",
    )
    INVALID = strawberry.enum_value(
        RowStatusValue.INVALID.value,
        description="Not applied; see `problems`. Correct it and import it again.",
    )
    SUPERSEDED = strawberry.enum_value(
        RowStatusValue.SUPERSEDED.value,
        description="Was invalid; a later import sent it again (`supersededById`).",
    )


@strawberry.type(description="One entry of the validation report: row, column, problem.")
class PortalRowProblem:
    column: str | None = strawberry.field(
        description="The export column (canonical name, e.g. `weekly_hours`); null for a "
        "problem with the whole row."
    )
    problem: str = strawberry.field(description="What is wrong, for the council officer.")
    code: str = strawberry.field(description="Stable code, e.g. `invalid_date`.")
    severity: str = strawberry.field(
        description="`error` (the row was not applied) or `warning` (applied, to be checked)."
    )
    raw_value: str | None = strawberry.field(description="The cell exactly as given.")

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> PortalRowProblem:
        return cls(
            column=value.get("column"),
            problem=str(value.get("problem") or ""),
            code=str(value.get("code") or ""),
            severity=str(value.get("severity") or "error"),
            raw_value=value.get("raw_value"),
        )


@strawberry.type(description="One cell of a row, as the file gave it.")
class PortalCell:
    column: str
    value: str


@strawberry.type(
    description="One row of an imported file: its status, its problems and what it applied. "
    "Its cells and values identify a person: reading them is recorded in the access log."
)
class PortalImportRow:
    id: strawberry.ID
    row_number: int = strawberry.field(
        description="As a spreadsheet shows it (the CSV header is row 1); JSON: 1 = first."
    )
    status: PortalImportRowStatus
    row_hash: str = strawberry.field(description="Content hash; the same row has the same hash.")
    package_reference: str | None
    change_type: str | None = strawberry.field(description="new, change or end, as read.")
    effective_date: date | None
    problems: list[PortalRowProblem]
    cells: list[PortalCell] = strawberry.field(
        description="Every cell as given (invalid rows), for correction and re-import."
    )
    values: JSON = strawberry.field(
        description="The row's values as read (valid rows), keyed by canonical column name."
    )
    package_id: strawberry.ID | None = strawberry.field(
        description="The care package the row applied to (applied and unchanged rows)."
    )
    person_id: strawberry.ID | None
    applied_row_id: strawberry.ID | None = strawberry.field(
        description="For an unchanged row, the earlier row that applied the same content."
    )
    superseded_by_id: strawberry.ID | None = strawberry.field(
        description="For a superseded row, the row that sent it again."
    )

    @classmethod
    def from_model(cls, row: RowRow) -> PortalImportRow:
        return cls(
            id=strawberry.ID(encode_global_id("PortalImportRow", row.id)),
            row_number=row.row_number,
            status=PortalImportRowStatus[row.status.name],
            row_hash=row.row_hash,
            package_reference=row.package_reference,
            change_type=row.change_type,
            effective_date=row.effective_date,
            problems=[PortalRowProblem.from_json(item) for item in row.problems],
            cells=[PortalCell(column=str(cell[0]), value=str(cell[1])) for cell in row.raw],
            values=JSON(dict(row.terms)),
            package_id=_gid(PACKAGE_TYPE, row.package_id),
            person_id=_gid(PERSON_TYPE, row.person_id),
            applied_row_id=_gid("PortalImportRow", row.applied_row_id),
            superseded_by_id=_gid("PortalImportRow", row.superseded_by_id),
        )


@strawberry.type(
    description="One brokerage export imported for one contract: progress, counts and the "
    "row-level report."
)
class PortalImport(Node):
    id: strawberry.ID
    filename: str
    format: PortalImportFormat
    status: PortalImportStatus
    file_hash: str | None = strawberry.field(
        description="Content hash of the file (unchanged by line endings, column order, "
        "CSV or JSON); the same export has the same hash."
    )
    total_rows: int
    processed_rows: int = strawberry.field(description="Rows done so far (progress).")
    applied_rows: int
    unchanged_rows: int
    invalid_rows: int = strawberry.field(description="Rows of this file not applied.")
    warning_rows: int = strawberry.field(description="Rows with a warning (applied or not).")
    ignored_columns: list[str] = strawberry.field(
        description="Columns of the file that are not part of the export contract."
    )
    error_code: str | None = strawberry.field(description="Why the file was rejected.")
    error_message: str | None
    imported_by: str
    started_at: datetime
    completed_at: datetime | None

    db_id: strawberry.Private[uuid.UUID]
    contract_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The contract the export was imported for.")
    async def contract(self, info: Info) -> Contract | None:
        row = await contract_loader(info).load(self.contract_id)
        return contract_type(row) if row is not None else None

    @strawberry.field(
        description="The file's rows in order, a page at a time. `status: [INVALID]` lists the "
        "rows still to correct; `withProblems: true` is the validation report (errors and "
        "warnings). Reading rows is recorded in the access log."
    )
    async def rows(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: Annotated[
            list[PortalImportRowStatus] | None,
            strawberry.argument(description="Only rows in these statuses."),
        ] = None,
        with_problems: Annotated[
            bool, strawberry.argument(description="Only rows with a problem or warning.")
        ] = False,
    ) -> Connection[PortalImportRow]:
        limit = page_size(first)
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_rows(
                session,
                self.db_id,
                limit=limit + 1,
                after_row=_row_cursor(after),
                statuses=[RowStatusValue[s.name] for s in status or ()],
                with_problems=with_problems,
            )
        audit_rows(info.context.audit, "portalImport.rows", rows[:limit])
        return build_connection(
            rows, limit, PortalImportRow.from_model, lambda row: (row.row_number,)
        )

    @strawberry.field(
        description="The invalid rows as a CSV to correct and import again: the original "
        "columns, plus `row` and `problems` columns (which an import ignores). Reading it is "
        "recorded in the access log."
    )
    async def invalid_rows_csv(self, info: Info) -> str:
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_rows(
                session, self.db_id, limit=self.total_rows + 1, statuses=[RowStatusValue.INVALID]
            )
        audit_rows(info.context.audit, "portalImport.invalidRowsCsv", rows)
        return invalid_rows_csv(rows)

    @classmethod
    def from_model(cls, row: BatchRow) -> PortalImport:
        return cls(
            id=strawberry.ID(encode_global_id("PortalImport", row.id)),
            filename=row.filename,
            format=PortalImportFormat(row.format.value),
            status=PortalImportStatus[row.status.name],
            file_hash=row.file_hash,
            total_rows=row.total_rows,
            processed_rows=row.processed_rows,
            applied_rows=row.applied_rows,
            unchanged_rows=row.unchanged_rows,
            invalid_rows=row.invalid_rows,
            warning_rows=row.warning_rows,
            ignored_columns=list(row.ignored_columns),
            error_code=row.error_code,
            error_message=row.error_message,
            imported_by=row.imported_by,
            started_at=row.started_at,
            completed_at=row.completed_at,
            db_id=row.id,
            contract_id=row.contract_id,
        )


def audit_rows(recorder: AccessRecorder, field_name: str, rows: Sequence[RowRow]) -> None:
    """Every row returned is a read of a person's data, linked to a person record or not (an
    invalid row never is): the row, its person if any, and the NHS number it carries."""
    for row in rows:
        numbers = {nhs_number_of(row.terms.get("nhs_number"))}
        numbers.update(
            nhs_number_of(value) for name, value in row.raw if _column(str(name)) == "nhs_number"
        )
        recorder.record_read(
            field_name,
            f"PortalImportRow:{row.id}",
            person_id=row.person_id,
            nhs_numbers=sorted(n for n in numbers if n),
        )


def invalid_rows_csv(rows: Sequence[RowRow]) -> str:
    """Rows' cells as a CSV (the connector's `rejected_rows_csv` layout): `row`, the columns in
    first-seen order, `problems`. It imports again as it is. A known column is written once,
    under the header the council's file first gave it, however each row spelt it."""
    titles: dict[str, str] = {}
    for row in rows:
        for name, _ in row.raw:
            titles.setdefault(_column(str(name)), str(name))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["row", *titles.values(), "problems"])
    for row in rows:
        cells = {_column(str(name)): str(value) for name, value in row.raw}
        problems = "; ".join(
            f"{item.get('column')}: {item.get('problem')}"
            if item.get("column")
            else str(item.get("problem"))
            for item in row.problems
        )
        writer.writerow([str(row.row_number), *(cells.get(key, "") for key in titles), problems])
    return buffer.getvalue()


def _column(name: str) -> str:
    """A known column's canonical name; any other column as it is."""
    key = column_key(name)
    return key if key in COLUMN_NAMES else name


def _row_cursor(after: str | None) -> int | None:
    cursor = decode_cursor(after)
    if cursor is None:
        return None
    if len(cursor) != 1 or not isinstance(cursor[0], int) or isinstance(cursor[0], bool):
        raise InvalidInput("after", "is not a cursor this list gave out", code="INVALID_CURSOR")
    return cursor[0]


def _gid(type_name: str, value: uuid.UUID | None) -> strawberry.ID | None:
    return strawberry.ID(encode_global_id(type_name, value)) if value is not None else None
