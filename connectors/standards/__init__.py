"""Checks for the identifiers UK health and care systems exchange: NHS numbers and ODS codes.

Identifiers from outside are validated at the edge and stored as given with their check result
(CONVENTIONS.md habit 12), so these functions never raise on bad input: they return a result the
caller can store, flag or refuse. They depend on nothing but the standard library, so every
connector can use them.
"""

from connectors.standards.nhs_number import (
    NhsNumberCheck,
    NhsNumberProblem,
    NhsNumberStatus,
    check_nhs_number,
    format_nhs_number,
    nhs_number_check_digit,
)
from connectors.standards.ods import OdsCheck, OdsCodeProblem, check_ods_code

__all__ = [
    "NhsNumberCheck",
    "NhsNumberProblem",
    "NhsNumberStatus",
    "OdsCheck",
    "OdsCodeProblem",
    "check_nhs_number",
    "check_ods_code",
    "format_nhs_number",
    "nhs_number_check_digit",
]
