"""Referral errors.

ReferralNotFound(NotFound)              no such referral, or not visible to the caller
ReferralPartyNotFound(NotFound)         a provider, contract, person or package named in the
                                        request does not exist or is not visible
IllegalReferralTransition(Conflict)     the requested move is not in the status machine
ReferralClosed(Conflict)                the referral is in a final status and cannot change
ReferralDatasetIncomplete(Conflict)     acceptance asked for while required fields are missing
PackageDoesNotMatchReferral(Conflict)   the package is for another person, provider or contract
DuplicateSourceIdentifier(Conflict)     the sender's identifier already names another sender's
                                        referral
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.errors import Conflict, NotFound
from hub.referrals.models import ReferralStatus


class ReferralNotFound(NotFound):
    """No referral with this id, or one the caller may not see (the same answer)."""

    code = "REFERRAL_NOT_FOUND"


class ReferralPartyNotFound(NotFound):
    """Something the referral points at is missing or invisible; the message names the id."""

    code = "REFERRAL_PARTY_NOT_FOUND"


class IllegalReferralTransition(Conflict):
    """A referral was asked to move along an arrow its status machine does not have.

    Carries `current`, `target` and `allowed` so a client can offer the legal next steps.
    """

    code = "ILLEGAL_REFERRAL_TRANSITION"

    def __init__(
        self,
        current: ReferralStatus,
        target: ReferralStatus,
        allowed: Sequence[ReferralStatus],
        *,
        hint: str | None = None,
    ) -> None:
        self.current = current
        self.target = target
        self.allowed = tuple(allowed)
        head = f"a referral in status {current} cannot move to {target}"
        if current is target:
            head += f" (it is already {current})"
        if not self.allowed:
            message = f"{head}; {current} is final"
        else:
            message = f"{head}; allowed: {', '.join(self.allowed)}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class ReferralClosed(Conflict):
    """A referral in a final status (excluded, converted, withdrawn) keeps what it held."""

    code = "REFERRAL_CLOSED"


class ReferralDatasetIncomplete(Conflict):
    """A referral cannot be accepted while its minimum dataset lacks required fields: the
    pathway pack (seed 002) makes the minimum dataset a condition of acceptance. Exclusion and
    withdrawal remain possible."""

    code = "REFERRAL_DATASET_INCOMPLETE"

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(
            "a referral is accepted only with its minimum dataset complete; missing: "
            + ", ".join(self.missing)
        )


class PackageDoesNotMatchReferral(Conflict):
    """The package a referral is linked to must be for the same person, from the same provider
    (and on the same contract, when the referral names one)."""

    code = "PACKAGE_DOES_NOT_MATCH_REFERRAL"


class DuplicateSourceIdentifier(Conflict):
    """The sender's (source system, identifier) pair already identifies a referral the caller
    cannot see. Identifiers are meant to be unique per sending system; two senders sharing one
    system name must use distinct identifiers."""

    code = "DUPLICATE_SOURCE_IDENTIFIER"
