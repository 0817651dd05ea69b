"""Parse a local-authority brokerage export (CSV or JSON) into package changes and a report.

A bad row never stops the import: valid rows are mapped to `CommissionedPackageChange`
records, invalid rows are kept whole (every cell exactly as given) with one `RowProblem` per
problem — row number, column, problem, raw value — so the council can correct them and send
them again (`rejected_rows_csv` writes them back out). Only a file that cannot be read at all
is refused, with an `ExportError` saying why.

Re-import. Every row gets a content hash computed from its trimmed values for the known
columns (ignoring line endings, a byte-order mark, surrounding whitespace, column order, extra
columns, and whether it came as CSV or JSON); the file hash is the hash of its row hashes in
order. Importing the same export twice gives the same hashes, which is how the hub recognises it
and changes nothing; a corrected row gets a new hash and is applied.

Row numbers are what a spreadsheet shows: in a CSV the header is row 1 and blank lines still
count; in JSON the first element of the list is row 1.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from connectors.la_portal import columns as cols
from connectors.la_portal.columns import ProblemCode, ValueProblem
from connectors.la_portal.decoding import decode_export
from connectors.la_portal.errors import ExportStructureError, ExportTooLarge
from connectors.records.portal import CommissionedPackageChange, ExportRowRef, PackageChangeType
from connectors.standards.nhs_number import NhsNumberCheck, NhsNumberStatus, check_nhs_number
from connectors.standards.ods import check_ods_code

ExportFormat = Literal["csv", "json"]

# Brokerage exports are at most a few thousand rows (well under 1 MB); the cap stops a mistaken
# upload (a database dump, a workbook full of images) from being held in memory and parsed.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# Version tag inside every hash: if the canonical form ever changes, old and new hashes differ
# instead of colliding.
_HASH_VERSION = "care-hub/la-portal/v1"
_MAX_SHOWN = 200


class Severity(StrEnum):
    """An ERROR rejects the row; a WARNING is reported but the row is still mapped."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One entry of the validation report. `column` is the canonical column name (None for a
    problem with the row as a whole); `raw_value` is the cell exactly as given."""

    row_number: int
    column: str | None
    problem: str
    raw_value: str | None
    code: ProblemCode
    severity: Severity = Severity.ERROR


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that could not be mapped, kept whole: `raw` maps each header as given (or JSON
    key) to the cell exactly as given, in the file's column order."""

    row_number: int
    row_hash: str
    raw: Mapping[str, str]
    problems: tuple[RowProblem, ...]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Everything one export produced. `report` lists every problem (errors and warnings) in
    row order; `accepted` rows with warnings are in `report` too."""

    format: ExportFormat
    file_hash: str
    row_count: int
    columns: tuple[str, ...]
    ignored_columns: tuple[str, ...]
    accepted: tuple[CommissionedPackageChange, ...]
    rejected: tuple[RejectedRow, ...]
    report: tuple[RowProblem, ...]

    @property
    def errors(self) -> tuple[RowProblem, ...]:
        return tuple(item for item in self.report if item.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[RowProblem, ...]:
        return tuple(item for item in self.report if item.severity is Severity.WARNING)


def parse_export(
    raw: bytes, *, format: ExportFormat, max_bytes: int = DEFAULT_MAX_BYTES
) -> ImportResult:
    """Parse one export file. Raises `ExportError` (too large, not UTF-8, unreadable
    structure) only when no row can be read; row problems go into the result's report."""
    if len(raw) > max_bytes:
        raise ExportTooLarge(len(raw), max_bytes)
    text = decode_export(raw)
    if format == "csv":
        read = _read_csv(text)
    elif format == "json":
        read = _read_json(text)
    else:
        raise ValueError(f"unknown export format {format!r}; expected 'csv' or 'json'")
    rows = read.rows
    hashes = [_row_hash(row) for row in rows]
    file_hash = _digest("file", *hashes)
    accepted: list[CommissionedPackageChange] = []
    rejected: list[RejectedRow] = []
    report: list[RowProblem] = []
    seen: dict[tuple[str, ...], int] = {}
    for row, row_hash in zip(rows, hashes, strict=True):
        parsed = _check_row(row)
        _check_duplicate(row, parsed, seen)
        report.extend(row.problems)
        if any(problem.severity is Severity.ERROR for problem in row.problems):
            rejected.append(
                RejectedRow(row.row_number, row_hash, dict(row.raw), tuple(row.problems))
            )
        else:
            accepted.append(parsed.record(ExportRowRef(file_hash, row.row_number, row_hash)))
    return ImportResult(
        format=format,
        file_hash=file_hash,
        row_count=len(rows),
        columns=read.columns,
        ignored_columns=read.ignored,
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        report=tuple(report),
    )


