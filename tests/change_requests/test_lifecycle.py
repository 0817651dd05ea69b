from __future__ import annotations

import itertools

import pytest

from hub.change_requests.lifecycle import (
    CHANGE_REQUEST_TRANSITIONS,
    EFFECTIVE_STATUSES,
    ChangeNotApproved,
    ChangeRequestKind,
    ChangeRequestStatus,
    IllegalChangeRequestTransition,
    allowed_change_request_targets,
    can_move_change_request,
    check_can_take_effect,
    check_change_request_transition,
)
from hub.errors import Conflict

S = ChangeRequestStatus
K = ChangeRequestKind

LEGAL = {
    (S.PROPOSED, S.ASSESSED),
    (S.ASSESSED, S.APPROVED),
    (S.ASSESSED, S.REJECTED),
    (S.APPROVED, S.IMPLEMENTED),
    (S.IMPLEMENTED, S.REVIEWED),
}
ALL_PAIRS = list(itertools.product(ChangeRequestStatus, ChangeRequestStatus))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def test_the_cross_product_is_split_into_five_legal_and_thirty_one_illegal_moves() -> None:
    assert len(ALL_PAIRS) == 36
    assert len(ILLEGAL) == 31


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_a_legal_move_is_accepted(
    current: ChangeRequestStatus, target: ChangeRequestStatus
) -> None:
    check_change_request_transition(current, target)
    assert can_move_change_request(current, target)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_an_illegal_move_is_refused_with_a_stable_code(
    current: ChangeRequestStatus, target: ChangeRequestStatus
) -> None:
    assert not can_move_change_request(current, target)
    with pytest.raises(IllegalChangeRequestTransition) as refused:
        check_change_request_transition(current, target)
    error = refused.value
    assert isinstance(error, Conflict)
    assert error.code == "ILLEGAL_CHANGE_REQUEST_TRANSITION"
    assert (error.current, error.target, error.allowed) == (
        current,
        target,
        CHANGE_REQUEST_TRANSITIONS[current],
    )
    assert error.message.startswith(f"a change request in status {current} cannot move to {target}")


def test_a_change_is_decided_only_after_assessment() -> None:
    with pytest.raises(IllegalChangeRequestTransition) as refused:
        check_change_request_transition(S.PROPOSED, S.APPROVED)
    assert refused.value.message == (
        "a change request in status proposed cannot move to approved; allowed: assessed "
        "(a change is decided only after its impact is assessed)"
    )


def test_an_unapproved_change_cannot_be_implemented() -> None:
    with pytest.raises(IllegalChangeRequestTransition) as refused:
        check_change_request_transition(S.ASSESSED, S.IMPLEMENTED)
    assert refused.value.message == (
        "a change request in status assessed cannot move to implemented; "
        "allowed: approved, rejected"
    )


@pytest.mark.parametrize("final", [S.REJECTED, S.REVIEWED])
def test_rejected_and_reviewed_are_final(final: ChangeRequestStatus) -> None:
    assert allowed_change_request_targets(final) == ()
    with pytest.raises(IllegalChangeRequestTransition) as refused:
        check_change_request_transition(final, S.PROPOSED)
    assert refused.value.message == (
        f"a change request in status {final} cannot move to proposed; {final} is final"
    )


def test_staying_in_the_same_status_is_refused_and_says_so() -> None:
    with pytest.raises(IllegalChangeRequestTransition) as refused:
        check_change_request_transition(S.APPROVED, S.APPROVED)
    assert refused.value.message == (
        "a change request in status approved cannot move to approved (it is already approved); "
        "allowed: implemented"
    )


def test_the_published_map_is_exactly_the_legal_moves_and_read_only() -> None:
    published = {(c, t) for c, targets in CHANGE_REQUEST_TRANSITIONS.items() for t in targets}
    assert published == LEGAL
    assert set(CHANGE_REQUEST_TRANSITIONS) == set(ChangeRequestStatus)
    with pytest.raises(TypeError):
        CHANGE_REQUEST_TRANSITIONS[S.REVIEWED] = (S.PROPOSED,)  # type: ignore[index]


TAKE_EFFECT = list(itertools.product(ChangeRequestKind, ChangeRequestStatus))
APPROVED_OR_LATER = {S.APPROVED, S.IMPLEMENTED, S.REVIEWED}


@pytest.mark.parametrize(
    ("kind", "status"), [(k, s) for k, s in TAKE_EFFECT if s in APPROVED_OR_LATER]
)
def test_an_approved_change_may_take_effect(
    kind: ChangeRequestKind, status: ChangeRequestStatus
) -> None:
    check_can_take_effect(kind, status)  # passes without a refusal


@pytest.mark.parametrize(
    ("kind", "status"), [(k, s) for k, s in TAKE_EFFECT if s not in APPROVED_OR_LATER]
)
def test_an_unapproved_change_of_any_kind_cannot_take_effect(
    kind: ChangeRequestKind, status: ChangeRequestStatus
) -> None:
    with pytest.raises(ChangeNotApproved) as refused:
        check_can_take_effect(kind, status)
    assert isinstance(refused.value, Conflict)
    assert refused.value.code == "CHANGE_NOT_APPROVED"
    assert (refused.value.kind, refused.value.status) == (kind, status)


def test_the_effective_statuses_are_approved_and_after() -> None:
    assert EFFECTIVE_STATUSES == APPROVED_OR_LATER


def test_a_variation_cannot_take_effect_unapproved() -> None:
    with pytest.raises(ChangeNotApproved) as refused:
        check_can_take_effect(K.CONTRACT_VARIATION, S.ASSESSED)
    assert refused.value.message == (
        "a contract variation cannot take effect while assessed; it must be approved first"
    )


def test_a_rejected_supplier_update_says_it_was_rejected() -> None:
    with pytest.raises(ChangeNotApproved) as refused:
        check_can_take_effect(K.SUPPLIER_SOFTWARE_UPDATE, S.REJECTED)
    assert (
        refused.value.message == "a supplier software update that was rejected cannot take effect"
    )


def test_a_proposed_commissioner_amendment_is_refused_by_name() -> None:
    with pytest.raises(ChangeNotApproved) as refused:
        check_can_take_effect(K.COMMISSIONER_AMENDMENT, S.PROPOSED)
    assert refused.value.message == (
        "a commissioner amendment cannot take effect while proposed; it must be approved first"
    )
