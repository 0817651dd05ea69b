"""Local-authority brokerage exports: mapping, the row-level report, hashes, bad files."""

from __future__ import annotations

import codecs
import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import connectors.la_portal
from connectors.la_portal import (
    ExportEncodingError,
    ExportStructureError,
    ExportTooLarge,
    ImportResult,
    ProblemCode,
    Severity,
    parse_export,
    rejected_rows_csv,
)
from connectors.records.portal import PackageChangeType
from connectors.standards import NhsNumberStatus

SAMPLES = Path(connectors.la_portal.__file__).parent / "samples"
HEADER = (
    "package_reference,change_type,effective_date,nhs_number,family_name,given_name,"
    "date_of_birth,service_type,start_date,weekly_hours,visits_per_day,time_critical,"
    "double_handed,provider_ods"
)
NEW_ROW = (
    "PKG-1,new,01/04/2025,9434765919,Hartley,Margaret,14/03/1938,Homecare,01/04/2025,10.5,4,Y,N,"
    "AB1C2"
)
END_ROW = "PKG-2,end,30/04/2025,9912003888,,,,,,,,,,"


def csv_bytes(*rows: str, newline: str = "\r\n") -> bytes:
    return (newline.join([HEADER, *rows]) + newline).encode()


def report(result: ImportResult) -> list[tuple[int, str | None, ProblemCode, str | None]]:
    return [(item.row_number, item.column, item.code, item.raw_value) for item in result.report]


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


# -- the CSV sample ------------------------------------------------------------------------


def test_csv_sample_maps_valid_rows_and_reports_each_bad_cell() -> None:
    result = parse_export(sample("brokerage_export.csv"), format="csv")

    assert result.row_count == 8
    assert result.ignored_columns == ("Notes",)
    assert [(record.source.row_number, record.package_reference) for record in result.accepted] == [
        (2, "LCC-PKG-20250401-001"),
        (3, "LCC-PKG-20250401-002"),
        (5, "LCC-PKG-20250301-017"),  # row 4 is a blank line: it still counts
        (6, "LCC-PKG-20250301-018"),
        (9, "LCC-PKG-20250401-005"),
    ]
    assert report(result) == [
        (7, "effective_date", ProblemCode.INVALID_DATE, "31/02/2025"),
        (7, "nhs_number", ProblemCode.NHS_NUMBER_CHECK_FAILED, "4123456879"),
        (7, "weekly_hours", ProblemCode.INVALID_NUMBER, "abc"),
        (7, "visits_per_day", ProblemCode.OUT_OF_RANGE, "30"),
        (7, "time_critical", ProblemCode.INVALID_CODE, "maybe"),
        (7, "provider_ods", ProblemCode.ODS_CODE_INVALID, "ab1c2"),
        (8, "date_of_birth", ProblemCode.REQUIRED, ""),
        (9, "nhs_number", ProblemCode.NHS_NUMBER_CHECK_FAILED, "9434765918"),
        (10, "nhs_number", ProblemCode.NHS_NUMBER_MALFORMED, "0000000000"),
        (10, None, ProblemCode.NOTHING_CHANGED, None),
    ]
    assert [item.row_number for item in result.warnings] == [7, 9]
    assert {item.severity for item in result.warnings} == {Severity.WARNING}
    # Row 9's only problem is a warning, so it was imported; row 7 also has errors.
    assert 9 not in {row.row_number for row in result.rejected}
    assert [row.row_number for row in result.rejected] == [7, 8, 10]


def test_report_entries_say_what_is_wrong_in_words() -> None:
    result = parse_export(sample("brokerage_export.csv"), format="csv")
    problems = {(item.row_number, item.column): item.problem for item in result.report}

    assert problems[(7, "effective_date")] == "not a real calendar date (day or month out of range)"
    assert problems[(7, "provider_ods")] == "ODS codes are upper case (did you mean 'AB1C2'?)"
    assert problems[(8, "date_of_birth")] == "required for a 'new' row"
    assert "modulus 11 gives 9" in problems[(9, "nhs_number")]