def rejected_rows_csv(result: ImportResult) -> str:
    """The rejected rows as a CSV to send back for correction: the original columns and cells,
    plus a ``problems`` column. The file imports again as it is (``problems`` is ignored);
    rows left uncorrected keep their hash."""
    headers: list[str] = []
    for row in result.rejected:
        headers.extend(name for name in row.raw if name not in headers)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["row", *headers, "problems"])
    for row in result.rejected:
        problems = "; ".join(
            f"{item.column}: {item.problem}" if item.column else item.problem
            for item in row.problems
        )
        cells = [row.raw.get(name, "") for name in headers]
        writer.writerow([str(row.row_number), *cells, problems])
    return buffer.getvalue()


# -- reading -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    """One data row as read: raw cells, the trimmed text of each known column, and the
    problems found so far."""

    row_number: int
    raw: dict[str, str]
    values: dict[str, str]
    raw_values: dict[str, str]
    extra: tuple[str, ...] = ()
    problems: list[RowProblem] = field(default_factory=list)

    def problem(
        self,
        column: str | None,
        code: ProblemCode,
        problem: str,
        severity: Severity = Severity.ERROR,
        *,
        raw_value: str | None = None,
    ) -> None:
        if column is not None:
            raw_value = self.raw_values.get(column)
        self.problems.append(
            RowProblem(self.row_number, column, problem, raw_value, code, severity)
        )


@dataclass(frozen=True, slots=True)
class _Read:
    rows: list[_Row]
    columns: tuple[str, ...]
    ignored: tuple[str, ...]


def _read_csv(text: str) -> _Read:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    keys: list[str] = []
    rows: list[_Row] = []
    # The physical line the current record starts on: a broken quote makes the reader run on
    # to the end of the file, and the line where the bad value begins is the useful one.
    record_start = 1
    try:
        for number, cells in enumerate(reader, start=1):
            record_start = reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or a row of empty cells left by a spreadsheet
            if header is None:
                header, keys = _read_header(cells)
                continue
            rows.append(_csv_row(number, header, keys, cells))
    except csv.Error as error:
        raise ExportStructureError(
            f"line {record_start}: the CSV cannot be read ({error}); check that line for a "
            "value with an unmatched double quote"
        ) from None
    if header is None:
        raise ExportStructureError("the export is empty: there is no header row")
    known = tuple(key for key in keys if key in cols.COLUMN_NAMES)
    ignored = tuple(name for name, key in zip(header, keys, strict=True) if key not in known)
    return _Read(rows, known, ignored)


def _read_header(cells: list[str]) -> tuple[list[str], list[str]]:
    while cells and not cells[-1].strip():
        cells = cells[:-1]  # spreadsheets leave empty cells after the last column
    keys = [cols.column_key(cell) for cell in cells]
    for position, key in enumerate(keys, start=1):
        if not key:
            raise ExportStructureError(f"column {position} of the header row has no name")
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise ExportStructureError(f"the header names these columns twice: {', '.join(duplicated)}")
    missing = [name for name in cols.ALWAYS_REQUIRED if name not in keys]
    if missing:
        hint = ""
        if len(cells) == 1 and (";" in cells[0] or "\t" in cells[0]):
            separator = "';'" if ";" in cells[0] else "a tab"
            hint = f" (the file seems to use {separator} between values; use commas)"
        raise ExportStructureError(
            f"the header has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}"
            f"{hint}; expected columns: {', '.join(cols.COLUMN_NAMES)}"
        )
    return cells, keys


def _csv_row(number: int, header: list[str], keys: list[str], cells: list[str]) -> _Row:
    width = len(header)
    raw = {name: cells[index] if index < len(cells) else "" for index, name in enumerate(header)}
    extra = tuple(cells[width:])
    for position, cell in enumerate(extra, start=1):
        raw[f"(extra cell {position})"] = cell
    values: dict[str, str] = {}
    raw_values: dict[str, str] = {}
    for index, key in enumerate(keys):
        if key in cols.COLUMN_NAMES:
            cell = cells[index] if index < len(cells) else ""
            raw_values[key] = cell
            values[key] = _clean(cell)
    row = _Row(number, raw, values, raw_values, tuple(_clean(cell) for cell in extra))
    if len(cells) < width or any(cell.strip() for cell in extra):
        row.problem(
            None,
            ProblemCode.WRONG_CELL_COUNT,
            f"the row has {len(cells)} cells but the header has {width}; a value may contain an "
            "unquoted comma",
        )
    return row


def _read_json(text: str) -> _Read:
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise ExportStructureError(
            f"the JSON cannot be read: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except ValueError as error:
        raise ExportStructureError(f"the JSON cannot be read: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        items: list[Any] = data["rows"]
    elif isinstance(data, list):
        items = data
    else:
        raise ExportStructureError(
            "a JSON export is a list of row objects, or an object with a 'rows' list"
        )
    rows: list[_Row] = []
    seen_keys: list[str] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            shown = _shorten(json.dumps(item, ensure_ascii=False))
            row = _Row(number, {"(row)": shown}, {}, {})
            row.problem(None, ProblemCode.NOT_A_ROW, "a row must be a JSON object", raw_value=shown)
            rows.append(row)
            continue
        seen_keys.extend(str(key) for key in item if str(key) not in seen_keys)
        rows.append(_json_row(number, item))
    known = tuple(
        dict.fromkeys(key for key in map(cols.column_key, seen_keys) if key in cols.COLUMN_NAMES)
    )
    ignored = tuple(key for key in seen_keys if cols.column_key(key) not in cols.COLUMN_NAMES)
    return _Read(rows, known, ignored)


def _json_row(number: int, item: Mapping[Any, Any]) -> _Row:
    row = _Row(number, {}, {}, {})
    nested: list[str] = []
    for key, value in item.items():
        name = str(key)
        text = _json_text(value)
        row.raw[name] = text
        canonical = cols.column_key(name)
        if canonical not in cols.COLUMN_NAMES:
            continue
        if canonical in row.values:
            row.problem(canonical, ProblemCode.DUPLICATE, f"the column is given twice ({name!r})")
            continue
        row.raw_values[canonical] = text
        row.values[canonical] = _clean(text)
        if isinstance(value, dict | list):
            nested.append(canonical)
    for canonical in nested:
        row.problem(
            canonical, ProblemCode.NOT_A_VALUE, "expected a single value, not a list or object"
        )
    return row


def _json_text(value: object) -> str:
    """A JSON value as the text a CSV cell would hold: strings as they are, null as empty,
    numbers and booleans as JSON writes them, lists and objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a valid JSON number")


