"""NHS number and ODS code checks (connectors.standards)."""

from __future__ import annotations

import pytest

from connectors.standards import (
    NhsNumberProblem,
    NhsNumberStatus,
    OdsCodeProblem,
    check_nhs_number,
    check_ods_code,
    format_nhs_number,
    nhs_number_check_digit,
)


@pytest.mark.parametrize("number", ["9434765919", "9912003888", "9990000018", "9990000026"])
def test_valid_nhs_numbers_pass_modulus_11(number: str) -> None:
    check = check_nhs_number(number)

    assert check.status is NhsNumberStatus.VALID
    assert check.is_valid
    assert check.normalised == number
    assert check.problem is None


@pytest.mark.parametrize(
    "given",
    ["943 476 5919", "943-476-5919", " 9434765919 ", "943 476-5919", "9 4 3 4 7 6 5 9 1 9"],
)
def test_spaces_and_hyphens_are_normalised(given: str) -> None:
    check = check_nhs_number(given)

    assert check.status is NhsNumberStatus.VALID
    assert check.normalised == "9434765919"
    assert check.given == given  # what arrived is kept for the report


@pytest.mark.parametrize(
    ("number", "expected_digit"),
    [("4123456879", 1), ("9912003814", 0), ("9434765918", 9)],
)
def test_wrong_check_digit_is_a_failed_check_that_keeps_the_number(
    number: str, expected_digit: int
) -> None:
    check = check_nhs_number(number)

    assert check.status is NhsNumberStatus.FAILED_CHECK
    assert check.problem is NhsNumberProblem.CHECK_DIGIT_MISMATCH
    # Kept, so an importer can store the record and flag it for verification.
    assert check.normalised == number
    assert f"modulus 11 gives {expected_digit}" in check.reason


def test_nine_digits_whose_check_would_be_ten_can_never_be_valid() -> None:
    # 9*10 + 4*9 + 3*8 + 4*7 + 7*6 + 6*5 + 5*4 + 0*3 + 3*2 = 276; 276 mod 11 = 1; 11 - 1 = 10.
    assert nhs_number_check_digit("943476503") is None

    for last in "0123456789":
        check = check_nhs_number("943476503" + last)
        assert check.status is NhsNumberStatus.FAILED_CHECK
        assert check.problem is NhsNumberProblem.CHECK_DIGIT_IMPOSSIBLE


def test_check_digit_eleven_becomes_zero() -> None:
    # The first nine digits of 9912003814 sum (weighted) to a multiple of 11: 11 - 0 = 11 -> 0.
    assert nhs_number_check_digit("991200381") == 0
    assert check_nhs_number("9912003810").is_valid


@pytest.mark.parametrize("digit", "0123456789")
def test_all_same_digit_numbers_are_refused_though_they_pass_modulus_11(digit: str) -> None:
    number = digit * 10
    # The arithmetic alone would accept every one of them.
    assert nhs_number_check_digit(number[:9]) == int(digit)

    check = check_nhs_number(number)

    assert check.status is NhsNumberStatus.MALFORMED
    assert check.problem is NhsNumberProblem.REPEATED_DIGIT
    assert check.normalised is None


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", NhsNumberProblem.EMPTY),
        ("   ", NhsNumberProblem.EMPTY),
        ("943476591", NhsNumberProblem.WRONG_LENGTH),
        ("94347659190", NhsNumberProblem.WRONG_LENGTH),
        ("943476591X", NhsNumberProblem.NOT_DIGITS),
        ("943.476.5919", NhsNumberProblem.NOT_DIGITS),
        # Full-width digits: str.isdigit() accepts them, an NHS number must not.
        (
            "\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19",
            NhsNumberProblem.NOT_DIGITS,
        ),
    ],
)
def test_malformed_numbers_say_why(given: str, problem: NhsNumberProblem) -> None:
    check = check_nhs_number(given)

    assert check.status is NhsNumberStatus.MALFORMED
    assert check.problem is problem
    assert check.normalised is None
    assert check.reason


def test_numbers_starting_999_are_flagged_as_test_numbers() -> None:
    assert check_nhs_number("999 000 0018").is_test_number
    assert not check_nhs_number("9434765919").is_test_number
    # A failing number in the test range is still recognisably test data.
    assert check_nhs_number("9990000019").is_test_number


def test_format_nhs_number_uses_3_3_4_grouping() -> None:
    assert format_nhs_number("9434765919") == "943 476 5919"
    with pytest.raises(ValueError, match="ten digits"):
        format_nhs_number("943476591")


def test_check_digit_helper_refuses_anything_but_nine_digits() -> None:
    with pytest.raises(ValueError, match="nine digits"):
        nhs_number_check_digit("94347659")


@pytest.mark.parametrize("code", ["RR8", "RR801", "B86044", "AB1C2", "Y0123", "ABCDEFGH12"])
def test_well_formed_ods_codes(code: str) -> None:
    check = check_ods_code(code)

    assert check.is_valid
    assert check.given == code


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", OdsCodeProblem.EMPTY),
        ("R8", OdsCodeProblem.WRONG_LENGTH),
        ("ABCDEFGHIJK", OdsCodeProblem.WRONG_LENGTH),
        ("rr8", OdsCodeProblem.LOWER_CASE),
        ("RR-8", OdsCodeProblem.INVALID_CHARACTER),
        (" RR8", OdsCodeProblem.INVALID_CHARACTER),
    ],
)
def test_malformed_ods_codes_are_refused_not_repaired(given: str, problem: OdsCodeProblem) -> None:
    check = check_ods_code(given)

    assert not check.is_valid
    assert check.problem is problem
    assert check.given == given  # stored as given, never upper-cased or trimmed


def test_lower_case_ods_code_suggests_the_upper_case_one() -> None:
    assert "'RR801'" in check_ods_code("rr801").reason