def test_csv_sample_values_are_read_into_the_record() -> None:
    result = parse_export(sample("brokerage_export.csv"), format="csv")
    first, second, change, end, flagged = result.accepted

    assert first.change_type is PackageChangeType.NEW
    assert first.effective_date == date(2025, 4, 1)  # dd/mm/yyyy
    assert second.effective_date == date(2025, 4, 2)  # ISO
    assert first.nhs_number == "9990000018"  # "999 000 0018" normalised
    assert (first.family_name, first.given_name) == ("Hartley", "Margaret")
    assert first.birth_date == date(1938, 3, 14)
    assert first.weekly_hours == Decimal("10.5")
    assert (first.visits_per_day, first.time_critical, first.double_handed) == (4, True, False)
    assert first.provider_ods == "AB1C2"
    assert second.service_type == "Reablement, with medication prompts"  # quoted comma
    assert second.double_handed is True

    # A change row: trailing whitespace trimmed, blanks mean "unchanged".
    assert change.change_type is PackageChangeType.CHANGE
    assert change.weekly_hours == Decimal("12.75")
    assert change.nhs_number == "9434765919"
    assert (change.service_type, change.visits_per_day, change.provider_ods) == (None, None, None)
    assert end.change_type is PackageChangeType.END
    assert end.effective_date == date(2025, 4, 30)

    # A failing check digit is imported and flagged, not dropped.
    assert flagged.nhs_number_check.status is NhsNumberStatus.FAILED_CHECK
    assert (flagged.weekly_hours, flagged.visits_per_day) == (Decimal(168), 0)  # live-in care

    for record in result.accepted:
        assert record.source.file_hash == result.file_hash


def test_rejected_rows_keep_every_cell_exactly_as_given() -> None:
    result = parse_export(sample("brokerage_export.csv"), format="csv")
    row_7 = next(row for row in result.rejected if row.row_number == 7)

    assert dict(row_7.raw) == {
        "Package Reference": "LCC-PKG-20250401-003",
        "Change Type": "new",
        "Effective Date": "31/02/2025",
        "NHS Number": "4123456879",
        "Family Name": "Smith",
        "Given Name": "John",
        "Date of Birth": "01/01/1950",
        "Service Type": "Homecare",
        "Start Date": "01/04/2025",
        "Weekly Hours": "abc",
        "Visits per Day": "30",
        "Time Critical": "maybe",
        "Double Handed": "N",
        "Provider ODS": "ab1c2",
        "Notes": "",
    }
    assert len(row_7.problems) == 6


# -- the JSON sample -----------------------------------------------------------------------


def test_json_sample_maps_numbers_booleans_and_loose_keys() -> None:
    result = parse_export(sample("brokerage_export.json"), format="json")

    assert result.ignored_columns == ("Broker",)
    assert [(record.source.row_number, record.package_reference) for record in result.accepted] == [
        (1, "LCC-PKG-20250402-001"),
        (2, "LCC-PKG-20250301-020"),
        (5, "LCC-PKG-20250301-021"),
    ]
    new, end, change = result.accepted
    assert new.weekly_hours == Decimal("10.5")  # a JSON number
    assert (new.time_critical, new.double_handed) == (True, False)  # JSON booleans
    assert new.birth_date == date(1936, 8, 21)
    assert end.nhs_number == "9990000050"  # a JSON number
    assert end.effective_date == date(2025, 4, 16)
    # "Provider ODS" and "Change Type" keys, value "Change", "RR8 " trimmed.
    assert (change.change_type, change.provider_ods) == (PackageChangeType.CHANGE, "RR8")
    assert change.nhs_number == "9990000069"


def test_json_sample_reports_bad_rows() -> None:
    result = parse_export(sample("brokerage_export.json"), format="json")

    assert report(result) == [
        (3, "visits_per_day", ProblemCode.NOT_A_VALUE, "[1,2]"),
        (3, "nhs_number", ProblemCode.NHS_NUMBER_MALFORMED, "94347659"),
        (3, "weekly_hours", ProblemCode.OUT_OF_RANGE, "-3"),
        (4, None, ProblemCode.NOT_A_ROW, '"LCC-PKG-20250402-003,new,2025-04-02"'),
    ]
    assert [row.row_number for row in result.rejected] == [3, 4]