def _clean(cell: str) -> str:
    # Line endings inside a quoted cell follow the file's, so they are normalised for hashing.
    return cell.replace("\r\n", "\n").replace("\r", "\n").strip()


# -- checking ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Parsed:
    """The values of one row that could be read; `record` builds the canonical record once
    the row is known to have no errors."""

    package_reference: str | None = None
    change_type: PackageChangeType | None = None
    effective_date: date | None = None
    nhs_number: NhsNumberCheck | None = None
    family_name: str | None = None
    given_name: str | None = None
    date_of_birth: date | None = None
    service_type: str | None = None
    start_date: date | None = None
    weekly_hours: Decimal | None = None
    visits_per_day: int | None = None
    time_critical: bool | None = None
    double_handed: bool | None = None
    provider_ods: str | None = None

    def record(self, source: ExportRowRef) -> CommissionedPackageChange:
        if (
            self.package_reference is None
            or self.change_type is None
            or self.effective_date is None
            or self.nhs_number is None
            or self.nhs_number.normalised is None
        ):
            raise AssertionError("record() called for a row with errors")
        return CommissionedPackageChange(
            package_reference=self.package_reference,
            change_type=self.change_type,
            effective_date=self.effective_date,
            nhs_number=self.nhs_number.normalised,
            nhs_number_check=self.nhs_number,
            family_name=self.family_name,
            given_name=self.given_name,
            birth_date=self.date_of_birth,
            service_type=self.service_type,
            start_date=self.start_date,
            weekly_hours=self.weekly_hours,
            visits_per_day=self.visits_per_day,
            time_critical=self.time_critical,
            double_handed=self.double_handed,
            provider_ods=self.provider_ods,
            source=source,
        )


_READERS: dict[str, Callable[[str], object]] = {
    "package_reference": cols.read_reference,
    "change_type": cols.read_change_type,
    "effective_date": cols.read_date,
    "family_name": cols.read_text,
    "given_name": cols.read_text,
    "date_of_birth": cols.read_date,
    "service_type": cols.read_text,
    "start_date": cols.read_date,
    "weekly_hours": cols.read_weekly_hours,
    "visits_per_day": cols.read_visits_per_day,
    "time_critical": cols.read_flag,
    "double_handed": cols.read_flag,
}


