"""NHS number checks: shape, the modulus-11 check digit, and the placeholders systems type in.

An NHS number is ten digits; the tenth is a check digit over the first nine (weights 10..2;
check = 11 - (sum mod 11); 11 becomes 0; 10 means no valid number has those nine digits).
Systems print it as ``943 476 5919`` and people type it with spaces or hyphens, so both are
removed before checking.

The result has three outcomes because importers must treat them differently:

- ``VALID`` — ten digits, check digit right.
- ``FAILED_CHECK`` — ten digits, check digit wrong. A transcription error is likely, but
  published sample data (the UK Core IG's own example patients) fails the check too, so a record
  carrying one is kept and flagged for someone to verify, never dropped.
- ``MALFORMED`` — not an NHS number at all: empty, wrong length, letters, or ten copies of one
  digit. Every all-same-digit string *passes* modulus 11 (the weights sum to 54, which is
  -1 mod 11, so the check digit always equals the repeated digit), which is why ``0000000000``
  and ``9999999999`` are the usual "no number known" placeholders and are refused explicitly.

Numbers starting ``999`` are NHS test numbers (the 999 000 0000 to 999 999 9999 range is never
issued to patients). They are valid; `NhsNumberCheck.is_test_number` lets a production hub spot
test data that has leaked into a live feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NHS_NUMBER_LENGTH = 10
TEST_RANGE_PREFIX = "999"
_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
# Separators people and systems put inside NHS numbers; anything else is a malformed number.
_SEPARATORS = str.maketrans("", "", " -")


class NhsNumberStatus(StrEnum):
    """What an importer may do with the number: keep (`VALID`), keep and flag (`FAILED_CHECK`),
    or refuse it as an identifier (`MALFORMED`)."""

    VALID = "valid"
    FAILED_CHECK = "failed_check"
    MALFORMED = "malformed"


class NhsNumberProblem(StrEnum):
    """Why a number is not valid; stable codes for reports and data-quality exceptions."""

    EMPTY = "empty"
    NOT_DIGITS = "not_digits"
    WRONG_LENGTH = "wrong_length"
    REPEATED_DIGIT = "repeated_digit"
    CHECK_DIGIT_IMPOSSIBLE = "check_digit_impossible"
    CHECK_DIGIT_MISMATCH = "check_digit_mismatch"


@dataclass(frozen=True, slots=True)
class NhsNumberCheck:
    """The outcome of checking one NHS number, stored beside the number itself.

    `given` is exactly what arrived, so a report can show it. `normalised` holds the ten digits
    once separators are removed, whenever the shape is right (also for `FAILED_CHECK`, so a
    flagged record still carries a comparable number); it is None for `MALFORMED`.
    """

    given: str
    normalised: str | None
    status: NhsNumberStatus
    problem: NhsNumberProblem | None
    reason: str
    is_test_number: bool

    @property
    def is_valid(self) -> bool:
        return self.status is NhsNumberStatus.VALID


def nhs_number_check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when the sum gives 10 (no valid number exists).

    Raises ValueError if `first_nine` is not nine ASCII digits: that is a programming error, not
    bad upstream data (use `check_nhs_number` for data).
    """
    if len(first_nine) != len(_WEIGHTS) or not _is_ascii_digits(first_nine):
        raise ValueError("nhs_number_check_digit needs exactly nine digits")
    total = sum(weight * int(digit) for weight, digit in zip(_WEIGHTS, first_nine, strict=True))
    check = 11 - (total % 11)
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def check_nhs_number(value: str) -> NhsNumberCheck:
    """Check an NHS number as received; never raises on bad input.

    Surrounding whitespace and inner spaces or hyphens are ignored (``943 476 5919`` and
    ``943-476-5919`` both normalise to ``9434765919``).
    """
    candidate = value.strip().translate(_SEPARATORS)
    if not candidate:
        return _malformed(value, NhsNumberProblem.EMPTY, "no NHS number given")
    if not _is_ascii_digits(candidate):
        return _malformed(
            value,
            NhsNumberProblem.NOT_DIGITS,
            "an NHS number has only digits (spaces and hyphens are allowed between them)",
        )
    if len(candidate) != NHS_NUMBER_LENGTH:
        return _malformed(
            value,
            NhsNumberProblem.WRONG_LENGTH,
            f"an NHS number has {NHS_NUMBER_LENGTH} digits; this has {len(candidate)}",
        )
    if len(set(candidate)) == 1:
        return _malformed(
            value,
            NhsNumberProblem.REPEATED_DIGIT,
            "ten copies of one digit is a placeholder, not an NHS number",
        )
    is_test = candidate.startswith(TEST_RANGE_PREFIX)
    expected = nhs_number_check_digit(candidate[:9])
    if expected is None:
        return NhsNumberCheck(
            given=value,
            normalised=candidate,
            status=NhsNumberStatus.FAILED_CHECK,
            problem=NhsNumberProblem.CHECK_DIGIT_IMPOSSIBLE,
            reason="no valid NHS number starts with these nine digits (modulus 11 gives 10)",
            is_test_number=is_test,
        )
    if expected != int(candidate[9]):
        return NhsNumberCheck(
            given=value,
            normalised=candidate,
            status=NhsNumberStatus.FAILED_CHECK,
            problem=NhsNumberProblem.CHECK_DIGIT_MISMATCH,
            reason=f"check digit is {candidate[9]} but modulus 11 gives {expected}",
            is_test_number=is_test,
        )
    return NhsNumberCheck(
        given=value,
        normalised=candidate,
        status=NhsNumberStatus.VALID,
        problem=None,
        reason="valid",
        is_test_number=is_test,
    )


def format_nhs_number(digits: str) -> str:
    """Ten digits in the 3-3-4 grouping NHS systems display (``943 476 5919``)."""
    if len(digits) != NHS_NUMBER_LENGTH or not _is_ascii_digits(digits):
        raise ValueError("format_nhs_number needs exactly ten digits")
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _malformed(value: str, problem: NhsNumberProblem, reason: str) -> NhsNumberCheck:
    return NhsNumberCheck(
        given=value,
        normalised=None,
        status=NhsNumberStatus.MALFORMED,
        problem=problem,
        reason=reason,
        is_test_number=False,
    )


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() accepts other scripts' digits and superscripts ('²'); NHS numbers are ASCII.
    return text.isascii() and text.isdigit()
