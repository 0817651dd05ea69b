"""The columns of a brokerage export and how each value is read.

This is the contract with councils (README.md repeats it as a table). Column names are matched
after trimming, lower-casing and turning spaces and hyphens into underscores, so
``Package Reference`` and ``package-reference`` both mean ``package_reference``. Columns not
listed here are ignored (and named in the result), so an export with extra columns — or a
corrected file with our ``problems`` column still in it — imports without editing.

Each reader takes the trimmed cell text and returns the value, or raises `ValueProblem` with the
problem in words a council officer can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from connectors.records.portal import PackageChangeType


class ProblemCode(StrEnum):
    """Stable codes for report entries, for filtering and for data-quality exceptions."""

    REQUIRED = "required"
    INVALID_DATE = "invalid_date"
    INVALID_NUMBER = "invalid_number"
    OUT_OF_RANGE = "out_of_range"
    INVALID_CODE = "invalid_code"
    INVALID_FORMAT = "invalid_format"
    TOO_LONG = "too_long"
    NHS_NUMBER_MALFORMED = "nhs_number_malformed"
    NHS_NUMBER_CHECK_FAILED = "nhs_number_check_failed"
    ODS_CODE_INVALID = "ods_code_invalid"
    INCONSISTENT = "inconsistent"
    NOTHING_CHANGED = "nothing_changed"
    DUPLICATE = "duplicate"
    WRONG_CELL_COUNT = "wrong_cell_count"
    NOT_A_VALUE = "not_a_value"
    NOT_A_ROW = "not_a_row"


class ValueProblem(ValueError):
    def __init__(self, code: ProblemCode, problem: str) -> None:
        super().__init__(problem)
        self.code = code
        self.problem = problem


ALL_CHANGES = frozenset(PackageChangeType)
NEW_ONLY = frozenset({PackageChangeType.NEW})


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    required_for: frozenset[PackageChangeType]
    meaning: str


COLUMNS: tuple[Column, ...] = (
    Column("package_reference", ALL_CHANGES, "the council's reference for the package"),
    Column("change_type", ALL_CHANGES, "new, change or end"),
    Column(
        "effective_date",
        ALL_CHANGES,
        "date the new package starts, the change applies from, or the last day of an ended one",
    ),
    Column("nhs_number", ALL_CHANGES, "the person's NHS number (spaces or hyphens allowed)"),
    Column("family_name", NEW_ONLY, "the person's family name"),
    Column("given_name", NEW_ONLY, "the person's given name(s)"),
    Column("date_of_birth", NEW_ONLY, "the person's date of birth"),
    Column("service_type", NEW_ONLY, "e.g. homecare, reablement, live-in care"),
    Column("start_date", NEW_ONLY, "first day of care"),
    Column("weekly_hours", NEW_ONLY, "commissioned hours per week, up to 2 decimal places"),
    Column("visits_per_day", NEW_ONLY, "planned visits per day (0 for live-in care)"),
    Column("time_critical", NEW_ONLY, "Y/N: visits must happen at set times (e.g. medication)"),
    Column("double_handed", NEW_ONLY, "Y/N: two carers needed at each visit"),
    Column("provider_ods", NEW_ONLY, "ODS code of the commissioned provider"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
# Without these no row can be read, so a CSV header lacking one refuses the whole file.
ALWAYS_REQUIRED: tuple[str, ...] = tuple(
    column.name for column in COLUMNS if column.required_for == ALL_CHANGES
)
# The values a "change" row can change; at least one must be given.
CHANGEABLE: tuple[str, ...] = (
    "service_type",
    "start_date",
    "weekly_hours",
    "visits_per_day",
    "time_critical",
    "double_handed",
    "provider_ods",
)

MAX_REFERENCE_LENGTH = 64
MAX_TEXT_LENGTH = 100
MAX_WEEKLY_HOURS = Decimal(168)
MAX_VISITS_PER_DAY = 24
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

_SEPARATORS = re.compile(r"[\s\-]+")
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.\-]*")
_UK_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2,4})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_HOURS = re.compile(r"\d+(\.\d{1,2})?")
_TRUE = frozenset({"y", "yes", "true", "1"})
_FALSE = frozenset({"n", "no", "false", "0"})


def column_key(header: str) -> str:
    """The canonical name a header cell matches: trimmed, lower case, separators to '_'."""
    return _SEPARATORS.sub("_", header.strip().lower()).strip("_")


def read_reference(text: str) -> str:
    if len(text) > MAX_REFERENCE_LENGTH:
        raise ValueProblem(ProblemCode.TOO_LONG, f"longer than {MAX_REFERENCE_LENGTH} characters")
    if not _REFERENCE.fullmatch(text):
        raise ValueProblem(
            ProblemCode.INVALID_FORMAT,
            "use letters, digits and / _ . - only, starting with a letter or digit",
        )
    return text


def read_change_type(text: str) -> PackageChangeType:
    try:
        return PackageChangeType(text.lower())
    except ValueError:
        raise ValueProblem(ProblemCode.INVALID_CODE, "must be one of: new, change, end") from None


def read_date(text: str) -> date:
    """A UK date (dd/mm/yyyy, day and month may be one digit) or an ISO date (yyyy-mm-dd).

    Two-digit years are refused: for a date of birth ``01/02/30`` could be 1930 or 2030.
    """
    uk = _UK_DATE.fullmatch(text)
    iso = _ISO_DATE.fullmatch(text)
    if uk is not None:
        day, month, year = uk.groups()
        if len(year) != 4:
            raise ValueProblem(ProblemCode.INVALID_DATE, "use a four-digit year (dd/mm/yyyy)")
    elif iso is not None:
        year, month, day = iso.groups()
    else:
        raise ValueProblem(ProblemCode.INVALID_DATE, "not a date: use dd/mm/yyyy or yyyy-mm-dd")
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueProblem(
            ProblemCode.INVALID_DATE, "not a real calendar date (day or month out of range)"
        ) from None


def read_text(text: str) -> str:
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueProblem(ProblemCode.TOO_LONG, f"longer than {MAX_TEXT_LENGTH} characters")
    return text


def read_weekly_hours(text: str) -> Decimal:
    if text.startswith("-") and _HOURS.fullmatch(text[1:]):
        raise ValueProblem(
            ProblemCode.OUT_OF_RANGE, f"must be more than 0 and at most {MAX_WEEKLY_HOURS}"
        )
    if not _HOURS.fullmatch(text):
        raise ValueProblem(
            ProblemCode.INVALID_NUMBER,
            "not a number of hours (e.g. 10 or 10.5, at most 2 decimals)",
        )
    hours = Decimal(text)  # the pattern admits only plain decimals, which always convert
    if not Decimal(0) < hours <= MAX_WEEKLY_HOURS:
        raise ValueProblem(
            ProblemCode.OUT_OF_RANGE, f"must be more than 0 and at most {MAX_WEEKLY_HOURS}"
        )
    return hours


def read_visits_per_day(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueProblem(ProblemCode.INVALID_NUMBER, "not a whole number")
    visits = int(text)
    if visits > MAX_VISITS_PER_DAY:
        raise ValueProblem(ProblemCode.OUT_OF_RANGE, f"must be 0 to {MAX_VISITS_PER_DAY}")
    return visits


def read_flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueProblem(ProblemCode.INVALID_CODE, "use Y or N")