# -- hashes and re-import ------------------------------------------------------------------


def test_hashes_are_stable_across_reparse_line_endings_and_bom() -> None:
    original = sample("brokerage_export.csv")
    as_lf = original.replace(b"\r\n", b"\n")
    without_bom = original.removeprefix(codecs.BOM_UTF8)

    results = [parse_export(raw, format="csv") for raw in (original, original, as_lf, without_bom)]

    assert b"\r\n" in original
    assert b"\r\n" not in as_lf
    assert len({result.file_hash for result in results}) == 1
    row_hashes = [[record.source.row_hash for record in result.accepted] for result in results]
    assert all(hashes == row_hashes[0] for hashes in row_hashes)
    assert [row.row_hash for row in results[0].rejected] == [
        row.row_hash for row in results[2].rejected
    ]


def test_row_hash_ignores_whitespace_column_order_and_extra_columns() -> None:
    plain = parse_export(csv_bytes(NEW_ROW), format="csv")
    padded = parse_export(csv_bytes(NEW_ROW.replace(",", " , ")), format="csv")
    names = HEADER.split(",")
    cells = NEW_ROW.split(",")
    reordered = ",".join(reversed(names)) + ",comment\n" + ",".join(reversed(cells)) + ",hello\n"
    moved = parse_export(reordered.encode(), format="csv")

    hashes = {result.accepted[0].source.row_hash for result in (plain, padded, moved)}
    assert len(hashes) == 1


def test_changing_one_value_changes_only_that_rows_hash() -> None:
    before = parse_export(csv_bytes(NEW_ROW, END_ROW), format="csv")
    after = parse_export(csv_bytes(NEW_ROW.replace(",10.5,", ",11,"), END_ROW), format="csv")

    assert before.file_hash != after.file_hash
    assert before.accepted[0].source.row_hash != after.accepted[0].source.row_hash
    assert before.accepted[1].source.row_hash == after.accepted[1].source.row_hash


def test_reordering_rows_changes_the_file_hash_but_not_the_row_hashes() -> None:
    forward = parse_export(csv_bytes(NEW_ROW, END_ROW), format="csv")
    backward = parse_export(csv_bytes(END_ROW, NEW_ROW), format="csv")

    assert forward.file_hash != backward.file_hash
    assert {record.source.row_hash for record in forward.accepted} == {
        record.source.row_hash for record in backward.accepted
    }


def test_the_same_content_as_csv_or_json_hashes_the_same() -> None:
    from_csv = parse_export(csv_bytes(NEW_ROW, END_ROW), format="csv")
    names = HEADER.split(",")
    rows: list[dict[str, Any]] = [
        dict(zip(names, row.split(","), strict=True)) for row in (NEW_ROW, END_ROW)
    ]
    rows[0]["weekly_hours"] = 10.5  # JSON numbers hash as the same text in a CSV cell
    rows[0]["visits_per_day"] = 4
    from_json = parse_export(json.dumps(rows).encode(), format="json")

    assert from_json.file_hash == from_csv.file_hash
    assert [r.source.row_hash for r in from_json.accepted] == [
        r.source.row_hash for r in from_csv.accepted
    ]


def test_line_breaks_inside_a_quoted_cell_do_not_change_the_hash() -> None:
    row = NEW_ROW.replace("Homecare", '"Homecare{}including meds"')
    crlf = parse_export(csv_bytes(row.format("\r\n")), format="csv")
    lf = parse_export(csv_bytes(row.format("\n"), newline="\n"), format="csv")

    assert crlf.accepted[0].service_type == "Homecare\nincluding meds"
    assert crlf.accepted[0].source.row_hash == lf.accepted[0].source.row_hash
    assert crlf.file_hash == lf.file_hash