def _check_row(row: _Row) -> _Parsed:
    parsed = _Parsed()
    unreadable = (ProblemCode.NOT_A_ROW, ProblemCode.WRONG_CELL_COUNT)
    if any(problem.code in unreadable for problem in row.problems):
        # With cells out of line, every column after the fault would be misreported; the one
        # problem that matters is the row's shape.
        return parsed
    values = row.values
    change_type: PackageChangeType | None = None
    if values.get("change_type"):
        try:
            change_type = cols.read_change_type(values["change_type"])
        except ValueProblem:
            change_type = None  # reported below with the other columns
    for column in cols.COLUMNS:
        name = column.name
        text = values.get(name, "")
        if not text:
            if change_type is not None and change_type in column.required_for:
                row.problem(name, ProblemCode.REQUIRED, f"required for a '{change_type}' row")
            elif change_type is None and name in cols.ALWAYS_REQUIRED:
                row.problem(name, ProblemCode.REQUIRED, "required")
            continue
        if any(problem.column == name for problem in row.problems):
            continue  # already reported while reading (a nested JSON value, a duplicate key)
        if name == "nhs_number":
            parsed.nhs_number = _check_nhs_number(row, text)
        elif name == "provider_ods":
            parsed.provider_ods = _check_ods(row, text)
        else:
            try:
                setattr(parsed, name, _READERS[name](text))
            except ValueProblem as problem:
                row.problem(name, problem.code, problem.problem)
    _check_consistency(row, parsed)
    return parsed


def _check_nhs_number(row: _Row, text: str) -> NhsNumberCheck | None:
    check = check_nhs_number(text)
    if check.status is NhsNumberStatus.MALFORMED:
        row.problem("nhs_number", ProblemCode.NHS_NUMBER_MALFORMED, check.reason)
        return None
    if check.status is NhsNumberStatus.FAILED_CHECK:
        row.problem(
            "nhs_number",
            ProblemCode.NHS_NUMBER_CHECK_FAILED,
            f"fails the NHS number check ({check.reason}); imported and flagged for verification",
            Severity.WARNING,
        )
    return check


def _check_ods(row: _Row, text: str) -> str | None:
    check = check_ods_code(text)
    if not check.is_valid:
        row.problem("provider_ods", ProblemCode.ODS_CODE_INVALID, check.reason)
        return None
    return text


def _check_consistency(row: _Row, parsed: _Parsed) -> None:
    born = parsed.date_of_birth
    if born is not None:
        if born < cols.EARLIEST_BIRTH_DATE:
            row.problem(
                "date_of_birth",
                ProblemCode.OUT_OF_RANGE,
                f"before {cols.EARLIEST_BIRTH_DATE:%d/%m/%Y}",
            )
        elif parsed.effective_date is not None and born > parsed.effective_date:
            row.problem("date_of_birth", ProblemCode.INCONSISTENT, "after the row's effective date")
    if parsed.change_type is PackageChangeType.CHANGE and not any(
        row.values.get(name) for name in cols.CHANGEABLE
    ):
        row.problem(
            None,
            ProblemCode.NOTHING_CHANGED,
            f"a 'change' row must give at least one new value ({', '.join(cols.CHANGEABLE)})",
        )


def _check_duplicate(row: _Row, parsed: _Parsed, seen: dict[tuple[str, ...], int]) -> None:
    """Two rows for the same event on the same package: the later one is refused. A package
    can be new only once, so two 'new' rows clash whatever their dates."""
    if parsed.package_reference is None or parsed.change_type is None:
        return
    if parsed.change_type is PackageChangeType.NEW:
        key: tuple[str, ...] = (parsed.package_reference, "new")
    elif parsed.effective_date is not None:
        key = (parsed.package_reference, parsed.change_type, parsed.effective_date.isoformat())
    else:
        return
    earlier = seen.get(key)
    if earlier is None:
        seen[key] = row.row_number
        return
    what = "a 'new' row" if parsed.change_type is PackageChangeType.NEW else "the same change"
    row.problem(
        "package_reference",
        ProblemCode.DUPLICATE,
        f"row {earlier} already has {what} for package {parsed.package_reference}",
    )


# -- hashing -----------------------------------------------------------------------------


def _row_hash(row: _Row) -> str:
    if any(problem.code is ProblemCode.NOT_A_ROW for problem in row.problems):
        return _digest("not-a-row", *row.raw.values())
    canonical = {name: row.values.get(name, "") for name in cols.COLUMN_NAMES}
    body = json.dumps(
        {"values": canonical, "extra": [cell for cell in row.extra if cell]},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return _digest("row", body)


def _digest(kind: str, *parts: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{_HASH_VERSION}/{kind}".encode())
    for part in parts:
        # Length-prefixed, so ("ab", "c") and ("a", "bc") cannot collide.
        encoded = part.encode()
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"
