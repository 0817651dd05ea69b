"""ODS (Organisation Data Service) code format check.

ODS codes identify NHS and care organisations: trusts (``RR8``), their sites (``RR801``), GP
practices (``B86044``), care homes and other providers. The real lengths vary by organisation type
and have changed over time, so only the shape every code shares is checked here — upper-case
letters and digits, 3 to 10 characters. Whether an organisation with that code exists, and is
active, is a question for the ODS API, not for a format check.

The code is stored exactly as given: a lower-case code is refused rather than silently
upper-cased, because the upstream system that sent it is wrong and should be told.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ODS_CODE_MIN_LENGTH = 3
ODS_CODE_MAX_LENGTH = 10
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class OdsCodeProblem(StrEnum):
    """Why a value is not a well-formed ODS code; stable codes for reports."""

    EMPTY = "empty"
    WRONG_LENGTH = "wrong_length"
    LOWER_CASE = "lower_case"
    INVALID_CHARACTER = "invalid_character"


@dataclass(frozen=True, slots=True)
class OdsCheck:
    """The outcome of checking one ODS code; `given` is what arrived, unchanged."""

    given: str
    problem: OdsCodeProblem | None
    reason: str

    @property
    def is_valid(self) -> bool:
        return self.problem is None


def check_ods_code(value: str) -> OdsCheck:
    """Check the format of an ODS code as given; never raises on bad input."""
    if value == "":
        return OdsCheck(value, OdsCodeProblem.EMPTY, "no ODS code given")
    if not ODS_CODE_MIN_LENGTH <= len(value) <= ODS_CODE_MAX_LENGTH:
        return OdsCheck(
            value,
            OdsCodeProblem.WRONG_LENGTH,
            f"an ODS code has {ODS_CODE_MIN_LENGTH} to {ODS_CODE_MAX_LENGTH} characters; "
            f"this has {len(value)}",
        )
    bad = sorted({char for char in value if char.upper() not in _ALLOWED})
    if bad:
        shown = ", ".join(repr(char) for char in bad)
        return OdsCheck(
            value,
            OdsCodeProblem.INVALID_CHARACTER,
            f"ODS codes have only letters A-Z and digits; found {shown}",
        )
    if value != value.upper():
        return OdsCheck(
            value,
            OdsCodeProblem.LOWER_CASE,
            f"ODS codes are upper case (did you mean {value.upper()!r}?)",
        )
    return OdsCheck(value, None, "valid")