def test_rejected_rows_csv_round_trips_for_correction() -> None:
    bad_row = NEW_ROW.replace(",10.5,", ",ten,")
    first = parse_export(csv_bytes(bad_row, END_ROW), format="csv")
    correction_file = rejected_rows_csv(first)

    lines = list(csv.reader(io.StringIO(correction_file)))
    assert lines[0][0] == "row"
    assert lines[0][-1] == "problems"
    assert lines[1][0] == "2"
    assert (
        lines[1][-1] == "weekly_hours: not a number of hours (e.g. 10 or 10.5, at most 2 decimals)"
    )

    # Sent back uncorrected: the same row hash, so the hub knows it is the same row.
    unchanged = parse_export(correction_file.encode(), format="csv")
    assert unchanged.ignored_columns == ("row", "problems")
    assert unchanged.rejected[0].row_hash == first.rejected[0].row_hash

    # Corrected in place: accepted.
    fixed = parse_export(correction_file.replace(",ten,", ",10,").encode(), format="csv")
    assert [record.package_reference for record in fixed.accepted] == ["PKG-1"]
    assert fixed.report == ()


# -- row rules -----------------------------------------------------------------------------


def test_end_row_needs_only_the_always_required_columns() -> None:
    result = parse_export(
        b"package_reference,change_type,effective_date,nhs_number\nPKG-9,END,1/5/2025,9434765919\n",
        format="csv",
    )

    (record,) = result.accepted
    assert record.change_type is PackageChangeType.END
    assert record.effective_date == date(2025, 5, 1)  # one-digit day and month


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("01/04/25", ProblemCode.INVALID_DATE),  # two-digit year
        ("2025-4-1", ProblemCode.INVALID_DATE),
        ("04/31/2025", ProblemCode.INVALID_DATE),  # US order: month 31
        ("1st April", ProblemCode.INVALID_DATE),
    ],
)
def test_dates_must_be_uk_or_iso(value: str, code: ProblemCode) -> None:
    result = parse_export(csv_bytes(END_ROW.replace("30/04/2025", value)), format="csv")

    assert report(result) == [(2, "effective_date", code, value)]


def test_missing_always_required_values_are_reported_per_column() -> None:
    result = parse_export(csv_bytes(",,,,,,,,,,,,,x"), format="csv")

    assert report(result) == [
        (2, "package_reference", ProblemCode.REQUIRED, ""),
        (2, "change_type", ProblemCode.REQUIRED, ""),
        (2, "effective_date", ProblemCode.REQUIRED, ""),
        (2, "nhs_number", ProblemCode.REQUIRED, ""),
        (2, "provider_ods", ProblemCode.ODS_CODE_INVALID, "x"),
    ]


def test_unknown_change_type_is_reported_once() -> None:
    result = parse_export(csv_bytes(END_ROW.replace(",end,", ",amend,")), format="csv")

    assert report(result) == [(2, "change_type", ProblemCode.INVALID_CODE, "amend")]


def test_birth_date_after_the_effective_date_is_inconsistent() -> None:
    result = parse_export(csv_bytes(NEW_ROW.replace("14/03/1938", "14/03/2026")), format="csv")

    assert report(result) == [(2, "date_of_birth", ProblemCode.INCONSISTENT, "14/03/2026")]


def test_a_second_row_for_the_same_event_is_a_duplicate_of_the_first() -> None:
    result = parse_export(
        csv_bytes(NEW_ROW, END_ROW, END_ROW, NEW_ROW.replace("01/04", "02/04")), format="csv"
    )

    assert report(result) == [
        (4, "package_reference", ProblemCode.DUPLICATE, "PKG-2"),
        (5, "package_reference", ProblemCode.DUPLICATE, "PKG-1"),
    ]
    assert "row 3" in result.report[0].problem
    assert "row 2 already has a 'new' row" in result.report[1].problem
    assert [record.source.row_number for record in result.accepted] == [2, 3]


def test_row_with_cells_out_of_line_is_rejected_whole_with_one_problem() -> None:
    shifted = NEW_ROW.replace("Hartley,Margaret", "Hartley, Mrs,Margaret")  # unquoted comma
    result = parse_export(csv_bytes(shifted), format="csv")

    assert report(result) == [(2, None, ProblemCode.WRONG_CELL_COUNT, None)]
    assert result.rejected[0].raw["(extra cell 1)"] == "AB1C2"
    assert "15 cells but the header has 14" in result.report[0].problem


