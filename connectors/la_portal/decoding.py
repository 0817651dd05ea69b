"""Bytes to text for brokerage exports: UTF-8 only, with a clear answer for everything else.

Exports come from spreadsheets and council case-management systems. Excel's plain "CSV" is
Windows-1252, its "Unicode Text" is UTF-16, and people upload the workbook itself. Guessing an
encoding would silently corrupt names (``Siân`` becoming ``SiÃ¢n``) in records about people, so
anything that is not UTF-8 is refused with a message saying what the file seems to be and how to
save it properly. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is accepted and removed.
"""

from __future__ import annotations

import codecs

from connectors.la_portal.errors import ExportEncodingError

_RESAVE = "save the export as 'CSV UTF-8' (or JSON, which is always UTF-8) and import it again"

# Leading bytes that identify a file which is not a text export at all.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "UTF-32 text"),
    (codecs.BOM_UTF32_BE, "UTF-32 text"),
    (codecs.BOM_UTF16_LE, "UTF-16 text (Excel's 'Unicode Text')"),
    (codecs.BOM_UTF16_BE, "UTF-16 text (Excel's 'Unicode Text')"),
    (b"PK\x03\x04", "a zip file, probably an Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel workbook (.xls)"),
    (b"%PDF", "a PDF document"),
)


def decode_export(raw: bytes) -> str:
    """The export as text, without a UTF-8 byte-order mark; ExportEncodingError otherwise."""
    # UTF-32-LE's mark begins with UTF-16-LE's, so the longer marks are tested first.
    for signature, description in _SIGNATURES:
        if raw.startswith(signature):
            raise ExportEncodingError(f"the file is {description}, not a UTF-8 export; {_RESAVE}")
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start
        line = body.count(b"\n", 0, offset) + 1
        byte = body[offset]
        as_windows = bytes([byte]).decode("cp1252", errors="replace")
        raise ExportEncodingError(
            f"the file is not UTF-8: byte 0x{byte:02X} on line {line} is not valid UTF-8 "
            f"(in Windows-1252, Excel's plain 'CSV', it would be {as_windows!r}); {_RESAVE}"
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ExportEncodingError(
            f"the file contains NUL characters (first on line {line}); it is binary, or UTF-16 "
            f"without a byte-order mark; {_RESAVE}"
        )
    return text
