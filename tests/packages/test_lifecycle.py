from __future__ import annotations

import itertools

import pytest

from hub.errors import Conflict
from hub.packages.lifecycle import (
    PACKAGE_TRANSITIONS,
    IllegalPackageTransition,
    PackageStatus,
    allowed_package_targets,
    can_move_package,
    check_package_transition,
)

S = PackageStatus

LEGAL = {
    (S.REFERRED, S.ACCEPTED),
    (S.REFERRED, S.ENDED),
    (S.ACCEPTED, S.PLANNED),
    (S.ACCEPTED, S.ENDED),
    (S.PLANNED, S.LIVE),
    (S.PLANNED, S.ENDED),
    (S.LIVE, S.SUSPENDED),
    (S.LIVE, S.ENDED),
    (S.SUSPENDED, S.LIVE),
    (S.SUSPENDED, S.ENDED),
}
ALL_PAIRS = list(itertools.product(PackageStatus, PackageStatus))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def test_the_cross_product_is_split_into_ten_legal_and_twenty_six_illegal_moves() -> None:
    assert len(ALL_PAIRS) == 36
    assert len(LEGAL) == 10
    assert len(ILLEGAL) == 26


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_a_legal_move_is_accepted(current: PackageStatus, target: PackageStatus) -> None:
    check_package_transition(current, target)
    assert can_move_package(current, target)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_an_illegal_move_is_refused_with_a_stable_code_and_the_allowed_moves(
    current: PackageStatus, target: PackageStatus
) -> None:
    assert not can_move_package(current, target)
    with pytest.raises(IllegalPackageTransition) as refused:
        check_package_transition(current, target)
    error = refused.value
    assert isinstance(error, Conflict)
    assert error.code == "ILLEGAL_PACKAGE_TRANSITION"
    assert (error.current, error.target) == (current, target)
    assert error.allowed == PACKAGE_TRANSITIONS[current]
    assert error.message.startswith(f"a package in status {current} cannot move to {target}")


def test_the_message_names_the_allowed_moves_in_lifecycle_order() -> None:
    with pytest.raises(IllegalPackageTransition) as refused:
        check_package_transition(S.PLANNED, S.SUSPENDED)
    assert str(refused.value) == (
        "a package in status planned cannot move to suspended; allowed: live, ended"
    )


def test_going_live_without_a_plan_is_refused() -> None:
    with pytest.raises(IllegalPackageTransition) as refused:
        check_package_transition(S.ACCEPTED, S.LIVE)
    assert refused.value.message == (
        "a package in status accepted cannot move to live; allowed: planned, ended"
    )


def test_an_ended_package_is_final() -> None:
    with pytest.raises(IllegalPackageTransition) as refused:
        check_package_transition(S.ENDED, S.LIVE)
    assert refused.value.message == "a package in status ended cannot move to live; ended is final"
    assert refused.value.allowed == ()


def test_staying_in_the_same_status_is_refused_and_says_so() -> None:
    with pytest.raises(IllegalPackageTransition) as refused:
        check_package_transition(S.LIVE, S.LIVE)
    assert refused.value.message == (
        "a package in status live cannot move to live (it is already live); "
        "allowed: suspended, ended"
    )


def test_the_published_map_is_exactly_the_legal_moves_and_read_only() -> None:
    published = {
        (current, target) for current, targets in PACKAGE_TRANSITIONS.items() for target in targets
    }
    assert published == LEGAL
    assert set(PACKAGE_TRANSITIONS) == set(PackageStatus)
    assert allowed_package_targets(S.SUSPENDED) == (S.LIVE, S.ENDED)
    with pytest.raises(TypeError):
        PACKAGE_TRANSITIONS[S.ENDED] = (S.LIVE,)  # type: ignore[index]


def test_every_status_can_end_except_ended_itself() -> None:
    assert [s for s in PackageStatus if can_move_package(s, S.ENDED)] == [
        S.REFERRED,
        S.ACCEPTED,
        S.PLANNED,
        S.LIVE,
        S.SUSPENDED,
    ]


def test_status_values_are_the_stored_strings() -> None:
    assert [str(s) for s in PackageStatus] == [
        "referred",
        "accepted",
        "planned",
        "live",
        "suspended",
        "ended",
    ]