def test_short_row_is_rejected_but_trailing_empty_cells_are_not() -> None:
    result = parse_export(
        csv_bytes("PKG-2,end,30/04/2025,9912003888", END_ROW + ",,,"), format="csv"
    )

    assert report(result) == [(2, None, ProblemCode.WRONG_CELL_COUNT, None)]
    assert [record.source.row_number for record in result.accepted] == [3]


def test_blank_lines_and_empty_rows_are_skipped_but_counted() -> None:
    raw = HEADER + "\n\n,,,,\n" + END_ROW + "\n\n"
    result = parse_export(raw.encode(), format="csv")

    assert result.row_count == 1
    assert result.accepted[0].source.row_number == 4


def test_header_only_file_imports_nothing_without_error() -> None:
    result = parse_export((HEADER + "\n").encode(), format="csv")

    assert (result.accepted, result.rejected, result.report) == ((), (), ())


# -- files that cannot be read -------------------------------------------------------------


def test_oversize_file_is_refused_before_parsing() -> None:
    with pytest.raises(ExportTooLarge) as caught:
        parse_export(csv_bytes(NEW_ROW), format="csv", max_bytes=100)

    assert caught.value.code == "export_too_large"
    assert caught.value.limit == 100
    assert caught.value.size > 100
    assert "split it" in caught.value.message


def test_default_cap_is_ten_mebibytes() -> None:
    padding = b" " * (10 * 1024 * 1024)
    with pytest.raises(ExportTooLarge):
        parse_export(csv_bytes(NEW_ROW) + padding, format="csv")


def test_windows_1252_export_is_refused_with_the_line_and_the_fix() -> None:
    raw = (HEADER + "\n" + NEW_ROW.replace("Margaret", "Siân") + "\n").encode("cp1252")

    with pytest.raises(ExportEncodingError) as caught:
        parse_export(raw, format="csv")

    message = caught.value.message
    assert "line 2" in message
    assert "0xE2" in message
    assert "'â'" in message
    assert "CSV UTF-8" in message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (codecs.BOM_UTF16_LE + HEADER.encode("utf-16-le"), "UTF-16"),
        (HEADER.encode("utf-16-le"), "NUL"),
        (b"PK\x03\x04\x14\x00\x06\x00", r"Excel workbook \(\.xlsx\)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old-style Excel workbook"),
    ],
)
def test_files_that_are_not_utf8_text_say_what_they_are(raw: bytes, expected: str) -> None:
    for export_format in ("csv", "json"):
        with pytest.raises(ExportEncodingError, match=expected) as caught:
            parse_export(raw, format=export_format)
        assert caught.value.code == "export_encoding"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"package_reference,change_type\nPKG-1,new\n", "no effective_date, nhs_number columns"),
        (HEADER.replace(",", ";").encode(), "seems to use ';'"),
        ((HEADER + ",NHS Number\n").encode(), "names these columns twice: nhs_number"),
        ((HEADER.replace("family_name", "") + "\n").encode(), "column 5 of the header"),
        (
            (HEADER + "\n" + END_ROW + '\nPKG-1,"new,01/04/2025\n' + END_ROW + "\n").encode(),
            "line 3: the CSV cannot be read",
        ),
    ],
)
def test_unreadable_csv_structure_is_refused_clearly(raw: bytes, expected: str) -> None:
    with pytest.raises(ExportStructureError, match=expected) as caught:
        parse_export(raw, format="csv")
    assert caught.value.code == "export_structure"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'[{"package_reference": "PKG-1",}]', "line 1 column 32"),
        (b'{"packages": []}', "a list of row objects"),
        (b'[{"weekly_hours": NaN}]', "NaN is not a valid JSON number"),
    ],
)
def test_unreadable_json_is_refused_clearly(raw: bytes, expected: str) -> None:
    with pytest.raises(ExportStructureError, match=expected):
        parse_export(raw, format="json")


def test_unknown_format_is_a_programming_error() -> None:
    fmt: Any = "xlsx"
    with pytest.raises(ValueError, match="unknown export format"):
        parse_export(csv_bytes(NEW_ROW), format=fmt)
