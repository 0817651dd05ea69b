"""Local-authority portal connector: brokerage exports (CSV or JSON) of commissioned packages.

`parse_export` maps each valid row to a canonical `CommissionedPackageChange` and lists every
problem in a row-level report, keeping invalid rows whole for correction; content hashes per
row and per file let the hub recognise a re-import and change nothing. README.md beside this
file is the column contract councils export to.
"""

from connectors.la_portal.columns import COLUMN_NAMES, COLUMNS, Column, ProblemCode
from connectors.la_portal.errors import (
    ExportEncodingError,
    ExportError,
    ExportStructureError,
    ExportTooLarge,
)
from connectors.la_portal.export import (
    DEFAULT_MAX_BYTES,
    ExportFormat,
    ImportResult,
    RejectedRow,
    RowProblem,
    Severity,
    parse_export,
    rejected_rows_csv,
)

__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "DEFAULT_MAX_BYTES",
    "Column",
    "ExportEncodingError",
    "ExportError",
    "ExportFormat",
    "ExportStructureError",
    "ExportTooLarge",
    "ImportResult",
    "ProblemCode",
    "RejectedRow",
    "RowProblem",
    "Severity",
    "parse_export",
    "rejected_rows_csv",
]
