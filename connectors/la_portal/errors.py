"""Why a whole export file was refused (a bad row never refuses the file; it goes in the report).

    ExportError             base; `code` is stable and machine-readable
    ├── ExportTooLarge      over the size cap: refused before any parsing
    ├── ExportEncodingError not UTF-8 text (Windows-1252, UTF-16, a workbook, binary)
    └── ExportStructureError not a CSV/JSON export of the expected shape (no header, required
                            columns missing, broken quoting, JSON that is not a list of rows)

Messages are written for the council officer who produced the export: they say what is wrong
and how to re-export, because they are shown to that person unchanged.
"""

from __future__ import annotations


class ExportError(Exception):
    code: str = "export_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExportTooLarge(ExportError):
    code = "export_too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the export is {size:,} bytes and the limit is {limit:,} bytes; split it into "
            "smaller files (for example by effective date) and import each one"
        )
        self.size = size
        self.limit = limit


class ExportEncodingError(ExportError):
    code = "export_encoding"


class ExportStructureError(ExportError):
    code = "export_structure"
